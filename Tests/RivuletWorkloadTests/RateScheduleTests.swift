import RivuletCore
import Testing
@testable import RivuletWorkload

@Suite struct RateScheduleTests {
    @Test func intendedTimes_areStartPlusIndexOverRate_withoutDrift() {
        let schedule = RateSchedule(startNanoseconds: 5_000, ratePerSecond: 1000)
        #expect(schedule.intendedNanoseconds(ofSend: 0) == 5_000)
        #expect(schedule.intendedNanoseconds(ofSend: 1) == 1_005_000)
        #expect(schedule.intendedNanoseconds(ofSend: 1_000_000) == 1_000_000_005_000)
        let thirds = RateSchedule(startNanoseconds: 0, ratePerSecond: 3)
        #expect(thirds.intendedNanoseconds(ofSend: 1) == 333_333_333)
        #expect(thirds.intendedNanoseconds(ofSend: 3000) == 1_000_000_000_000)
    }

    @Test func dueCount_countsSendsIntendedAtOrBeforeNow() {
        var schedule = RateSchedule(startNanoseconds: 1_000_000, ratePerSecond: 1000)
        #expect(schedule.dueCount(at: 0) == 0)
        #expect(schedule.dueCount(at: 1_000_000) == 1)
        #expect(schedule.dueCount(at: 10_999_999) == 10)
        #expect(schedule.dueCount(at: 11_000_000) == 11)
        #expect(schedule.take(4) == 0 ..< 4)
        #expect(schedule.dueCount(at: 11_000_000) == 7)
        #expect(schedule.nextIntendedNanoseconds == 5_000_000)
    }

    @Test func aStall_doesNotSlipTheSchedule() {
        var schedule = RateSchedule(startNanoseconds: 0, ratePerSecond: 1000)
        _ = schedule.take(schedule.dueCount(at: 5_000_000))
        // The caller stalls for 100 ms: every send that fell due is still owed, at its own time.
        let due = schedule.dueCount(at: 105_000_000)
        #expect(due == 100)
        let taken = schedule.take(due)
        #expect(taken == 6 ..< 106)
        #expect(schedule.intendedNanoseconds(ofSend: taken.lowerBound) == 6_000_000)
        #expect(schedule.intendedNanoseconds(ofSend: taken.upperBound - 1) == 105_000_000)
        #expect(schedule.nextIntendedNanoseconds == 106_000_000)
    }

    @Test func nextBatch_onAManualClock_waitsForIntendedTimesAndReturnsBacklogsAtOnce() async throws {
        let clock = ManualClock()
        var schedule = RateSchedule(startNanoseconds: 0, ratePerSecond: 100)
        #expect(try await schedule.nextBatch(maxCount: 10, clock: clock) == 0 ..< 1)

        // The next send is intended at 10 ms: the caller sleeps until the clock gets there.
        let waiter = Task { [schedule] in
            var copy = schedule
            let range = try await copy.nextBatch(maxCount: 10, clock: clock)
            return (range, clock.monotonicNanoseconds())
        }
        while clock.sleeperCount == 0 { await Task.yield() }
        clock.advance(nanoseconds: 9_000_000)
        #expect(clock.sleeperCount == 1)
        clock.advance(nanoseconds: 1_000_000)
        let (range, wokeAt) = try await waiter.value
        #expect(range == 1 ..< 2)
        #expect(wokeAt == 10_000_000)
        _ = schedule.take(1)

        // A late caller (at 100 ms) gets every due send at once, capped at maxCount, without sleeping.
        clock.advance(nanoseconds: 90_000_000)
        let late = try await schedule.nextBatch(maxCount: 5, clock: clock)
        #expect(late == 2 ..< 7)
        #expect(schedule.intendedNanoseconds(ofSend: late.lowerBound) == 20_000_000)
        let rest = try await schedule.nextBatch(maxCount: 100, clock: clock)
        #expect(rest == 7 ..< 11)
        #expect(clock.sleeperCount == 0)
    }

    @Test func nextBatch_cancelledWhileWaiting_throws() async {
        let clock = ManualClock()
        let waiter = Task {
            var schedule = RateSchedule(startNanoseconds: 1_000_000_000, ratePerSecond: 1)
            _ = try await schedule.nextBatch(maxCount: 1, clock: clock)
        }
        while clock.sleeperCount == 0 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }

    @Test func nonPositiveRate_isTreatedAsOnePerHour() {
        let schedule = RateSchedule(startNanoseconds: 0, ratePerSecond: 0)
        #expect(schedule.intendedNanoseconds(ofSend: 1) == 3_600_000_000_000)
    }
}
