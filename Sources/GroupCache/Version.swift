/// The version of swift-groupcache, as its executables' `--version` prints it.
public let swiftGroupCacheVersion = "0.1.0"
