import Foundation

/// The User both loaders make for `id` (tools/go-peer/main.go's sampleUser): `producer` is "go" or "swift".
func sampleUser(_ id: String, madeBy producer: String) -> Swiftgroupcache_Testdata_User {
    var user = Swiftgroupcache_Testdata_User()
    user.id = id
    user.name = "User \(id)"
    user.roles = ["reader", producer]
    user.createdUnixNanos = 1_700_000_000_123_456_789
    user.avatar = Data([0x00, 0x01, 0xfe, 0xff])
    user.address.city = "Zürich"
    user.address.country = "CH"
    user.active = true
    user.score = 0.5
    return user
}

/// A User as the Go peer's `user` command prints it after decoding it in Go (main.go's describe).
func goDescription(of user: Swiftgroupcache_Testdata_User) -> String {
    let avatar = user.avatar.map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined()
    return "id=\(user.id) name=\"\(user.name)\" roles=\(user.roles.joined(separator: "|")) "
        + "created=\(user.createdUnixNanos) avatar=\(avatar) city=\"\(user.address.city)\" "
        + "country=\"\(user.address.country)\" active=\(user.active) score=\(user.score)"
}
