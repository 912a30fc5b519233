import Foundation

/// A secret the tests' clusters share, 32 bytes or more as `ClusterSecrets` requires.
public let testClusterSecret = "the tests' cluster secret, 32 bytes or more"

/// A new file in the temporary folder holding `secrets`, one per line, for `--secret-file` and
/// `ClusterSecrets(contentsOfFile:)`.
public func temporarySecretFile(_ secrets: [String] = [testClusterSecret]) throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("groupcache-secret-\(getpid())-\(UUID().uuidString)").path
    try (secrets.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
