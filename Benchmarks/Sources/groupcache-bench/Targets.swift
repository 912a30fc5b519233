import Foundation

/// The issue's targets, checked against this run's figures. Targets are not gates: a miss is reported, not fatal.
enum Targets {
    static func check(_ report: Report, herdLoads: [Int: Int]) -> [Target] {
        var targets: [Target] = []
        let ours = "swift-groupcache"
        func f(_ value: Double?, _ format: String = "%.1f") -> String { value.map { String(format: format, $0) } ?? "?" }

        let peer = report.row("peer hit", ours, valueBytes: 64, callers: 1)
        let floor = report.floorRow(valueBytes: 64, callers: 1)
        if let p50 = peer?.p50Microseconds, let floorP50 = floor?.p50Microseconds {
            targets.append(Target(
                name: "peer hit 64 B, one caller: p50 within 1.5x the floor",
                result: "\(f(p50)) us = \(f(p50 / floorP50, "%.2f"))x the floor's \(f(floorP50)) us", met: p50 <= 1.5 * floorP50))
        } else {
            targets.append(Target(name: "peer hit 64 B, one caller: p50 within 1.5x the floor", result: "not measured", met: nil))
        }
        let memcached = report.row("peer hit", "memcached", valueBytes: 64, callers: 1)
        targets.append(compare(
            "peer hit 64 B, one caller: p50 below memcached's", ours: peer?.p50Microseconds, theirs: memcached?.p50Microseconds,
            unit: "us", lowerIsBetter: true))

        let ours16 = report.row("peer hit", ours, valueBytes: 64, callers: 16)?.requestsPerSecond
        targets.append(compare(
            "16 callers, 64 B: throughput above memcached's", ours: ours16,
            theirs: report.row("peer hit", "memcached", valueBytes: 64, callers: 16)?.requestsPerSecond, unit: "req/s",
            lowerIsBetter: false))
        let goHTTP16 = report.row("peer hit", "go groupcache HTTP", valueBytes: 64, callers: 16)?.requestsPerSecond
        if let ours16, let goHTTP16 {
            targets.append(Target(
                name: "16 callers, 64 B: at least 3x Go groupcache over HTTP",
                result: "\(f(ours16, "%.0f")) req/s = \(f(ours16 / goHTTP16, "%.2f"))x Go's \(f(goHTTP16, "%.0f"))",
                met: ours16 >= 3 * goHTTP16))
        } else {
            targets.append(Target(name: "16 callers, 64 B: at least 3x Go groupcache over HTTP", result: "not measured", met: nil))
        }
        targets.append(compare(
            "local hit: below Go groupcache's in-process Group.Get",
            ours: report.row("local", ours, valueBytes: 64, callers: 1)?.nanosecondsPerOperation,
            theirs: report.row("local", "go groupcache", valueBytes: 64, callers: 1)?.nanosecondsPerOperation, unit: "ns",
            lowerIsBetter: true))
        if herdLoads.isEmpty {
            targets.append(Target(name: "herd: exactly one load, whatever N", result: "not measured", met: nil))
        } else {
            let text = herdLoads.sorted { $0.key < $1.key }.map { "N=\($0.key): \($0.value) load(s)" }.joined(separator: ", ")
            targets.append(Target(name: "herd: exactly one load, whatever N", result: text, met: herdLoads.values.allSatisfy { $0 == 1 }))
        }
        if let memory = report.rows.first(where: { $0.section == "memory" }),
            let rss = memory.notes["rss_mib"].flatMap(Double.init), let limit = memory.notes["limit_mib"].flatMap(Double.init)
        {
            targets.append(Target(
                name: "memory: resident under 1.3x the budget + 32 MiB",
                result: "\(f(rss)) MiB with a \(memory.notes["budget_mib"] ?? "?") MiB budget (limit \(f(limit)) MiB)", met: rss < limit))
        } else {
            targets.append(Target(name: "memory: resident under 1.3x the budget + 32 MiB", result: "not measured", met: nil))
        }
        if let fair = report.row("fairness", ours, valueBytes: 64, callers: 4), let p50 = fair.p50Microseconds,
            let p99 = fair.p99Microseconds
        {
            targets.append(Target(
                name: "fairness, 4 connections x depth 16: p99 within 10x p50",
                result: "p50 \(f(p50)) us, p99 \(f(p99)) us = \(f(p99 / p50, "%.1f"))x", met: p99 <= 10 * p50))
        } else {
            targets.append(Target(name: "fairness, 4 connections x depth 16: p99 within 10x p50", result: "not measured", met: nil))
        }
        return targets
    }

    private static func compare(_ name: String, ours: Double?, theirs: Double?, unit: String, lowerIsBetter: Bool) -> Target {
        guard let ours, let theirs else { return Target(name: name, result: "not measured", met: nil) }
        let format = unit == "req/s" ? "%.0f" : "%.1f"
        return Target(
            name: name, result: "\(String(format: format, ours)) \(unit) against \(String(format: format, theirs)) \(unit)",
            met: lowerIsBetter ? ours < theirs : ours > theirs)
    }
}
