import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the client and the servers run. On a VM, a thread woken on another vCPU that sleeps costs some 40-80 us
/// more than one woken on the waker's own vCPU, and the scheduler picks one or the other from run to run: the
/// same blocking round trip measured 6 us once and 85 us the next. So by default the harness pins itself (the
/// client, and the node embedded in it) to CPU 0 and every server to the other CPUs ("cross"), as a real peer on
/// another machine would be; "same" puts everything on CPU 0 (pure CPU cost, no cross-CPU wake-ups); "free" leaves
/// it to the scheduler.
enum Placement: String {
    case cross, same, free

    /// The CPUs the client runs on (taskset's list form), or nil for any.
    var clientCPUs: String? {
        switch self {
        case .cross, .same: "0"
        case .free: nil
        }
    }

    /// The CPUs servers run on, or nil for any.
    var serverCPUs: String? {
        let count = ProcessInfo.processInfo.activeProcessorCount
        switch self {
        case .cross: return count > 2 ? "1-\(count - 1)" : "1"
        case .same: return "0"
        case .free: return nil
        }
    }

    /// `command` run under taskset on `cpus`, when there are CPUs to pin to.
    static func pinned(_ command: [String], to cpus: String?) -> [String] {
        guard let cpus, let taskset = findExecutable("taskset") else { return command }
        return [taskset, "-c", cpus] + command
    }

    /// Runs this process again under taskset on the client's CPUs, before it has started any thread that matters,
    /// so that every thread it makes inherits the pinning. Returns only when no pinning is needed or it is done.
    func pinThisProcess() {
        guard let cpus = clientCPUs, ProcessInfo.processInfo.environment["GROUPCACHE_BENCH_PINNED"] != "1",
            let taskset = findExecutable("taskset")
        else { return }
        setenv("GROUPCACHE_BENCH_PINNED", "1", 1)
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let arguments = [taskset, "-c", cpus, executable] + CommandLine.arguments.dropFirst()
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv(taskset, argv)
        FileHandle.standardError.write(Data("groupcache-bench: cannot pin to CPU \(cpus) with taskset; running unpinned\n".utf8))
    }
}
