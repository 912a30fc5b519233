import GroupCacheLock

/// A ``PeerPicker`` whose ring is given after the registry is made.
///
/// A node that listens on port 0 learns its own address only once its server listens, and the server needs the
/// registry first, which needs a picker: hand the registry this, then ``setPicker(_:)`` once the address is known.
/// Until then every key is this node's own.
///
/// Concurrency: every method may be called from any task.
public final class DeferredPeerPicker: PeerPicker {
    private let picker = Lock<(any PeerPicker)?>(nil)

    /// Creates a picker with no ring yet.
    public init() {}

    /// Makes `picker` answer from now on.
    public func setPicker(_ picker: any PeerPicker) {
        self.picker.withLock { $0 = picker }
    }

    /// The owner according to the picker set, or `nil` (this node) before one is.
    public func owner(of key: CacheKey) -> (any PeerClient)? {
        picker.withLock { $0 }?.owner(of: key)
    }

    /// The remote peers according to the picker set; none before one is.
    public func remotePeers() -> [any PeerClient] {
        picker.withLock { $0 }?.remotePeers() ?? []
    }
}
