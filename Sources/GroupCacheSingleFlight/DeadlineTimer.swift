import Dispatch
import GroupCacheLock

/// Runs actions at deadlines, or on an interval, on one Dispatch timer.
///
/// Cheaper than a sleeping task per deadline: scheduling is a heap insert, and cancelling wakes no thread (a
/// cancelled sleeping task is woken just to end). Cancelled entries are dropped lazily, and the heap is rebuilt
/// when they outnumber the live ones, so memory follows the live deadlines.
///
/// Concurrency: every method may be called from any thread. Actions run on the timer's queue, outside its lock.
public final class DeadlineTimer: Sendable {
    /// Identifies a scheduled action, for ``cancel(_:)``.
    public struct Token: Hashable, Sendable {
        fileprivate let id: UInt64
    }

    private struct Entry {
        var deadline: ContinuousClock.Instant
        var id: UInt64
    }

    private struct Action {
        var run: @Sendable () -> Void
        /// For an action that repeats: its interval.
        var interval: Duration?
    }

    private struct State {
        var heap: [Entry] = []
        var actions: [UInt64: Action] = [:]
        var nextID: UInt64 = 0
        /// When the Dispatch timer is set to fire; `nil` when it is idle.
        var armedFor: ContinuousClock.Instant?
        var source: (any DispatchSourceTimer)?
    }

    private let state = Lock(State())
    private let queue = DispatchQueue(label: "groupcache.deadlines")

    /// Creates a timer with nothing scheduled.
    public init() {
        state.withLock { [queue] state in
            let source = DispatchSource.makeTimerSource(queue: queue)
            source.setEventHandler { [weak self] in self?.fire() }
            source.activate()
            state.source = source
        }
    }

    deinit {
        state.withLock { $0.source?.cancel() }
    }

    /// Runs `action` at `deadline` unless cancelled first.
    @discardableResult
    public func schedule(at deadline: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) -> Token {
        schedule(Action(run: action), at: deadline)
    }

    /// Runs `action` every `interval`, the first time one interval from now, until cancelled. A run that comes
    /// late does not make the next one come sooner.
    @discardableResult
    public func schedule(every interval: Duration, _ action: @escaping @Sendable () -> Void) -> Token {
        precondition(interval > .zero, "a repeating action needs a positive interval")
        return schedule(Action(run: action, interval: interval), at: .now + interval)
    }

    private func schedule(_ action: Action, at deadline: ContinuousClock.Instant) -> Token {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.actions[id] = action
            push(Entry(deadline: deadline, id: id), into: &state.heap)
            if state.armedFor.map({ deadline < $0 }) ?? true { arm(&state, for: deadline) }
            return Token(id: id)
        }
    }

    /// Cancels the action of `token` if it has not run; it then never runs.
    public func cancel(_ token: Token) {
        state.withLock { state in
            guard state.actions.removeValue(forKey: token.id) != nil else { return }
            if state.heap.count > 64, state.heap.count > 2 * state.actions.count {
                state.heap = state.heap.filter { state.actions[$0.id] != nil }
                heapify(&state.heap)
            }
        }
    }

    /// The number of actions waiting.
    public var count: Int { state.withLock { $0.actions.count } }

    private func fire() {
        let now = ContinuousClock.now
        let due = state.withLock { state -> [@Sendable () -> Void] in
            state.armedFor = nil
            var due: [@Sendable () -> Void] = []
            var again: [Entry] = []
            while let top = state.heap.first, top.deadline <= now {
                pop(&state.heap)
                guard let action = state.actions[top.id] else { continue }
                due.append(action.run)
                if let interval = action.interval {
                    again.append(Entry(deadline: now + interval, id: top.id))
                } else {
                    state.actions[top.id] = nil
                }
            }
            for entry in again { push(entry, into: &state.heap) }
            while let top = state.heap.first, state.actions[top.id] == nil { pop(&state.heap) }
            if let next = state.heap.first { arm(&state, for: next.deadline) }
            return due
        }
        for action in due { action() }
    }

    private func arm(_ state: inout State, for deadline: ContinuousClock.Instant) {
        state.armedFor = deadline
        let delay = max(.zero, deadline - .now)
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        state.source?.schedule(deadline: .now() + .nanoseconds(Int(nanoseconds)), leeway: .microseconds(500))
    }

    // MARK: A binary min-heap on deadline

    private func push(_ entry: Entry, into heap: inout [Entry]) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func pop(_ heap: inout [Entry]) {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        siftDown(&heap, from: 0)
    }

    private func siftDown(_ heap: inout [Entry], from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }

    private func heapify(_ heap: inout [Entry]) {
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(&heap, from: index) }
    }
}
