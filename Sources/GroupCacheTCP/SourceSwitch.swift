import Dispatch

/// A Dispatch source with the state Dispatch does not expose, so that every connection starts, pauses and
/// cancels its sources by the same rules (measured on Linux, see ../shared/reference/swift-facts.md):
/// suspends and resumes stay balanced; a source is never released suspended or never activated, which crashes;
/// and `cancelled` is final, since a cancelled source suspended again never runs its cancel handler.
///
/// Concurrency: a value type; keep it behind the lock that decides when its source runs, so that a late pause
/// never wins over an earlier start. `@unchecked Sendable`, audited: libdispatch's source calls are safe from
/// any thread (Swift's overlay does not mark the protocol `Sendable`), and the state is guarded by that lock.
struct SourceSwitch: @unchecked Sendable {
    private enum State { case inactive, running, suspended, cancelled }

    private let source: any DispatchSourceProtocol
    private var state = State.inactive

    init(_ source: any DispatchSourceProtocol) {
        self.source = source
    }

    /// Activates or resumes the source.
    mutating func start() {
        switch state {
        case .inactive: source.activate()
        case .suspended: source.resume()
        case .running, .cancelled: return
        }
        state = .running
    }

    /// Suspends the source if it runs.
    mutating func pause() {
        guard state == .running else { return }
        source.suspend()
        state = .suspended
    }

    /// Cancels the source, and lets it run so that its cancel handler is called.
    mutating func cancel() {
        guard state != .cancelled else { return }
        source.cancel()
        start()
        state = .cancelled
    }

    /// The state, for people.
    var description: String { "\(state)" }
}
