/// A connection to one peer, as a transport provides it: it asks the peer to act on its own caches only.
///
/// The peer serves each request itself and never forwards it, whatever its own ring says; that is what keeps
/// two nodes whose rings disagree from passing a request back and forth forever.
///
/// Implementers: throw ``GroupCacheError`` with ``GroupCacheError/Code/notFound`` or
/// ``GroupCacheError/Code/loadFailed`` when the peer's loader said so (the caller sees those), and any other
/// error for transport failures (the caller counts them and loads locally). Calls come from many tasks at once.
public protocol PeerClient: Sendable {
    /// The peer's ring ID.
    var id: String { get }

    /// Returns the value of `key` in `group` from the peer's caches, loading it there if needed.
    func get(group: String, key: CacheKey, deadline: ContinuousClock.Instant) async throws -> CacheValue

    /// Stores `value` under `key` in the peer's main cache and drops any hot copy there.
    func set(group: String, key: CacheKey, value: CacheValue, deadline: ContinuousClock.Instant) async throws

    /// Removes `key` from the peer's caches.
    func remove(group: String, key: CacheKey, deadline: ContinuousClock.Instant) async throws

    /// Removes every key of `keys` from the peer's caches, in one request.
    func removeKeys(group: String, keys: [CacheKey], deadline: ContinuousClock.Instant) async throws
}

/// Tells a group which peer owns a key, and which peers exist.
///
/// Implementers: both methods are on the hot path of a miss and are called from many tasks at once.
public protocol PeerPicker: Sendable {
    /// Returns the client of the peer that owns `key`, or `nil` when this node owns it.
    func owner(of key: CacheKey) -> (any PeerClient)?

    /// Returns the clients of every peer except this node.
    func remotePeers() -> [any PeerClient]
}
