import Foundation

/// Whether this test process runs under a sanitizer (tools/test --asan or --tsan sets GROUPCACHE_SANITIZER):
/// several times slower, so figures meant for a normal build are not checked there.
public enum Sanitizer {
    public static var isActive: Bool { ProcessInfo.processInfo.environment["GROUPCACHE_SANITIZER"] != nil }
}
