import Testing
@testable import RivuletCore

@Suite struct ManualClockTests {
    @Test func sleepers_wakeOnlyWhenTimeReachesTheirDeadline() async throws {
        let clock = ManualClock(wallMilliseconds: 1000)
        let woke = Task { try await clock.sleep(nanoseconds: 5_000_000); return clock.monotonicNanoseconds() }
        while clock.sleeperCount == 0 { await Task.yield() }
        clock.advance(nanoseconds: 4_000_000)
        #expect(clock.sleeperCount == 1)
        clock.advance(nanoseconds: 1_000_000)
        #expect(try await woke.value == 5_000_000)
        #expect(clock.wallMilliseconds() == 1005)
    }

    @Test func cancellation_wakesSleeperWithError() async {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(nanoseconds: 1_000_000_000) }
        while clock.sleeperCount == 0 { await Task.yield() }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
    }

    @Test func seededGenerator_isDeterministic() {
        var a = SeededGenerator(seed: 7)
        var b = SeededGenerator(seed: 7)
        #expect((0 ..< 10).map { _ in a.next() } == (0 ..< 10).map { _ in b.next() })
    }
}
