import Foundation

/// `groupcache-bench --median DIR...`: the median of several runs' results.json, row by row, and the targets
/// checked against those medians. Runs of one build on this machine differ by 10-30%, so the issue's targets
/// are judged on the median of three.
enum Median {
    private struct Document: Decodable {
        var settings: [String: String]
        var rows: [Row]
    }

    static func run(_ folders: [String]) throws -> Bool {
        let documents = try folders.map { folder in
            let url = URL(fileURLWithPath: folder).appendingPathComponent("results.json")
            return try JSONDecoder().decode(Document.self, from: Data(contentsOf: url))
        }
        guard !documents.isEmpty else { throw UsageError(message: "--median needs the output folders of runs") }
        let placements = Set(documents.map { $0.settings["placement"] ?? "cross" })
        guard placements.count == 1, let placement = Placement(rawValue: placements.first!) else {
            throw UsageError(message: "the runs have different placements: \(placements.sorted())")
        }
        let report = Report()
        print("median of \(documents.count) runs (\(folders.joined(separator: ", "))), placement \(placement.rawValue)")
        print(Report.header)
        // Rows in the first run's order; a row missing from some runs takes the median of those that have it.
        for first in documents[0].rows {
            let same = documents.compactMap { document in
                document.rows.first {
                    $0.section == first.section && $0.system == first.system && $0.callers == first.callers
                        && ($0.valueBytes == first.valueBytes || $0.section == "connections")
                }
            }
            var row = first
            row.requests = median(same.map(\.requests).compactMap { $0 }.map(Double.init)).map { Int($0) }
            row.p50Microseconds = median(same.compactMap(\.p50Microseconds))
            row.p99Microseconds = median(same.compactMap(\.p99Microseconds))
            row.p999Microseconds = median(same.compactMap(\.p999Microseconds))
            row.maxMicroseconds = median(same.compactMap(\.maxMicroseconds))
            row.requestsPerSecond = median(same.compactMap(\.requestsPerSecond))
            row.nanosecondsPerOperation = median(same.compactMap(\.nanosecondsPerOperation))
            row.p50OverFloor = nil
            row.throughputOverFloor = nil
            row.notes["runs"] = "\(same.count)"
            if row.section == "herd" {
                // A herd that loaded more than once in any run is a failure, whatever the median says.
                row.notes["loads"] = same.compactMap { $0.notes["loads"].flatMap(Int.init) }.max().map(String.init)
            }
            report.add(row)
        }
        var herdLoads: [Int: Int] = [:]
        for row in report.rows where row.section == "herd" {
            if let callers = row.callers, let loads = row.notes["loads"].flatMap(Int.init) { herdLoads[callers] = loads }
        }
        report.targets = Targets.check(report, herdLoads: herdLoads, placement: placement)
        report.printSummary()
        return herdLoads.values.allSatisfy { $0 == 1 }
    }

    /// The middle value, or the mean of the two middle ones; `nil` for none.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count.isMultiple(of: 2) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle]
    }
}
