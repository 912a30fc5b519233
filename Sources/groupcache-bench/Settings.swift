import Foundation

/// What to run, parsed from the command line.
struct Settings {
    var smoke = false
    /// How long each timed (concurrent) measurement runs.
    var seconds = 3.0
    /// How many requests each sequential measurement times.
    var requests = 20_000
    var output = URL(fileURLWithPath: "bench-results")
    var nodeBinary = ""
    var goBench = ""
    var goPeer = ""
    var only: Set<String> = Settings.sections
    var sizes = [64, 4096, 262_144]
    var callers = [16, 64]
    var herdSizes = [10, 100, 1000]
    var memoryBudget = 256 << 20
    var placement = Placement.cross

    static let sections: Set<String> = [
        "floor", "local", "peer", "miss", "herd", "mixed", "memory", "fairness", "connections", "memcached", "redis", "go",
        "auth",
    ]

    var logs: URL { output.appendingPathComponent("logs") }

    static let usage = """
        groupcache-bench: swift-groupcache against the loopback floor, memcached, Redis and Go groupcache, in one run.

        Usage: groupcache-bench --node PATH --go-bench PATH [options]   (tools/bench builds both and passes them)
               groupcache-bench --median DIR...   the median of several runs' results.json, and the targets on it

          --smoke              a short run that checks everything works (and that each herd loads once): CI
          --seconds S          length of each concurrent measurement (default 3)
          --requests N         requests timed in each sequential measurement (default 20000)
          --output DIR         where results.json, latency.png and logs/ go (default bench-results)
          --only LIST          comma-separated sections: \(Settings.sections.sorted().joined(separator: ","))
          --node PATH          the groupcache-node executable (release build)
          --go-bench PATH      tools/go-bench/go-bench (skipped, with a note, when absent)
          --go-peer PATH       tools/go-peer/go-peer, for the separate-connections section (skipped when absent)
          --placement P        cross (default): this client on CPU 0, every server on the others; same: all on
                               CPU 0; free: wherever the scheduler puts them (bimodal on a VM, see Placement.swift)

        Every server runs on 127.0.0.1 on the same machine as the client; memcached and Redis are skipped, with a
        note, when not installed (Debian: memcached, redis-server).
        """

    static func parse(_ arguments: [String]) throws -> Settings {
        var settings = Settings()
        var rest = arguments[...]
        func value(_ flag: String) throws -> String {
            guard let value = rest.popFirst() else { throw UsageError(message: "\(flag) needs a value") }
            return value
        }
        var seconds: Double?, requests: Int?
        while let flag = rest.popFirst() {
            switch flag {
            case "--smoke": settings.smoke = true
            case "--seconds": seconds = Double(try value(flag))
            case "--requests": requests = Int(try value(flag))
            case "--output": settings.output = URL(fileURLWithPath: try value(flag))
            case "--node": settings.nodeBinary = try value(flag)
            case "--go-bench": settings.goBench = try value(flag)
            case "--go-peer": settings.goPeer = try value(flag)
            case "--placement":
                let name = try value(flag)
                guard let placement = Placement(rawValue: name) else { throw UsageError(message: "--placement must be cross, same or free") }
                settings.placement = placement
            case "--only":
                settings.only = Set(try value(flag).split(separator: ",").map(String.init))
                let unknown = settings.only.subtracting(sections)
                guard unknown.isEmpty else { throw UsageError(message: "unknown sections: \(unknown.sorted())") }
            case "--help", "-h": throw UsageError(message: nil)
            default: throw UsageError(message: "unknown argument \(flag)")
            }
        }
        if settings.smoke {
            settings.seconds = 0.25
            settings.requests = 300
            settings.sizes = [64, 4096]
            settings.callers = [16]
            settings.herdSizes = [10, 200]
            settings.memoryBudget = 16 << 20
        }
        if let seconds { settings.seconds = seconds }
        if let requests { settings.requests = requests }
        if settings.placement == .cross && ProcessInfo.processInfo.activeProcessorCount < 2 {
            settings.placement = .same
        }
        guard FileManager.default.isExecutableFile(atPath: settings.nodeBinary) else {
            throw UsageError(message: "--node \(settings.nodeBinary.isEmpty ? "is required" : "\(settings.nodeBinary) is not an executable")")
        }
        return settings
    }
}

struct UsageError: Error {
    /// Nil for --help.
    let message: String?
}
