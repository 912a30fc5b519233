import Foundation

/// The TCP rebuild's targets (issue 21), checked against this run's figures. Targets are not gates: a miss is
/// reported, not fatal. Each compares two figures of the same run, since runs differ by some 10%.
enum Targets {
    static let ours = "swift-groupcache"

    static func check(_ report: Report, herdLoads: [Int: Int], placement: Placement) -> [Target] {
        let memcached = "memcached"
        let peer16 = report.row("peer hit", ours, valueBytes: 64, callers: 16)?.requestsPerSecond
        var targets = [
            ratio(
                "16 callers, 64 B: at least memcached's req/s", ours: peer16,
                theirs: report.row("peer hit", memcached, valueBytes: 64, callers: 16)?.requestsPerSecond,
                against: memcached, unit: "req/s", atLeast: 1),
            ratio(
                "stretch: 16 callers, 64 B: at least Redis's req/s", ours: peer16,
                theirs: report.row("peer hit", "redis", valueBytes: 64, callers: 16)?.requestsPerSecond,
                against: "Redis", unit: "req/s", atLeast: 1),
        ]
        // On one CPU every wake-up is paid in CPU, which memcached spends less of: the issue allows 1.5x there.
        let p50Limit = placement == .same ? 1.5 : 1
        targets.append(ratio(
            "one caller, 64 B: p50 at most \(placement == .same ? "1.5x " : "")memcached's (placement \(placement.rawValue))",
            ours: report.row("peer hit", ours, valueBytes: 64, callers: 1)?.p50Microseconds,
            theirs: report.row("peer hit", memcached, valueBytes: 64, callers: 1)?.p50Microseconds,
            against: memcached, unit: "us", atMost: p50Limit))
        targets.append(ratio(
            "256 KiB, 16 callers: at least 0.9x the floor's req/s",
            ours: report.row("peer hit", ours, valueBytes: 262_144, callers: 16)?.requestsPerSecond,
            theirs: report.floorRow(valueBytes: 262_144, callers: 16)?.requestsPerSecond, against: "the floor",
            unit: "req/s", atLeast: 0.9))
        func connections(_ system: String) -> Double? {
            report.rows.first { $0.section == "connections" && $0.system == system && $0.callers == 16 }?.requestsPerSecond
        }
        targets.append(ratio(
            "16 separate connections, one request each: at least 1.2x go-peer's req/s", ours: connections(ours),
            theirs: connections("go groupcache (our frames)"), against: "go-peer", unit: "req/s", atLeast: 1.2))
        if let fair = report.row("fairness", ours, valueBytes: 64, callers: 4), let p50 = fair.p50Microseconds,
            let p99 = fair.p99Microseconds
        {
            targets.append(Target(
                name: "fairness, 4 connections x depth 16: p99 within 10x p50",
                result: "p50 \(f(p50)) us, p99 \(f(p99)) us = \(f(p99 / p50))x", met: p99 <= 10 * p50))
        } else {
            targets.append(Target(name: "fairness, 4 connections x depth 16: p99 within 10x p50", result: "not measured", met: nil))
        }
        targets.append(ratio(
            "local hit: at most 0.5x Go's Group.Get",
            ours: report.row("local", ours, valueBytes: 64, callers: 1)?.nanosecondsPerOperation,
            theirs: report.row("local", "go groupcache", valueBytes: 64, callers: 1)?.nanosecondsPerOperation,
            against: "Go", unit: "ns", atMost: 0.5))
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
        return targets
    }

    private static func f(_ value: Double) -> String { String(format: value >= 1000 ? "%.0f" : "%.2f", value) }

    /// Ours over theirs, which must be at least `atLeast` or at most `atMost`.
    private static func ratio(
        _ name: String, ours: Double?, theirs: Double?, against: String, unit: String, atLeast: Double? = nil,
        atMost: Double? = nil
    ) -> Target {
        guard let ours, let theirs, theirs > 0 else { return Target(name: name, result: "not measured", met: nil) }
        let ratio = ours / theirs
        let met = atLeast.map { ratio >= $0 } ?? atMost.map { ratio <= $0 } ?? false
        return Target(name: name, result: "\(f(ours)) \(unit) = \(f(ratio))x \(against)'s \(f(theirs))", met: met)
    }
}
