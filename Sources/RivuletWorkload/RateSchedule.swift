import RivuletCore

/// The send schedule of one producer: send number `n` is intended at `start + n / rate`, fixed in
/// advance. This is the rate limiter that avoids coordinated omission: when the system stalls, the
/// schedule does not slip. Sends that fell due during the stall keep their intended times and go
/// out in a burst afterwards, and latency is measured from the intended time, so every one of them
/// shows the stall (a limiter that waits "one interval after the last send" would push the
/// schedule back and hide all but one of those latencies).
///
/// A value type with no clock inside: `dueCount(at:)` and `take(_:)` are pure, so the schedule
/// is exact under a `ManualClock`; `nextBatch(maxCount:clock:)` adds the waiting.
public struct RateSchedule: Sendable, Equatable {
    /// Monotonic time of send 0, in nanoseconds of the runner's `EngineClock`.
    public let startNanoseconds: UInt64
    /// Sends per second (> 0).
    public let ratePerSecond: Double
    /// The index of the next send not yet taken.
    public private(set) var nextIndex: UInt64 = 0
    private let intervalNanoseconds: Double

    /// A schedule of `ratePerSecond` sends per second starting at `startNanoseconds`.
    /// A rate at or below zero (or not finite) is treated as one send per hour.
    public init(startNanoseconds: UInt64, ratePerSecond: Double) {
        let rate = ratePerSecond.isFinite && ratePerSecond > 0 ? ratePerSecond : 1.0 / 3600
        self.startNanoseconds = startNanoseconds
        self.ratePerSecond = rate
        intervalNanoseconds = 1e9 / rate
    }

    /// The intended monotonic time of send `index`, in nanoseconds.
    @inlinable
    public func intendedNanoseconds(ofSend index: UInt64) -> UInt64 {
        let offset = (Double(index) * intervalNanosecondsValue).rounded(.down)
        return offset >= 1.8e19 ? .max : startNanoseconds &+ UInt64(offset)
    }

    /// The interval between sends in nanoseconds (for `@inlinable` use).
    @usableFromInline
    var intervalNanosecondsValue: Double { intervalNanoseconds }

    /// The intended time of the next send not yet taken.
    public var nextIntendedNanoseconds: UInt64 { intendedNanoseconds(ofSend: nextIndex) }

    /// How many sends are due at `now` (intended at or before `now`) and not yet taken.
    public func dueCount(at now: UInt64) -> UInt64 {
        guard now >= startNanoseconds else { return 0 }
        // Sends 0...k are due, where k is the last index whose intended time is <= now.
        var dueThrough = UInt64(min(Double(now - startNanoseconds) / intervalNanoseconds, 1.8e19)) + 1
        while dueThrough > 0, intendedNanoseconds(ofSend: dueThrough - 1) > now { dueThrough -= 1 }
        while intendedNanoseconds(ofSend: dueThrough) <= now, dueThrough < .max { dueThrough += 1 }
        return dueThrough > nextIndex ? dueThrough - nextIndex : 0
    }

    /// Takes the next `count` sends off the schedule and returns their indices.
    public mutating func take(_ count: UInt64) -> Range<UInt64> {
        let range = nextIndex ..< nextIndex + count
        nextIndex += count
        return range
    }

    /// Waits on `clock` until at least one send is due, then takes every due send (at most
    /// `maxCount`) and returns their indices. Never waits when sends are already due, so a late
    /// caller gets the whole backlog of due sends at once, each with its original intended time.
    /// Throws `CancellationError` when the task is cancelled while waiting.
    public mutating func nextBatch(maxCount: UInt64, clock: any EngineClock) async throws -> Range<UInt64> {
        var now = clock.monotonicNanoseconds()
        var due = dueCount(at: now)
        while due == 0 {
            try await clock.sleep(untilMonotonicNanoseconds: nextIntendedNanoseconds)
            now = clock.monotonicNanoseconds()
            due = dueCount(at: now)
        }
        return take(min(due, max(1, maxCount)))
    }
}
