public import Foundation

/// A Go program under `tools/` that tests build and run: Debian's Go and golang/groupcache, offline.
public struct GoTool: Sendable {
    /// The program's folder, `tools/<name>`, which holds its `build.sh`.
    public let directory: URL
    /// The result of running `build.sh` once, for the whole test process: parallel tests must not write the
    /// binary while another runs it. Keep the tool in a `static let`, so that this runs once.
    public let built: Result<Void, LineProcess.Failure>

    /// Builds `tools/<name>` (once: see ``built``).
    public init(_ name: String) {
        directory = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/\(name)")
        let build = Process()
        build.executableURL = directory.appendingPathComponent("build.sh")
        do {
            try build.run()
            build.waitUntilExit()
            built = build.terminationStatus == 0 ? .success(()) : .failure(LineProcess.Failure("tools/\(name)/build.sh failed"))
        } catch {
            built = .failure(LineProcess.Failure("cannot run tools/\(name)/build.sh: \(error)"))
        }
    }

    /// The built executable called `name` in the tool's folder; throws if the build failed.
    public func executable(_ name: String) throws -> URL {
        try built.get()
        return directory.appendingPathComponent(name)
    }

    /// Whether tests that need Go must fail, rather than skip, when it is missing: tools/test sets it.
    public static var isRequired: Bool { ProcessInfo.processInfo.environment["GROUPCACHE_REQUIRE_GO"] == "1" }

    /// Whether Debian's Go and golang/groupcache are installed.
    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/go")
            && FileManager.default.fileExists(atPath: "/usr/share/gocode/src/github.com/golang/groupcache")
    }
}
