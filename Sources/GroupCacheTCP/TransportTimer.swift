import GroupCacheSingleFlight

extension DeadlineTimer {
    /// The one timer of the transport: request deadlines, idle and timeout sweeps, and pauses all run on it,
    /// so the process has one Dispatch timer for them however many connections it holds.
    static let transport = DeadlineTimer()
}
