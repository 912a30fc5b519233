// Resident memory of a group full of tiny entries: many small entries must not take many times the budget,
// because each entry's cost counts its overhead (CacheStats.entryOverheadBytes), not only its bytes.
//
// Usage: CacheMemoryBenchmark [entries] [budget MiB] [key bytes] [value bytes]
// Default: 1,000,000 entries of 3-byte keys and 1-byte values into a 64 MiB group. Prints resident memory
// before and after, the group's own count of bytes and items, and the ratio to the target
// (1.3 x the budget + 32 MiB). Exits 1 when the target is missed.
import Foundation
import GroupCache

func residentBytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? "VmRSS: 0 kB"
    return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let entries = arguments.count > 0 ? arguments[0] : 1_000_000
let budget = (arguments.count > 1 ? arguments[1] : 64) << 20
let keyBytes = arguments.count > 2 ? arguments[2] : 3
let valueBytes = arguments.count > 3 ? arguments[3] : 1

let group = try GroupRegistry().makeGroup(name: "tiny", cacheBytes: budget) { key, _ in CacheValue([0]) }
let before = residentBytes()
let started = ContinuousClock.now
for index in 0..<entries {
    var key = [UInt8](repeating: 0, count: keyBytes)
    var rest = index
    for position in 0..<keyBytes {
        key[position] = UInt8(truncatingIfNeeded: rest)
        rest >>= 8
    }
    try await group.set(CacheKey(bytes: key), to: CacheValue([UInt8](repeating: 1, count: valueBytes)))
}
let elapsed = ContinuousClock.now - started
let after = residentBytes()
let stats = group.stats.mainCache
let target = budget * 13 / 10 + (32 << 20)
func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
print("entries set          \(entries) (\(keyBytes)-byte keys, \(valueBytes)-byte values) in \(elapsed)")
print("budget               \(mib(budget))")
print("cache bytes / items  \(mib(stats.bytes)) / \(stats.items) (\(stats.evictions) evicted)")
print("resident before      \(mib(before))")
print("resident after       \(mib(after)) (\(after - before > 0 && stats.items > 0 ? (after - before) / stats.items : 0) bytes per entry held)")
print("target               \(mib(target)) (1.3 x budget + 32 MiB): \(after <= target ? "met" : "MISSED"), \(String(format: "%.2f", Double(after) / Double(target)))x")
exit(after <= target ? 0 : 1)
