import RivuletCore

/// A clock that runs `speed` times faster than the system's: every reading advances `speed` ms per
/// real ms and a sleep of N ns lasts N / speed real ns. Brokers and clients on one `ScaledClock`
/// agree on time, so group tests use Kafka-sized timeouts (sessions of seconds) and finish in a
/// fraction of that.
final class ScaledClock: EngineClock {
    let speed: UInt64
    private let system = SystemClock()
    private let realStart: UInt64
    private let wallStartMs: Int64

    init(speed: UInt64) {
        self.speed = max(speed, 1)
        realStart = system.monotonicNanoseconds()
        wallStartMs = system.wallMilliseconds()
    }

    func monotonicNanoseconds() -> UInt64 {
        // Start well above zero, as a real monotonic clock does (code treats 0 as "never").
        1_000_000_000_000 &+ (system.monotonicNanoseconds() &- realStart) &* speed
    }

    func wallMilliseconds() -> Int64 {
        wallStartMs + Int64((system.monotonicNanoseconds() &- realStart) &* speed / 1_000_000)
    }

    func sleep(nanoseconds: UInt64) async throws {
        try await Task.sleep(nanoseconds: nanoseconds / speed)
    }
}
