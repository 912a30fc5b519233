import GroupCacheAuth
import GroupCacheWire

/// The decisions of one server connection, without a socket: which frames to start, whether to read, when to
/// close. ``ServerConnection`` feeds it events under its lock and performs what it returns after releasing the
/// lock, so every decision is made in one place, in order, and is tested without sockets.
///
/// A connection reads only while it may start requests and has no complete frame waiting: fewer than
/// `maxInFlight` requests run, fewer than `maxOutputBytes` of replies wait to be written (replies answered at
/// once count as soon as they are made), and the node's input budget has room for the partial frame. Frames
/// that are buffered when it stops are started as room frees up, before reading resumes.
///
/// On a node with a cluster secret the connection first runs the handshake (docs/PROTOCOL.md, "Authentication"):
/// until it is complete, only HELLO frames are taken, at most ``Handshake/maxBytesBeforeAuthentication`` bytes
/// are read, and no request starts; anything else fails the connection with UNAUTHENTICATED.
///
/// Concurrency: a value type; the connection's lock guards it.
struct ServerConnectionState {
    /// What to do with the next buffered frame.
    enum Step: Equatable {
        /// Handle this request.
        case start(Frame)
        /// Send this HELLO_REPLY, untagged, then seal every later frame with ``takeSealer()``.
        case answerHandshake(Frame)
        /// Nothing to do until more bytes arrive.
        case awaitBytes
        /// Requests may not start now (at `maxInFlight`, or `maxOutputBytes` of replies unwritten): reading
        /// stops until room frees up.
        case blocked
        /// The peer broke the protocol: send this ERROR frame (id 0 when the frame's own id is unusable), then
        /// close.
        case fail(ErrorCode, message: String, id: UInt32)
    }

    /// What to do once a request has finished.
    enum Completion: Equatable {
        case none
        /// Requests were blocked at `maxInFlight`: take a turn to start buffered frames and resume reading.
        case takeTurn
        /// Shutting down and nothing is left in flight: flush and close.
        case close
    }

    enum Phase: Equatable {
        case reading
        /// Graceful shutdown: no more reading; in-flight requests finish, then the connection closes.
        case draining
        case closed
    }

    /// Where the handshake stands.
    enum Authentication {
        case awaitingHello(Handshake.Server)
        case awaitingProof(Handshake.AwaitingProof)
        /// Complete, or never needed (no secret).
        case authenticated
    }

    private var parser: FrameParser
    private(set) var authentication: Authentication
    /// Bytes read before the handshake completed.
    private var bytesBeforeAuthentication = 0
    /// The sealer for the server's frames, from the handshake's step 2 until the connection takes it.
    private var pendingSealer: FrameSealer?
    let maxInFlight: Int
    let maxOutputBytes: Int
    private(set) var inFlight = 0
    private(set) var phase = Phase.reading
    /// Whether the node's input budget had no room for the partial frame.
    var awaitingInputBudget = false

    init(limits: FrameLimits, maxInFlight: Int, maxOutputBytes: Int = .max, secrets: ClusterSecrets? = nil) {
        precondition(maxInFlight > 0, "a connection must be allowed at least one request in flight")
        precondition(maxOutputBytes > 0, "a connection must be allowed some output")
        self.parser = FrameParser(limits: limits)
        self.maxInFlight = maxInFlight
        self.maxOutputBytes = maxOutputBytes
        self.authentication = secrets.map { .awaitingHello(Handshake.Server(secrets: $0)) } ?? .authenticated
    }

    /// Whether requests may be taken: the handshake is complete, or the node needs none.
    var isAuthenticated: Bool {
        if case .authenticated = authentication { return true }
        return false
    }

    /// The most bytes the next read may take: what is left of ``Handshake/maxBytesBeforeAuthentication`` until the
    /// handshake is complete, then no limit.
    var readAllowance: Int {
        isAuthenticated ? .max : max(0, Handshake.maxBytesBeforeAuthentication - bytesBeforeAuthentication)
    }

    /// The sealer the handshake's step 2 made, once: every frame the server sends after its HELLO_REPLY carries
    /// a tag.
    mutating func takeSealer() -> FrameSealer? {
        defer { pendingSealer = nil }
        return pendingSealer
    }

    // The decisions below take `unwrittenBytes`, the reply bytes made and not yet written, which the connection
    // owns (its write buffer and the batch of a turn); the machine keeps no copy of them.

    /// Whether a request may start now.
    func canStart(unwrittenBytes: Int = 0) -> Bool {
        phase == .reading && inFlight < maxInFlight && unwrittenBytes < maxOutputBytes
    }

    /// Whether the connection should read: it may start requests, none is buffered, and the input budget has
    /// room.
    func wantsToRead(unwrittenBytes: Int = 0) -> Bool {
        canStart(unwrittenBytes: unwrittenBytes) && !awaitingInputBudget && !parser.hasCompleteFrame && readAllowance > 0
    }

    /// Whether buffered frames can be started now: the connection should take a turn.
    func needsTurn(unwrittenBytes: Int = 0) -> Bool {
        canStart(unwrittenBytes: unwrittenBytes) && (parser.hasCompleteFrame || readAllowance == 0)
    }

    /// Whether part of a frame is buffered, and no complete one.
    var hasPartialFrame: Bool { parser.bufferedByteCount > 0 && !parser.hasCompleteFrame }

    /// The size of the partial frame whose header is in and checked, which the input budget must hold; 0 when
    /// there is none (a header not yet whole is at most 9 bytes and is not counted).
    var partialFrameBytes: Int {
        guard hasPartialFrame, parser.bufferedByteCount >= FrameHeader.byteCount else { return 0 }
        return parser.nextFrameByteCount ?? 0
    }

    /// Adds bytes read from the socket.
    mutating func receive(_ bytes: UnsafeRawBufferPointer) {
        guard phase == .reading else { return }
        if !isAuthenticated { bytesBeforeAuthentication += bytes.count }
        parser.append(contentsOf: bytes)
    }

    /// Returns what to do with the next buffered frame.
    mutating func nextRequest(unwrittenBytes: Int = 0) -> Step {
        guard phase == .reading else { return .awaitBytes }
        guard canStart(unwrittenBytes: unwrittenBytes) else { return .blocked }
        if !isAuthenticated, let step = authenticate() { return step }
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
        if frame.kind == .hello, parser.requiresTags {
            phase = .closed
            return .fail(.badRequest, message: "a HELLO after the handshake", id: frame.id)
        }
        inFlight += 1
        return .start(frame)
    }

    /// Takes the handshake's next step from the buffered bytes; `nil` once it is complete and requests may be
    /// taken. Every failure is UNAUTHENTICATED with id 0.
    private mutating func authenticate() -> Step? {
        func refuse(_ message: String) -> Step {
            phase = .closed
            return .fail(.unauthenticated, message: message, id: 0)
        }
        if let kind = parser.nextFrameKind, kind != .hello {
            return refuse("a \(kind) frame before the handshake: this node requires a cluster secret (HELLO first)")
        }
        let frame: Frame?
        do {
            frame = try parser.next()
        } catch {
            return refuse("a bad frame before the handshake: \(error.message)")
        }
        guard let frame else {
            if readAllowance == 0 {
                return refuse("\(bytesBeforeAuthentication) bytes without completing the handshake")
            }
            return .awaitBytes
        }
        do throws(WireError) {
            let hello = try Hello.decode(from: frame.payload)
            switch authentication {
            case .awaitingHello(let handshake):
                let (reply, sealer, awaiting) = try handshake.answer(hello)
                authentication = .awaitingProof(awaiting)
                pendingSealer = sealer
                return .answerHandshake(Frame(kind: .helloReply, id: frame.id, message: reply))
            case .awaitingProof(let awaiting):
                parser.requireTags(try awaiting.verify(hello))
                authentication = .authenticated
                return nil
            case .authenticated:
                return nil
            }
        } catch {
            return refuse(error.message)
        }
    }

    /// Records that a request has been answered.
    mutating func requestFinished() -> Completion {
        precondition(inFlight > 0, "a request finished that was never started")
        let wasFull = inFlight == maxInFlight
        inFlight -= 1
        switch phase {
        case .reading:
            return wasFull ? .takeTurn : .none
        case .draining:
            if inFlight == 0 {
                phase = .closed
                return .close
            }
            return .none
        case .closed:
            return .none
        }
    }

    /// Begins a graceful shutdown and returns the ids of the complete requests buffered but not started, to be
    /// answered UNAVAILABLE; `closeNow` is true when nothing is in flight.
    mutating func beginShutdown() -> (unstarted: [UInt32], closeNow: Bool) {
        guard phase == .reading else { return ([], phase == .closed) }
        guard isAuthenticated else {
            phase = inFlight == 0 ? .closed : .draining
            return ([], inFlight == 0)
        }
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
