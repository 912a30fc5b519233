// The payloads of the frames, as plain Swift values. Their protobuf encoding is in ProtobufCodec.swift.
//
// Groups and keys are bytes, not strings: Go never checks UTF-8 in them, so a key may hold NUL bytes or invalid
// UTF-8 and must survive the trip unchanged.

/// Asks a peer for the value of `key` in `group`: the payload of a GET frame.
///
/// Same bytes as Go groupcache's `GetRequest`.
public struct GetRequest: Hashable, Sendable {
    /// The group's name.
    public var group: [UInt8]
    /// The key, as arbitrary bytes.
    public var key: [UInt8]

    /// Creates a request for `key` in `group`.
    public init(group: [UInt8], key: [UInt8]) {
        self.group = group
        self.key = key
    }
}

/// A value and its expiry: the payload of a GET reply frame.
///
/// Same bytes as Go groupcache's `GetResponse`; `expire` (field 3) is always written, `18 00` when it is 0, as Go
/// servers do. Go's `minute_qps` (field 2) is ignored when read and never written.
public struct GetResponse: Hashable, Sendable {
    /// The value; empty if the sender sent none.
    public var value: [UInt8]
    /// When the value goes stale, in Unix nanoseconds; 0 means never.
    public var expire: Int64

    /// Creates a reply carrying `value`, stale after `expire` (Unix nanoseconds; 0 for never).
    public init(value: [UInt8], expire: Int64 = 0) {
        self.value = value
        self.expire = expire
    }
}

/// Stores a value at a peer: the payload of a SET frame.
///
/// Same bytes as Mailgun's `SetRequest`; `value` and `expire` are always written, as Go does.
public struct SetRequest: Hashable, Sendable {
    /// The group's name.
    public var group: [UInt8]
    /// The key, as arbitrary bytes.
    public var key: [UInt8]
    /// The value to store.
    public var value: [UInt8]
    /// When the value goes stale, in Unix nanoseconds; 0 means never.
    public var expire: Int64

    /// Creates a request to store `value` under `key` in `group`, stale after `expire` (0 for never).
    public init(group: [UInt8], key: [UInt8], value: [UInt8], expire: Int64 = 0) {
        self.group = group
        self.key = key
        self.value = value
        self.expire = expire
    }
}

/// Removes one key at a peer: the payload of a REMOVE frame.
///
/// Byte-identical to ``GetRequest``, because Go sends a `GetRequest` to remove a key.
public struct RemoveRequest: Hashable, Sendable {
    /// The group's name.
    public var group: [UInt8]
    /// The key, as arbitrary bytes.
    public var key: [UInt8]

    /// Creates a request to remove `key` from `group`.
    public init(group: [UInt8], key: [UInt8]) {
        self.group = group
        self.key = key
    }
}

/// Removes several keys at a peer: the payload of a REMOVE_KEYS frame.
///
/// Same bytes as groupcache-go v3's `RemoveKeysRequest`. Decode with ``decode(from:limits:)`` to enforce
/// ``FrameLimits/maxRemoveKeys``.
public struct RemoveKeysRequest: Hashable, Sendable {
    /// The group's name.
    public var group: [UInt8]
    /// The keys, as arbitrary bytes.
    public var keys: [[UInt8]]

    /// Creates a request to remove every key in `keys` from `group`.
    public init(group: [UInt8], keys: [[UInt8]]) {
        self.group = group
        self.keys = keys
    }

    /// Returns the request that `bytes` encode, refusing one with more keys than `limits` allow.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for bytes that are not a valid encoding;
    ///   ``WireError/Code/tooManyKeys`` for more than ``FrameLimits/maxRemoveKeys`` keys.
    public static func decode(from bytes: [UInt8], limits: FrameLimits) throws(WireError) -> RemoveKeysRequest {
        let request = try decode(from: bytes)
        guard request.keys.count <= limits.maxRemoveKeys else {
            throw WireError(
                .tooManyKeys, "REMOVE_KEYS names \(request.keys.count) keys; the limit is \(limits.maxRemoveKeys)")
        }
        return request
    }
}

/// Why a request failed: the payload of an ERROR frame.
public struct ErrorResponse: Hashable, Sendable {
    /// The longest message that is sent, in UTF-8 bytes. Longer ones are cut on a character boundary.
    public static let maxMessageBytes = 1024

    /// The reason, to match on.
    public var code: ErrorCode
    /// What happened, for people. Encoding cuts it to ``maxMessageBytes`` and at its first NUL character.
    public var message: String
    /// The peers whose failure this is, when it is not the sender's own (field 3, swift-groupcache only): the
    /// owner that failed a get, the peers a set or remove could not reach. Encoding keeps the first IDs that fit
    /// in ``maxFailedPeerBytes``.
    public var failedPeers: [String]

    /// The most bytes of peer IDs an error carries.
    public static let maxFailedPeerBytes = 2048

    /// Creates an error reply.
    public init(code: ErrorCode, message: String, failedPeers: [String] = []) {
        self.code = code
        self.message = message
        self.failedPeers = failedPeers
    }
}

/// One step of the handshake that opens an authenticated connection: the payload of HELLO (0x07) and its reply
/// (0x87). Each step sets the fields it uses and leaves the others empty; GroupCacheAuth's `Handshake` makes and
/// checks them.
public struct Hello: Hashable, Sendable {
    /// Steps 1 and 2: the sender's random bytes, 32 of them.
    public var nonce: [UInt8]
    /// Step 1: the protocol versions the client speaks.
    public var versions: [UInt32]
    /// Step 1: which of the cluster's secrets the client connects with (its key id, 8 bytes).
    public var keyID: [UInt8]
    /// Step 2: the version the server chose; 0 when absent.
    public var version: UInt32
    /// Steps 2 and 3: the sender's proof that it holds the secret.
    public var proof: [UInt8]

    /// Creates a step; every field defaults to absent.
    public init(
        nonce: [UInt8] = [], versions: [UInt32] = [], keyID: [UInt8] = [], version: UInt32 = 0, proof: [UInt8] = []
    ) {
        self.nonce = nonce
        self.versions = versions
        self.keyID = keyID
        self.version = version
        self.proof = proof
    }
}

/// Every group's counters at a peer: the payload of a STATS reply frame.
public struct StatsResponse: Hashable, Sendable {
    /// One group's counters, with Go groupcache's names.
    public struct Group: Hashable, Sendable {
        /// The group's name.
        public var name: [UInt8]
        /// Gets from callers on that node and from its peers.
        public var gets: UInt64 = 0
        /// Gets answered from the main or hot cache.
        public var cacheHits: UInt64 = 0
        /// Values fetched from their owner.
        public var peerLoads: UInt64 = 0
        /// Peer fetches that failed and were replaced by a local load.
        public var peerErrors: UInt64 = 0
        /// Gets that missed both caches and asked for a load.
        public var loads: UInt64 = 0
        /// Loads after single-flight merged concurrent ones.
        public var loadsDeduped: UInt64 = 0
        /// Successful runs of the loader.
        public var localLoads: UInt64 = 0
        /// Failed runs of the loader.
        public var localLoadErrs: UInt64 = 0
        /// Requests that came from peers.
        public var serverRequests: UInt64 = 0
        /// Removes waiting to be sent again to peers they could not reach (ours only, as are the next two).
        public var removesPending: UInt64 = 0
        /// Queued removes a peer took on a retry.
        public var removesRetried: UInt64 = 0
        /// Removes dropped because the queue was full.
        public var removesDropped: UInt64 = 0
        /// The main cache: values that node owns.
        public var mainCache = Cache()
        /// The hot cache: copies of values other nodes own.
        public var hotCache = Cache()

        /// Creates zeroed counters for the group `name`.
        public init(name: [UInt8]) {
            self.name = name
        }
    }

    /// One cache's counters.
    public struct Cache: Hashable, Sendable {
        /// Bytes held: key and value bytes of every entry.
        public var bytes: UInt64 = 0
        /// Entries held.
        public var items: UInt64 = 0
        /// Lookups.
        public var gets: UInt64 = 0
        /// Lookups that found a live entry.
        public var hits: UInt64 = 0
        /// Entries dropped to stay within the budget, or found expired.
        public var evictions: UInt64 = 0

        /// Creates zeroed counters.
        public init() {}
    }

    /// A node's server counters (field 2; swift-groupcache only, Go peers leave it out). Gauges say how things
    /// stand now, the rest count since the node started.
    public struct Node: Hashable, Sendable {
        /// Connections open now.
        public var connections: UInt64 = 0
        /// Connection objects alive now, counted where they are created and freed.
        public var connectionObjects: UInt64 = 0
        /// Connections accepted.
        public var accepted: UInt64 = 0
        /// Bytes of the node-wide input budget that partial frames hold now.
        public var bufferedInputBytes: UInt64 = 0
        /// Reply bytes waiting to be written now, on all connections.
        public var bufferedOutputBytes: UInt64 = 0
        /// Connections refused at the connection limit.
        public var refusedConnectionLimit: UInt64 = 0
        /// Connections closed for breaking the protocol.
        public var closedProtocolViolation: UInt64 = 0
        /// Connections closed for a frame over its limit or over the whole input budget.
        public var closedTooLarge: UInt64 = 0
        /// Connections closed after the idle timeout.
        public var closedIdle: UInt64 = 0
        /// Connections closed because their partial frame made too little progress.
        public var closedPartialFrame: UInt64 = 0
        /// Connections closed because their replies did not move for the write timeout.
        public var closedWriteTimeout: UInt64 = 0
        /// Times a connection stopped being read because its unwritten replies reached the cap.
        public var outputPauses: UInt64 = 0
        /// Times a connection stopped being read because the input budget had no room for its frame.
        public var inputPauses: UInt64 = 0
        /// Replies over the frame limits, answered ERROR TOO_LARGE instead.
        public var repliesTooLarge: UInt64 = 0
        /// Times accepting paused after an accept error.
        public var acceptPauses: UInt64 = 0
        /// Connections closed for failing authentication: no handshake, a wrong secret, a tag that did not match.
        public var closedUnauthenticated: UInt64 = 0

        /// Creates zeroed counters.
        public init() {}

        /// Every counter with its name as `gcctl stats` prints it (the proto's field name), in field order.
        public static let fields: [(name: String, keyPath: any WritableKeyPath<Node, UInt64> & Sendable)] = [
            ("connections", \.connections), ("connection_objects", \.connectionObjects), ("accepted", \.accepted),
            ("buffered_input_bytes", \.bufferedInputBytes), ("buffered_output_bytes", \.bufferedOutputBytes),
            ("refused_connection_limit", \.refusedConnectionLimit),
            ("closed_protocol_violation", \.closedProtocolViolation), ("closed_too_large", \.closedTooLarge),
            ("closed_idle", \.closedIdle), ("closed_partial_frame", \.closedPartialFrame),
            ("closed_write_timeout", \.closedWriteTimeout), ("output_pauses", \.outputPauses),
            ("input_pauses", \.inputPauses), ("replies_too_large", \.repliesTooLarge),
            ("accept_pauses", \.acceptPauses), ("closed_unauthenticated", \.closedUnauthenticated),
        ]
    }

    /// One peer as the sender's client sees it (field 3; swift-groupcache only): its circuit breaker and its
    /// connections.
    public struct Peer: Hashable, Sendable {
        /// The peer's ring ID.
        public var id: String
        /// Whether the peer is marked down now.
        public var isDown = false
        /// Connections to it open now.
        public var connections: UInt64 = 0
        /// Failures counted against it: failed connects, refusals, connections that broke with requests in
        /// flight.
        public var failures: UInt64 = 0
        /// Times it was marked down.
        public var trips: UInt64 = 0
        /// Probes sent while it was down.
        public var probes: UInt64 = 0
        /// Times a probe brought it back.
        public var recoveries: UInt64 = 0
        /// PINGs sent because it was quiet while requests waited.
        public var livenessPings: UInt64 = 0
        /// Connections closed because such a PING went unanswered.
        public var hungConnections: UInt64 = 0
        /// Connections whose handshake failed: the peer refused this node's secret, or could not prove its own.
        public var authFailures: UInt64 = 0

        /// Creates zeroed counters for the peer `id`, which is up.
        public init(id: String) {
            self.id = id
        }

        /// Every counter with its name as `gcctl stats` prints it (the proto's field name), in field order.
        public static let fields: [(name: String, keyPath: any WritableKeyPath<Peer, UInt64> & Sendable)] = [
            ("connections", \.connections), ("failures", \.failures), ("trips", \.trips), ("probes", \.probes),
            ("recoveries", \.recoveries), ("liveness_pings", \.livenessPings), ("hung_connections", \.hungConnections),
            ("auth_failures", \.authFailures),
        ]
    }

    /// The groups, in the sender's order.
    public var groups: [Group]
    /// The node's own counters; `nil` from a peer that does not send them (Go).
    public var node: Node?
    /// The sender's peers, in its order; empty from a peer that does not send them (Go).
    public var peers: [Peer]

    /// Creates a reply listing `groups`, `node`'s counters and `peers`.
    public init(groups: [Group], node: Node? = nil, peers: [Peer] = []) {
        self.groups = groups
        self.node = node
        self.peers = peers
    }
}
