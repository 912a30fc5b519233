import Foundation

/// One line of results.
struct Row: Codable {
    var section: String
    var system: String
    var valueBytes: Int?
    var callers: Int?
    var requests: Int?
    var p50Microseconds: Double?
    var p99Microseconds: Double?
    var p999Microseconds: Double?
    var maxMicroseconds: Double?
    var requestsPerSecond: Double?
    var nanosecondsPerOperation: Double?
    /// p50 over the floor's p50 for the same value size and callers.
    var p50OverFloor: Double?
    /// Requests per second over the floor's, same value size and callers.
    var throughputOverFloor: Double?
    var notes: [String: String] = [:]
    /// Percentile curve (percentile, microseconds), for the plot; not written to JSON.
    var curve: [[Double]]?

    enum CodingKeys: String, CodingKey {
        case section, system, valueBytes, callers, requests, p50Microseconds, p99Microseconds, p999Microseconds,
            maxMicroseconds, requestsPerSecond, nanosecondsPerOperation, p50OverFloor, throughputOverFloor, notes
    }

    init(section: String, system: String, valueBytes: Int? = nil, callers: Int? = nil, sample: Sample? = nil) {
        self.section = section
        self.system = system
        self.valueBytes = valueBytes
        self.callers = callers
        if let sample {
            let latencies = sample.latencies
            requests = latencies.count
            p50Microseconds = latencies.microseconds(at: 50)
            p99Microseconds = latencies.microseconds(at: 99)
            p999Microseconds = latencies.microseconds(at: 99.9)
            maxMicroseconds = Double(latencies.histogram.max) / 1000
            requestsPerSecond = sample.requestsPerSecond
            curve = latencies.percentileCurve.map { [$0.0, $0.1] }
        }
    }
}

/// A target of the issue, checked against the run's own figures.
struct Target: Codable {
    var name: String
    var result: String
    /// Nil when a figure it needs was not measured (a system not installed, a section not run).
    var met: Bool?
}

/// Everything the run measured, and how it is shown: a table, JSON, and a latency plot.
final class Report {
    var rows: [Row] = []
    var notes: [String] = []
    var targets: [Target] = []
    let machine: [String: String]

    init() {
        machine = Report.describeMachine()
    }

    func add(_ row: Row) {
        var row = row
        if row.section != "floor", let floor = floorRow(valueBytes: row.valueBytes, callers: row.callers) {
            if let p50 = row.p50Microseconds, let floorP50 = floor.p50Microseconds, floorP50 > 0 { row.p50OverFloor = p50 / floorP50 }
            if let rate = row.requestsPerSecond, let floorRate = floor.requestsPerSecond, floorRate > 0 {
                row.throughputOverFloor = rate / floorRate
            }
        }
        rows.append(row)
        print(Report.line(row))
    }

    func note(_ text: String) {
        notes.append(text)
        print("note: \(text)")
    }

    func floorRow(valueBytes: Int?, callers: Int?) -> Row? {
        rows.first { $0.section == "floor" && $0.valueBytes == valueBytes && $0.callers == callers }
    }

    func row(_ section: String, _ system: String, valueBytes: Int? = nil, callers: Int? = nil) -> Row? {
        rows.first { $0.section == section && $0.system == system && $0.valueBytes == valueBytes && $0.callers == callers }
    }

    static let columns = [(10, "section"), (24, "system"), (7, "value"), (7, "callers"), (9, "p50 us"), (9, "p99 us"),
        (9, "p99.9 us"), (9, "req/s"), (7, "x floor")]

    /// Cells padded to the columns' widths: text left-aligned, numbers right-aligned.
    static func format(_ cells: [String]) -> String {
        zip(columns, cells).enumerated().map { index, pair in
            let ((width, _), cell) = pair
            let padding = String(repeating: " ", count: max(0, width - cell.count))
            return index < 2 ? cell + padding : padding + cell
        }.joined(separator: " ")
    }

    static let header = format(columns.map(\.1))

    static func line(_ row: Row) -> String {
        func number(_ value: Double?, _ format: String) -> String { value.map { String(format: format, $0) } ?? "-" }
        let size = row.valueBytes.map { $0 >= 1024 ? "\($0 / 1024) KiB" : "\($0) B" } ?? "-"
        var text = format([
            row.section, row.system, size, row.callers.map(String.init) ?? "-", number(row.p50Microseconds, "%.1f"),
            number(row.p99Microseconds, "%.1f"), number(row.p999Microseconds, "%.1f"), number(row.requestsPerSecond, "%.0f"),
            number(row.p50OverFloor, "%.2f"),
        ])
        if let ns = row.nanosecondsPerOperation { text += String(format: "  %.1f ns/op", ns) }
        for (key, value) in row.notes.sorted(by: { $0.key < $1.key }) { text += "  \(key)=\(value)" }
        return text
    }

    func printSummary() {
        print("\n== results (\(machine["cpus"] ?? "?") CPUs, load average \(machine["loadBefore"] ?? "?") before, "
            + "\(loadAverage()) after; client and servers on one machine)")
        print(Report.header)
        for row in rows { print(Report.line(row)) }
        print("\n== targets")
        for target in targets {
            let verdict = target.met.map { $0 ? "met   " : "MISSED" } ?? "n/a   "
            print("\(verdict) \(target.name): \(target.result)")
        }
        for note in notes { print("note: \(note)") }
    }

    func writeJSON(to url: URL, settings: Settings) throws {
        struct Document: Encodable {
            var machine: [String: String]
            var settings: [String: String]
            var rows: [Row]
            var targets: [Target]
            var notes: [String]
        }
        var machine = self.machine
        machine["loadAfter"] = loadAverage()
        let document = Document(
            machine: machine,
            settings: [
                "smoke": "\(settings.smoke)", "seconds": "\(settings.seconds)", "requests": "\(settings.requests)",
                "placement": settings.placement.rawValue,
                "sizes": settings.sizes.map(String.init).joined(separator: ","),
                "callers": settings.callers.map(String.init).joined(separator: ","),
            ],
            rows: rows, targets: targets, notes: notes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(document).write(to: url)
    }

    static func describeMachine() -> [String: String] {
        var machine: [String: String] = [
            "cpus": "\(ProcessInfo.processInfo.activeProcessorCount)",
            "loadBefore": loadAverage(),
            "date": ISO8601DateFormatter().string(from: Date()),
        ]
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let model = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") })
        {
            machine["cpuModel"] = model.split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
        }
        if let release = try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8) {
            machine["kernel"] = release.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return machine
    }
}

/// The 1, 5 and 15 minute load averages.
func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
}
