// The protobuf encoding of the wire messages, through protobuf-c.
//
// This is the only file of the package that imports the C modules, and no C type leaves it. Every unsafe pointer
// lives inside a closure here and is never stored: encoding points protobuf-c's structs at the Swift arrays for
// the length of one pack call; decoding unpacks into protobuf-c's own memory under a decode budget, copies each
// bytes field once into a Swift array, and frees the unpacked struct before returning.

import CGroupCacheProto
import CProtobufC

private typealias CGetRequest = Swiftgroupcache__Wire__GetRequest
private typealias CGetResponse = Swiftgroupcache__Wire__GetResponse
private typealias CSetRequest = Swiftgroupcache__Wire__SetRequest
private typealias CRemoveKeysRequest = Swiftgroupcache__Wire__RemoveKeysRequest
private typealias CErrorResponse = Swiftgroupcache__Wire__ErrorResponse
private typealias CStatsResponse = Swiftgroupcache__Wire__StatsResponse
private typealias CGroupStats = Swiftgroupcache__Wire__GroupStats
private typealias CCacheStats = Swiftgroupcache__Wire__CacheStats
private typealias CNodeStats = Swiftgroupcache__Wire__NodeStats
private typealias CPeerStats = Swiftgroupcache__Wire__PeerStats
private typealias CHello = Swiftgroupcache__Wire__Hello

// MARK: - Messages

extension GetRequest: WireMessage {
    /// Appends the protobuf encoding (fields 1 group, 2 key) to `buffer`.
    public func encode(to buffer: inout [UInt8]) {
        withBinaryData(group) { group in
            withBinaryData(key) { key in
                var message = CGetRequest()
                swiftgroupcache__wire__get_request__init(&message)
                message.group = group
                message.key = key
                appendPacked(
                    &message, to: &buffer,
                    size: swiftgroupcache__wire__get_request__get_packed_size,
                    pack: swiftgroupcache__wire__get_request__pack)
            }
        }
    }

    /// Returns the request that `bytes` encode.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for an invalid encoding or a missing group or key.
    public static func decode(from bytes: UnsafeRawBufferPointer) throws(WireError) -> GetRequest {
        try decode(from: bytes, as: "GetRequest")
    }

    /// Decodes a group and a key, naming `message` in errors: GET and REMOVE share these bytes.
    fileprivate static func decode(from bytes: UnsafeRawBufferPointer, as message: String) throws(WireError) -> GetRequest {
        try withUnpacked(
            bytes, message,
            unpack: swiftgroupcache__wire__get_request__unpack,
            free: swiftgroupcache__wire__get_request__free_unpacked
        ) { message in
            GetRequest(group: array(message.group), key: array(message.key))
        }
    }
}

extension GetResponse {
    /// Appends the protobuf encoding (fields 1 value, 3 expire; both always written) to `buffer`.
    func encodeWithProtobufC(to buffer: inout [UInt8]) {
        withBinaryData(value) { value in
            var message = CGetResponse()
            swiftgroupcache__wire__get_response__init(&message)
            message.has_value = 1
            message.value = value
            message.has_expire = 1
            message.expire = expire
            appendPacked(
                &message, to: &buffer,
                size: swiftgroupcache__wire__get_response__get_packed_size,
                pack: swiftgroupcache__wire__get_response__pack)
        }
    }

    /// Returns the reply that `bytes` encode, as protobuf-c reads it: what ``decode(from:)``, which reads in
    /// place, is checked against (tests and the `get-reply` fuzz target).
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for an invalid encoding.
    static func decodeWithProtobufC(from bytes: [UInt8]) throws(WireError) -> GetResponse {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) -> GetResponse in try decodeWithProtobufC(from: raw) }
        }
        return try result.get()
    }

    /// protobuf-c's reading of `bytes`, as above.
    static func decodeWithProtobufC(from bytes: UnsafeRawBufferPointer) throws(WireError) -> GetResponse {
        try withUnpacked(
            bytes, "GetResponse",
            unpack: swiftgroupcache__wire__get_response__unpack,
            free: swiftgroupcache__wire__get_response__free_unpacked
        ) { message in
            GetResponse(
                value: message.has_value != 0 ? array(message.value) : [],
                expire: message.has_expire != 0 ? message.expire : 0)
        }
    }
}

extension SetRequest: WireMessage {
    /// Appends the protobuf encoding (fields 1 group, 2 key, 3 value, 4 expire; all always written) to `buffer`.
    public func encode(to buffer: inout [UInt8]) {
        withBinaryData(group) { group in
            withBinaryData(key) { key in
                withBinaryData(value) { value in
                    var message = CSetRequest()
                    swiftgroupcache__wire__set_request__init(&message)
                    message.group = group
                    message.key = key
                    message.has_value = 1
                    message.value = value
                    message.has_expire = 1
                    message.expire = expire
                    appendPacked(
                        &message, to: &buffer,
                        size: swiftgroupcache__wire__set_request__get_packed_size,
                        pack: swiftgroupcache__wire__set_request__pack)
                }
            }
        }
    }

    /// Returns the request that `bytes` encode; an absent value reads as empty, an absent expiry as 0.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for an invalid encoding or a missing group or key.
    public static func decode(from bytes: UnsafeRawBufferPointer) throws(WireError) -> SetRequest {
        try withUnpacked(
            bytes, "SetRequest",
            unpack: swiftgroupcache__wire__set_request__unpack,
            free: swiftgroupcache__wire__set_request__free_unpacked
        ) { message in
            SetRequest(
                group: array(message.group), key: array(message.key),
                value: message.has_value != 0 ? array(message.value) : [],
                expire: message.has_expire != 0 ? message.expire : 0)
        }
    }
}

// RemoveRequest has GetRequest's fields and numbers (Go sends a GetRequest to remove a key), so it shares
// GetRequest's protobuf-c code; the RemoveRequest message in the .proto documents the wire and is tested equal.
extension RemoveRequest: WireMessage {
    /// Appends the protobuf encoding (fields 1 group, 2 key) to `buffer`: the same bytes as a ``GetRequest``.
    public func encode(to buffer: inout [UInt8]) {
        GetRequest(group: group, key: key).encode(to: &buffer)
    }

    /// Returns the request that `bytes` encode.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for an invalid encoding or a missing group or key.
    public static func decode(from bytes: UnsafeRawBufferPointer) throws(WireError) -> RemoveRequest {
        let request = try GetRequest.decode(from: bytes, as: "RemoveRequest")
        return RemoveRequest(group: request.group, key: request.key)
    }
}

extension Hello: WireMessage {
    /// Appends the protobuf encoding (fields 1 nonce, 2 versions, 3 key id, 4 version, 5 proof; each only when
    /// set) to `buffer`.
    public func encode(to buffer: inout [UInt8]) {
        withBinaryData(nonce) { nonce in
            withBinaryData(keyID) { keyID in
                withBinaryData(proof) { proof in
                    var versions = self.versions
                    versions.withUnsafeMutableBufferPointer { versions in
                        var message = CHello()
                        swiftgroupcache__wire__hello__init(&message)
                        (message.has_nonce, message.nonce) = (self.nonce.isEmpty ? 0 : 1, nonce)
                        (message.has_key_id, message.key_id) = (self.keyID.isEmpty ? 0 : 1, keyID)
                        (message.has_proof, message.proof) = (self.proof.isEmpty ? 0 : 1, proof)
                        (message.has_version, message.version) = (version == 0 ? 0 : 1, version)
                        message.n_versions = versions.count
                        message.versions = versions.baseAddress
                        appendPacked(
                            &message, to: &buffer,
                            size: swiftgroupcache__wire__hello__get_packed_size,
                            pack: swiftgroupcache__wire__hello__pack)
                    }
                }
            }
        }
    }

    /// Returns the step that `bytes` encode; absent fields read as empty or 0.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for an invalid encoding.
    public static func decode(from bytes: UnsafeRawBufferPointer) throws(WireError) -> Hello {
        try withUnpacked(
            bytes, "Hello",
            unpack: swiftgroupcache__wire__hello__unpack,
            free: swiftgroupcache__wire__hello__free_unpacked
        ) { message in
            Hello(
                nonce: message.has_nonce != 0 ? array(message.nonce) : [],
                versions: Array(UnsafeBufferPointer(start: message.versions, count: message.n_versions)),
                keyID: message.has_key_id != 0 ? array(message.key_id) : [],
                version: message.has_version != 0 ? message.version : 0,
                proof: message.has_proof != 0 ? array(message.proof) : [])
        }
    }
}

extension RemoveKeysRequest: WireMessage {
    /// Appends the protobuf encoding (field 1 group, field 2 once per key) to `buffer`.
    public func encode(to buffer: inout [UInt8]) {
        // The keys are copied into one array so that a single closure can lend protobuf-c pointers to all of them.
        var joined: [UInt8] = []
        joined.reserveCapacity(keys.reduce(0) { $0 + $1.count })
        for key in keys { joined.append(contentsOf: key) }

        withBinaryData(group) { group in
            withBinaryData(joined) { joined in
                withUnsafeTemporaryAllocation(of: ProtobufCBinaryData.self, capacity: keys.count) { entries in
                    var offset = 0
                    for (index, key) in keys.enumerated() {
                        entries.initializeElement(
                            at: index, to: ProtobufCBinaryData(len: key.count, data: joined.data + offset))
                        offset += key.count
                    }
                    var message = CRemoveKeysRequest()
                    swiftgroupcache__wire__remove_keys_request__init(&message)
                    message.group = group
                    message.n_keys = keys.count
                    message.keys = entries.baseAddress
                    appendPacked(
                        &message, to: &buffer,
                        size: swiftgroupcache__wire__remove_keys_request__get_packed_size,
                        pack: swiftgroupcache__wire__remove_keys_request__pack)
                }
            }
        }
    }

    /// Returns the request that `bytes` encode, with any number of keys. Use ``decode(from:limits:)`` to cap the
    /// count.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for an invalid encoding or a missing group.
    public static func decode(from bytes: UnsafeRawBufferPointer) throws(WireError) -> RemoveKeysRequest {
        try withUnpacked(
            bytes, "RemoveKeysRequest",
            unpack: swiftgroupcache__wire__remove_keys_request__unpack,
            free: swiftgroupcache__wire__remove_keys_request__free_unpacked
        ) { message in
            let keys = UnsafeBufferPointer(start: message.keys, count: message.n_keys).map(array)
            return RemoveKeysRequest(group: array(message.group), keys: keys)
        }
    }
}

extension ErrorResponse: WireMessage {
    /// Appends the protobuf encoding (fields 1 code, 2 message, 3 failed peers) to `buffer`, with the message cut
    /// to ``maxMessageBytes`` on a character boundary and at its first NUL character, and the peers to those that
    /// fit in ``maxFailedPeerBytes``.
    public func encode(to buffer: inout [UInt8]) {
        // The message and the peer IDs go into one buffer of C strings, which one closure lends to protobuf-c.
        var text = Self.sendableMessage(message).map { CChar(bitPattern: $0) }
        text.append(0)
        var offsets: [Int] = []
        var peerBytes = 0
        for peer in failedPeers {
            let id = Array(peer.utf8CString.prefix { $0 != 0 })
            peerBytes += id.count
            guard peerBytes <= Self.maxFailedPeerBytes else { break }
            offsets.append(text.count)
            text.append(contentsOf: id)
            text.append(0)
        }
        text.withUnsafeMutableBufferPointer { text in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<CChar>?.self, capacity: offsets.count) { peers in
                for (index, offset) in offsets.enumerated() { peers.initializeElement(at: index, to: text.baseAddress! + offset) }
                var message = CErrorResponse()
                swiftgroupcache__wire__error_response__init(&message)
                message.has_code = 1
                message.code = code.rawValue
                message.message = text.baseAddress
                message.n_failed_peers = offsets.count
                message.failed_peers = peers.baseAddress
                appendPacked(
                    &message, to: &buffer,
                    size: swiftgroupcache__wire__error_response__get_packed_size,
                    pack: swiftgroupcache__wire__error_response__pack)
            }
        }
    }

    /// Returns the reply that `bytes` encode; an absent code reads as 0, an absent message as empty, and invalid
    /// UTF-8 in the message is repaired.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for an invalid encoding.
    public static func decode(from bytes: UnsafeRawBufferPointer) throws(WireError) -> ErrorResponse {
        try withUnpacked(
            bytes, "ErrorResponse",
            unpack: swiftgroupcache__wire__error_response__unpack,
            free: swiftgroupcache__wire__error_response__free_unpacked
        ) { message in
            ErrorResponse(
                code: ErrorCode(rawValue: message.has_code != 0 ? message.code : 0),
                message: message.message.map { String(cString: $0) } ?? "",
                failedPeers: UnsafeBufferPointer(start: message.failed_peers, count: message.n_failed_peers).compactMap {
                    $0.map { String(cString: $0) }
                })
        }
    }
}

extension StatsResponse: WireMessage {
    /// Appends the protobuf encoding to `buffer`. Counters that are 0 are left out (they read back as 0); both
    /// cache messages are always written.
    public func encode(to buffer: inout [UInt8]) {
        // The names are copied into one array so that a single closure can lend protobuf-c pointers to all of them.
        var names: [UInt8] = []
        names.reserveCapacity(groups.reduce(0) { $0 + $1.name.count })
        for group in groups { names.append(contentsOf: group.name) }

        let count = groups.count
        withBinaryData(names) { names in
            withUnsafeTemporaryAllocation(of: CGroupStats.self, capacity: count) { cGroups in
                withUnsafeTemporaryAllocation(of: CCacheStats.self, capacity: 2 * count) { cCaches in
                    withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<CGroupStats>?.self, capacity: count) {
                        pointers in
                        var offset = 0
                        for (index, group) in groups.enumerated() {
                            let main = cCaches.baseAddress! + 2 * index
                            let hot = main + 1
                            main.initialize(to: CCacheStats())
                            hot.initialize(to: CCacheStats())
                            fill(main, from: group.mainCache)
                            fill(hot, from: group.hotCache)

                            let cGroup = cGroups.baseAddress! + index
                            cGroup.initialize(to: CGroupStats())
                            fill(cGroup, from: group, name: names.data + offset, main: main, hot: hot)
                            offset += group.name.count
                            pointers.initializeElement(at: index, to: cGroup)
                        }
                        var message = CStatsResponse()
                        swiftgroupcache__wire__stats_response__init(&message)
                        message.n_groups = count
                        message.groups = pointers.baseAddress
                        var cNode = CNodeStats()
                        withUnsafeMutablePointer(to: &cNode) { cNode in
                            if let node {
                                fill(cNode, from: node)
                                message.node = cNode
                            }
                            withPeerStats(peers) { cPeers in
                                message.n_peers = cPeers.count
                                message.peers = cPeers.baseAddress
                                appendPacked(
                                    &message, to: &buffer,
                                    size: swiftgroupcache__wire__stats_response__get_packed_size,
                                    pack: swiftgroupcache__wire__stats_response__pack)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Returns the reply that `bytes` encode; absent counters read as 0.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for an invalid encoding or a group without a name.
    public static func decode(from bytes: UnsafeRawBufferPointer) throws(WireError) -> StatsResponse {
        try withUnpacked(
            bytes, "StatsResponse",
            unpack: swiftgroupcache__wire__stats_response__unpack,
            free: swiftgroupcache__wire__stats_response__free_unpacked
        ) { message in
            let groups = UnsafeBufferPointer(start: message.groups, count: message.n_groups).compactMap { pointer in
                pointer.map { group(from: $0.pointee) }
            }
            let peers = UnsafeBufferPointer(start: message.peers, count: message.n_peers).compactMap { pointer in
                pointer.map { peerStats(from: $0.pointee) }
            }
            return StatsResponse(groups: groups, node: message.node.map { nodeStats(from: $0.pointee) }, peers: peers)
        }
    }
}

// MARK: - Stats fields

private func fill(_ cache: UnsafeMutablePointer<CCacheStats>, from stats: StatsResponse.Cache) {
    swiftgroupcache__wire__cache_stats__init(cache)
    set(&cache.pointee.bytes, &cache.pointee.has_bytes, stats.bytes)
    set(&cache.pointee.items, &cache.pointee.has_items, stats.items)
    set(&cache.pointee.gets, &cache.pointee.has_gets, stats.gets)
    set(&cache.pointee.hits, &cache.pointee.has_hits, stats.hits)
    set(&cache.pointee.evictions, &cache.pointee.has_evictions, stats.evictions)
}

private func fill(
    _ group: UnsafeMutablePointer<CGroupStats>, from stats: StatsResponse.Group, name: UnsafeMutablePointer<UInt8>,
    main: UnsafeMutablePointer<CCacheStats>, hot: UnsafeMutablePointer<CCacheStats>
) {
    swiftgroupcache__wire__group_stats__init(group)
    group.pointee.name = ProtobufCBinaryData(len: stats.name.count, data: name)
    set(&group.pointee.gets, &group.pointee.has_gets, stats.gets)
    set(&group.pointee.cache_hits, &group.pointee.has_cache_hits, stats.cacheHits)
    set(&group.pointee.peer_loads, &group.pointee.has_peer_loads, stats.peerLoads)
    set(&group.pointee.peer_errors, &group.pointee.has_peer_errors, stats.peerErrors)
    set(&group.pointee.loads, &group.pointee.has_loads, stats.loads)
    set(&group.pointee.loads_deduped, &group.pointee.has_loads_deduped, stats.loadsDeduped)
    set(&group.pointee.local_loads, &group.pointee.has_local_loads, stats.localLoads)
    set(&group.pointee.local_load_errs, &group.pointee.has_local_load_errs, stats.localLoadErrs)
    set(&group.pointee.server_requests, &group.pointee.has_server_requests, stats.serverRequests)
    set(&group.pointee.removes_pending, &group.pointee.has_removes_pending, stats.removesPending)
    set(&group.pointee.removes_retried, &group.pointee.has_removes_retried, stats.removesRetried)
    set(&group.pointee.removes_dropped, &group.pointee.has_removes_dropped, stats.removesDropped)
    group.pointee.main_cache = main
    group.pointee.hot_cache = hot
}

/// The node counters' C fields with their presence flags, in ``StatsResponse/Node/fields`` order.
private let nodeFields: [(
    any WritableKeyPath<CNodeStats, UInt64> & Sendable, any WritableKeyPath<CNodeStats, protobuf_c_boolean> & Sendable
)] = [
    (\.connections, \.has_connections), (\.connection_objects, \.has_connection_objects),
    (\.accepted, \.has_accepted), (\.buffered_input_bytes, \.has_buffered_input_bytes),
    (\.buffered_output_bytes, \.has_buffered_output_bytes),
    (\.refused_connection_limit, \.has_refused_connection_limit),
    (\.closed_protocol_violation, \.has_closed_protocol_violation), (\.closed_too_large, \.has_closed_too_large),
    (\.closed_idle, \.has_closed_idle), (\.closed_partial_frame, \.has_closed_partial_frame),
    (\.closed_write_timeout, \.has_closed_write_timeout), (\.output_pauses, \.has_output_pauses),
    (\.input_pauses, \.has_input_pauses), (\.replies_too_large, \.has_replies_too_large),
    (\.accept_pauses, \.has_accept_pauses), (\.closed_unauthenticated, \.has_closed_unauthenticated),
]

private func fill(_ cNode: UnsafeMutablePointer<CNodeStats>, from node: StatsResponse.Node) {
    swiftgroupcache__wire__node_stats__init(cNode)
    for ((_, swift), (value, has)) in zip(StatsResponse.Node.fields, nodeFields) {
        let counter = node[keyPath: swift]
        cNode.pointee[keyPath: value] = counter
        cNode.pointee[keyPath: has] = counter != 0 ? 1 : 0
    }
}

private func nodeStats(from message: CNodeStats) -> StatsResponse.Node {
    var node = StatsResponse.Node()
    for ((_, swift), (value, has)) in zip(StatsResponse.Node.fields, nodeFields) where message[keyPath: has] != 0 {
        node[keyPath: swift] = message[keyPath: value]
    }
    return node
}

/// The peer counters' C fields with their presence flags, in ``StatsResponse/Peer/fields`` order.
private let peerFields: [(
    any WritableKeyPath<CPeerStats, UInt64> & Sendable, any WritableKeyPath<CPeerStats, protobuf_c_boolean> & Sendable
)] = [
    (\.connections, \.has_connections), (\.failures, \.has_failures), (\.trips, \.has_trips),
    (\.probes, \.has_probes), (\.recoveries, \.has_recoveries), (\.liveness_pings, \.has_liveness_pings),
    (\.hung_connections, \.has_hung_connections), (\.auth_failures, \.has_auth_failures),
]

/// Lends `body` protobuf-c messages for `peers`, whose IDs are copied into one buffer of C strings.
private func withPeerStats<Result>(
    _ peers: [StatsResponse.Peer], _ body: (UnsafeMutableBufferPointer<UnsafeMutablePointer<CPeerStats>?>) -> Result
) -> Result {
    var ids: [CChar] = []
    for peer in peers { ids.append(contentsOf: peer.id.utf8CString) }
    return ids.withUnsafeMutableBufferPointer { ids in
        withUnsafeTemporaryAllocation(of: CPeerStats.self, capacity: peers.count) { cPeers in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<CPeerStats>?.self, capacity: peers.count) { pointers in
                var offset = 0
                for (index, peer) in peers.enumerated() {
                    let cPeer = cPeers.baseAddress! + index
                    cPeer.initialize(to: CPeerStats())
                    swiftgroupcache__wire__peer_stats__init(cPeer)
                    cPeer.pointee.id = ids.baseAddress! + offset
                    offset += peer.id.utf8.count + 1
                    cPeer.pointee.has_down = peer.isDown ? 1 : 0
                    cPeer.pointee.down = peer.isDown ? 1 : 0
                    for ((_, swift), (value, has)) in zip(StatsResponse.Peer.fields, peerFields) {
                        set(&cPeer.pointee[keyPath: value], &cPeer.pointee[keyPath: has], peer[keyPath: swift])
                    }
                    pointers.initializeElement(at: index, to: cPeer)
                }
                return body(pointers)
            }
        }
    }
}

private func peerStats(from message: CPeerStats) -> StatsResponse.Peer {
    var peer = StatsResponse.Peer(id: message.id.map { String(cString: $0) } ?? "")
    peer.isDown = message.has_down != 0 && message.down != 0
    for ((_, swift), (value, has)) in zip(StatsResponse.Peer.fields, peerFields) where message[keyPath: has] != 0 {
        peer[keyPath: swift] = message[keyPath: value]
    }
    return peer
}

/// Sets an optional counter, marking it present only when it is not 0.
private func set(_ field: inout UInt64, _ has: inout protobuf_c_boolean, _ value: UInt64) {
    field = value
    has = value != 0 ? 1 : 0
}

private func group(from message: CGroupStats) -> StatsResponse.Group {
    var group = StatsResponse.Group(name: array(message.name))
    group.gets = message.has_gets != 0 ? message.gets : 0
    group.cacheHits = message.has_cache_hits != 0 ? message.cache_hits : 0
    group.peerLoads = message.has_peer_loads != 0 ? message.peer_loads : 0
    group.peerErrors = message.has_peer_errors != 0 ? message.peer_errors : 0
    group.loads = message.has_loads != 0 ? message.loads : 0
    group.loadsDeduped = message.has_loads_deduped != 0 ? message.loads_deduped : 0
    group.localLoads = message.has_local_loads != 0 ? message.local_loads : 0
    group.localLoadErrs = message.has_local_load_errs != 0 ? message.local_load_errs : 0
    group.serverRequests = message.has_server_requests != 0 ? message.server_requests : 0
    group.removesPending = message.has_removes_pending != 0 ? message.removes_pending : 0
    group.removesRetried = message.has_removes_retried != 0 ? message.removes_retried : 0
    group.removesDropped = message.has_removes_dropped != 0 ? message.removes_dropped : 0
    group.mainCache = message.main_cache.map { cache(from: $0.pointee) } ?? StatsResponse.Cache()
    group.hotCache = message.hot_cache.map { cache(from: $0.pointee) } ?? StatsResponse.Cache()
    return group
}

private func cache(from message: CCacheStats) -> StatsResponse.Cache {
    var cache = StatsResponse.Cache()
    cache.bytes = message.has_bytes != 0 ? message.bytes : 0
    cache.items = message.has_items != 0 ? message.items : 0
    cache.gets = message.has_gets != 0 ? message.gets : 0
    cache.hits = message.has_hits != 0 ? message.hits : 0
    cache.evictions = message.has_evictions != 0 ? message.evictions : 0
    return cache
}

extension ErrorResponse {
    /// The bytes of `message` that are sent: up to its first NUL, cut to ``maxMessageBytes`` on a scalar boundary.
    fileprivate static func sendableMessage(_ message: String) -> Substring.UTF8View {
        let utf8 = message.utf8
        var end = utf8.firstIndex(of: 0) ?? utf8.endIndex
        if utf8.distance(from: utf8.startIndex, to: end) > maxMessageBytes {
            end = utf8.index(utf8.startIndex, offsetBy: maxMessageBytes)
            while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) {
                end = utf8.index(before: end)
            }
        }
        return utf8[..<end]
    }
}

// MARK: - protobuf-c plumbing

/// Lends `body` a protobuf-c view of `bytes`, valid only inside `body`.
private func withBinaryData<Result>(_ bytes: [UInt8], _ body: (ProtobufCBinaryData) -> Result) -> Result {
    bytes.withUnsafeBufferPointer { buffer in
        if let base = buffer.baseAddress {
            return body(ProtobufCBinaryData(len: buffer.count, data: UnsafeMutablePointer(mutating: base)))
        }
        // protobuf-c may memcpy from `data` even when the length is 0, and memcpy from NULL is undefined.
        var none: UInt8 = 0
        return withUnsafeMutablePointer(to: &none) { body(ProtobufCBinaryData(len: 0, data: $0)) }
    }
}

/// Returns a copy of the bytes protobuf-c unpacked.
private func array(_ data: ProtobufCBinaryData) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data.data, count: data.len))
}

/// Appends `message`, packed by protobuf-c, to `buffer`.
///
/// protobuf-c packs into fresh uninitialised memory, which becomes `buffer` itself when that is empty and is
/// appended to it otherwise: Swift arrays cannot grow without initialising, and zero-filling first costs more.
private func appendPacked<Message>(
    _ message: inout Message, to buffer: inout [UInt8],
    size: (UnsafePointer<Message>?) -> Int,
    pack: (UnsafePointer<Message>?, UnsafeMutablePointer<UInt8>?) -> Int
) {
    let count = withUnsafePointer(to: &message) { size($0) }
    guard count > 0 else { return }
    let packed = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
        initialized = withUnsafePointer(to: &message) { pack($0, out.baseAddress) }
    }
    precondition(packed.count == count, "protobuf-c packed \(packed.count) bytes; it promised \(count)")
    if buffer.isEmpty {
        buffer = packed
    } else {
        buffer.append(contentsOf: packed)
    }
}

/// Unpacks `bytes` with protobuf-c under a decode budget, hands the unpacked struct to `read`, and frees it.
///
/// The budget (see gc_decode_budget.h) caps what protobuf-c may hold at once at 2 × bytes + 2 MiB; past that its
/// allocator fails, unpack returns NULL, and the payload is reported as malformed.
private func withUnpacked<Message, Result>(
    _ bytes: UnsafeRawBufferPointer, _ name: String,
    unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<Message>?,
    free: (UnsafeMutablePointer<Message>?, UnsafeMutablePointer<ProtobufCAllocator>?) -> Void,
    read: (Message) -> Result
) throws(WireError) -> Result {
    var budget = gc_decode_budget()
    return try withUnsafeMutablePointer(to: &budget) { budget throws(WireError) -> Result in
        gc_decode_budget_init(budget, bytes.count)
        defer { gc_decode_budget_finish(budget) }
        let unpacked = bytes.withMemoryRebound(to: UInt8.self) { data in
            unpack(&budget.pointee.allocator, data.count, data.baseAddress)
        }
        guard let unpacked else {
            if budget.pointee.exhausted != 0 {
                throw WireError(
                    .malformedPayload,
                    "\(name) of \(bytes.count) bytes needs more memory to decode than its budget "
                        + "(2 × payload + 2 MiB); it is likely made of many tiny fields")
            }
            throw WireError(.malformedPayload, "\(name) of \(bytes.count) bytes is not a valid encoding")
        }
        defer { free(unpacked, &budget.pointee.allocator) }
        return read(unpacked.pointee)
    }
}

/// What the last decode on the current thread used from its budget, for tests that check a decode stays within its
/// cap and gives back every byte.
struct DecodeMemory: Equatable {
    /// The most bytes the decode could hold at once.
    var cap: Int
    /// The most bytes it held at once.
    var peak: Int
    /// The bytes it still held when it returned or threw; 0 unless something leaked.
    var held: Int

    /// What the last decode finished on this thread used. Read it right after a synchronous decode.
    static var last: DecodeMemory {
        let usage = gc_decode_last_usage()
        return DecodeMemory(cap: usage.cap, peak: usage.peak, held: usage.held)
    }
}
