import ArgumentParser
import GroupCache
import GroupCacheRing

/// `gcctl owner`: which peer owns each key, computed locally as every node of the cluster computes it.
struct OwnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "owner",
        abstract: "Print the peer that owns each key, as `<key>\\t<peer ID>`.",
        discussion: """
            Computed locally with the same ring the nodes use; no node is contacted. Keys come from the \
            arguments, or one per line on standard input when none are given. Peer IDs must be spelled exactly \
            as the nodes spell them: `http://host:port` for golang and Mailgun v2 clusters, `host:port` for v3.
            """
    )

    @Option(help: "The ring, as groupcache-node --ring names it: golang (crc32), mailgun or v3 (both FNV-1).")
    var ring = "golang"

    @Option(help: "The peer IDs, comma-separated, in the order every node lists them.")
    var peers: String

    @Option(help: "Points per peer on the ring.")
    var replicas: Int = HashRing.defaultReplicas

    private var configuration: RingConfiguration? { RingConfiguration(name: ring) }

    @Argument(help: "The keys. Without any, keys are read from standard input, one per line.")
    var keys: [String] = []

    func validate() throws {
        if memberIDs.isEmpty { throw ValidationError("--peers needs at least one peer ID") }
        if replicas < 1 { throw ValidationError("--replicas must be at least 1") }
        if configuration == nil { throw ValidationError("--ring must be golang, mailgun or v3") }
    }

    private var memberIDs: [String] {
        peers.split(separator: ",").map { String($0.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
            .filter { !$0.isEmpty }
    }

    func run() throws {
        let ring = HashRing(flavor: configuration!.flavor, replicas: replicas, members: memberIDs)
        let printLine = { (key: String) in
            print("\(key)\t\(ring.owner(of: CacheKey(key).bytes)!)")
        }
        if keys.isEmpty {
            while let line = readLine(strippingNewline: true) { printLine(line) }
        } else {
            keys.forEach(printLine)
        }
    }
}

