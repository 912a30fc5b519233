import GroupCacheWire

/// The decisions of one server connection, without a socket: which frames to start, when to stop and resume
/// reading, when to close. ``ServerConnection`` feeds it events under its lock and performs what it returns
/// after releasing the lock, so every decision is made in one place, in order, and is tested without sockets.
///
/// Every frame ``nextRequest()`` hands out counts as in flight until ``requestFinished()``; at `maxInFlight`
/// it hands out nothing more and asks for reading to pause. Frames that arrive meanwhile wait in the parser and
/// are handed out as requests finish, before reading resumes.
struct ServerConnectionState {
    /// What to do with the next buffered frame.
    enum Step: Equatable {
        /// Handle this request.
        case start(Frame)
        /// Nothing to do until more bytes arrive.
        case awaitBytes
        /// Stop reading: `maxInFlight` requests run. ``requestFinished()`` says when to resume.
        case pauseReading
        /// The peer broke the protocol: send this ERROR frame (id 0 when the frame's own id is unusable), then
        /// close.
        case fail(ErrorCode, message: String, id: UInt32)
    }

    /// What to do once a request has finished.
    enum Completion: Equatable {
        case none
        /// Look for more frames in the buffer (reading paused at capacity, now below it), then resume reading.
        case resumeReading
        /// Shutting down and nothing is left in flight: flush and close.
        case close
    }

    enum Phase: Equatable {
        case reading
        case pausedAtCapacity
        /// Graceful shutdown: no more reading; in-flight requests finish, then the connection closes.
        case draining
        case closed
    }

    private var parser: FrameParser
    let maxInFlight: Int
    private(set) var inFlight = 0
    private(set) var phase = Phase.reading

    init(limits: FrameLimits, maxInFlight: Int) {
        precondition(maxInFlight > 0, "a connection must be allowed at least one request in flight")
        self.parser = FrameParser(limits: limits)
        self.maxInFlight = maxInFlight
    }

    /// Whether part of a frame is buffered: the partial-frame timer runs while it is.
    var hasPartialFrame: Bool { parser.bufferedByteCount > 0 }

    /// Adds bytes read from the socket.
    mutating func receive(_ bytes: UnsafeRawBufferPointer) {
        guard phase == .reading || phase == .pausedAtCapacity else { return }
        parser.append(contentsOf: bytes)
    }

    /// Returns what to do with the next buffered frame.
    mutating func nextRequest() -> Step {
        switch phase {
        case .draining, .closed:
            return .awaitBytes
        case .pausedAtCapacity where inFlight >= maxInFlight:
            return .awaitBytes
        case .reading, .pausedAtCapacity:
            break
        }
        guard inFlight < maxInFlight else {
            phase = .pausedAtCapacity
            return .pauseReading
        }
        let frame: Frame?
        do {
            frame = try parser.next()
        } catch {
            phase = .closed
            return .fail(error.errorCode, message: error.message, id: 0)
        }
        guard let frame else { return .awaitBytes }
        guard frame.kind.isRequest else {
            phase = .closed
            return .fail(.badRequest, message: "\(frame.kind) is a reply; a server takes only requests", id: frame.id)
        }
        inFlight += 1
        return .start(frame)
    }

    /// Records that a request has been answered.
    mutating func requestFinished() -> Completion {
        precondition(inFlight > 0, "a request finished that was never started")
        inFlight -= 1
        switch phase {
        case .pausedAtCapacity:
            phase = .reading
            return .resumeReading
        case .draining:
            if inFlight == 0 {
                phase = .closed
                return .close
            }
            return .none
        case .reading, .closed:
            return .none
        }
    }

    /// Begins a graceful shutdown and returns the ids of the complete requests buffered but not started, to be
    /// answered UNAVAILABLE; `closeNow` is true when nothing is in flight.
    mutating func beginShutdown() -> (unstarted: [UInt32], closeNow: Bool) {
        guard phase == .reading || phase == .pausedAtCapacity else { return ([], phase == .closed) }
        var unstarted: [UInt32] = []
        while let frame = try? parser.next() {
            if frame.kind.isRequest { unstarted.append(frame.id) }
        }
        phase = inFlight == 0 ? .closed : .draining
        return (unstarted, inFlight == 0)
    }

    /// Records that the connection is closed (end of input, an error, a timeout).
    mutating func close() {
        phase = .closed
    }
}
