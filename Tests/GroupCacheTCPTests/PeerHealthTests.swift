@testable import GroupCacheTCP
import Testing

@Suite struct PeerHealthTests {
    static let start = ContinuousClock.now
    static let settings = PeerHealth.Settings(failuresToTrip: 3, probeInterval: .seconds(1), dialBackoff: .milliseconds(500))

    static func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func failuresInARowTripItAndASuccessEndsTheRun() {
        var health = PeerHealth(settings: Self.settings)
        #expect(health.failed("reset", now: Self.at(0), jitter: 0.5) == .stillUp)
        #expect(health.failed("reset", now: Self.at(1), jitter: 0.5) == .stillUp)
        health.succeeded()
        #expect(health.failed("reset", now: Self.at(2), jitter: 0.5) == .stillUp)
        #expect(health.failed("reset", now: Self.at(3), jitter: 0.5) == .stillUp)
        #expect(health.failed("reset", now: Self.at(4), jitter: 0.5) == .tripped(probeAt: Self.at(1_004)))
        #expect(health.isDown && health.trips == 1 && health.failures == 5)
        #expect(health.failed("late", now: Self.at(5), jitter: 0.5) == .alreadyDown)
        #expect(health.trips == 1 && health.lastFailure == "late")
        #expect(!health.mayDial(now: Self.at(10_000)), "only probes dial a down peer")
    }

    @Test func aHungConnectionTripsItAtOnce() {
        var health = PeerHealth(settings: Self.settings)
        #expect(health.failed("hung", hung: true, now: Self.at(0), jitter: 0) == .tripped(probeAt: Self.at(1_000)))
        #expect(health.hungConnections == 1 && health.failures == 1)
    }

    @Test func probesBringItBackOnTheFirstAnswer() {
        var health = PeerHealth(settings: Self.settings)
        _ = health.failed("hung", hung: true, now: Self.at(0), jitter: 0)
        #expect(health.probed(answered: false, now: Self.at(1_000)) == Self.at(2_000))
        #expect(health.isDown)
        #expect(health.probed(answered: true, now: Self.at(2_000)) == nil)
        #expect(!health.isDown && health.probes == 2 && health.recoveries == 1)
        #expect(health.mayDial(now: Self.at(2_000)))
        // Up again, it takes a full run of failures to trip once more.
        #expect(health.failed("reset", now: Self.at(2_001), jitter: 0) == .stillUp)
    }

    @Test func aRefusalBacksDialsOffByAJitteredPause() {
        var health = PeerHealth(settings: Self.settings)
        _ = health.failed("refused", backOff: true, now: Self.at(0), jitter: 0)
        #expect(!health.mayDial(now: Self.at(249)))
        #expect(health.mayDial(now: Self.at(250)), "jitter 0 is half the backoff")
        _ = health.failed("refused", backOff: true, now: Self.at(1_000), jitter: 1)
        #expect(!health.mayDial(now: Self.at(1_749)))
        #expect(health.mayDial(now: Self.at(1_750)), "jitter 1 is one and a half times the backoff")
    }
}
