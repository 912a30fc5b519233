import ArgumentParser
import GroupCache

/// `gcctl`: look inside a swift-groupcache cluster.
@main
struct GroupCacheControl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gcctl",
        abstract: "Look inside a swift-groupcache cluster.",
        version: swiftGroupCacheVersion,
        subcommands: [
            GetCommand.self, SetCommand.self, RemoveCommand.self, StatsCommand.self, PingCommand.self,
            OwnerCommand.self,
        ]
    )
}
