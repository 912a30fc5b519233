import Foundation

/// groupcache-bench: starts everything it measures on loopback, runs bounded sections, stops what it started,
/// and prints a table, writes results.json and draws latency.png. See Settings.usage and Benchmarks/README.md.
@main
enum Bench {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--echo-server", arguments.count == 3, let request = Int(arguments[1]), let reply = Int(arguments[2]) {
            OtherSections.runEchoServer(requestBytes: request, replyBytes: reply)
        }
        if arguments.first == "--soak" {
            do {
                exit(try await Soak.run(arguments) ? 0 : 1)
            } catch {
                FileHandle.standardError.write(Data("groupcache-bench: \(error)\n".utf8))
                exit(2)
            }
        }
        if arguments.first == "--median" {
            do {
                exit(try Median.run(Array(arguments.dropFirst())) ? 0 : 1)
            } catch {
                FileHandle.standardError.write(Data("groupcache-bench: \(error)\n".utf8))
                exit(2)
            }
        }
        let settings: Settings
        do {
            settings = try Settings.parse(arguments)
        } catch let error as UsageError {
            if let message = error.message { FileHandle.standardError.write(Data("groupcache-bench: \(message)\n\n".utf8)) }
            print(Settings.usage)
            exit(error.message == nil ? 0 : 2)
        } catch {
            exit(2)
        }
        settings.placement.pinThisProcess()
        do {
            exit(try await run(settings) ? 0 : 1)
        } catch {
            FileHandle.standardError.write(Data("groupcache-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    /// Runs every section asked for; false when a check failed (a herd that loaded more than once).
    static func run(_ settings: Settings) async throws -> Bool {
        try FileManager.default.createDirectory(at: settings.logs, withIntermediateDirectories: true)
        let report = Report()
        print("groupcache-bench\(settings.smoke ? " (smoke)" : ""): \(report.machine["cpus"] ?? "?") CPUs (\(report.machine["cpuModel"] ?? "unknown")), "
            + "load average \(report.machine["loadBefore"] ?? "?"); placement \(settings.placement.rawValue): client on CPUs "
            + "\(settings.placement.clientCPUs ?? "any"), servers on \(settings.placement.serverCPUs ?? "any")")
        print(Report.header)
        func section(_ name: String, _ body: () async throws -> Void) async throws {
            guard settings.only.contains(name) else { return }
            let started = ContinuousClock.now
            try await body()
            FileHandle.standardError.write(Data(String(format: "groupcache-bench: %@ took %.1f s\n", name, (ContinuousClock.now - started).seconds).utf8))
        }
        var herdLoads: [Int: Int] = [:]
        try await section("floor") { try OtherSections.floor(settings, report) }
        if settings.only.contains("peer") || settings.only.contains("miss") {
            try await OurSections.peerHitsAndMisses(
                settings, report, peer: settings.only.contains("peer"), miss: settings.only.contains("miss"))
        }
        try await section("memcached") { try OtherSections.memcached(settings, report) }
        try await section("redis") { try OtherSections.redis(settings, report) }
        try await section("go") { try OtherSections.goGroupcache(settings, report) }
        try await section("local") { try await OurSections.localHit(settings, report) }
        try await section("herd") { herdLoads = try await OurSections.herd(settings, report) }
        try await section("mixed") { try await OurSections.mixed(settings, report) }
        try await section("memory") { try await OurSections.memory(settings, report) }
        try await section("fairness") { try await OurSections.fairness(settings, report) }
        try await section("connections") { try await OurSections.connections(settings, report) }
        try await section("auth") { try await OurSections.authenticationCost(settings, report) }

        report.targets = Targets.check(report, herdLoads: herdLoads, placement: settings.placement)
        report.note(plotLatencies(report, to: settings.output))
        try report.writeJSON(to: settings.output.appendingPathComponent("results.json"), settings: settings)
        report.printSummary()
        print("results: \(settings.output.appendingPathComponent("results.json").path)")
        let herdsLoadedOnce = herdLoads.values.allSatisfy { $0 == 1 }
        if !herdsLoadedOnce { print("FAILED: a herd loaded more than once: \(herdLoads)") }
        return herdsLoadedOnce
    }
}
