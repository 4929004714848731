import CCycleCounter
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The wall clock in milliseconds, for a record timestamp per `send`, at the cost of one read of the
/// CPU's cycle counter instead of a `clock_gettime` call (about 10 ns against 25 to 40 ns on the
/// 2-vCPU VMs here, where it was a tenth of the producer's time).
///
/// A reading of the system clock (`CLOCK_REALTIME`) is kept together with the cycle count at which
/// the next millisecond boundary is due at the earliest; until the counter gets there, `milliseconds()`
/// returns the kept millisecond, afterwards it reads the clock again. The counter rate is measured
/// against `CLOCK_MONOTONIC` and only 90% of it is assumed, so the boundary is always predicted early:
/// a reading is never a millisecond behind the system clock's (a clock step shows within 1 ms).
///
/// The cache is used only where the kernel itself reads the same counter for its clocks (clock source
/// `tsc` on x86-64, `arch_sys_counter` on arm64); elsewhere, and until the rate is known (the first
/// 10 ms of the process: the rate is shared by every cache), every reading calls `clock_gettime`.
/// A value type: keep one per thread or behind a lock.
public struct WallClockMillisecondCache: Sendable {
    /// Whether the cycle counter is the kernel's clock source (read once per process).
    static let counterIsClockSource: Bool = {
        guard rivulet_cycle_counter() != 0 else { return false }
        let path = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
        guard let file = fopen(path, "r") else { return false }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 64)
        guard fgets(&line, Int32(line.count), file) != nil else { return false }
        let bytes = line.prefix { $0 != 0 && $0 != 10 && $0 != 32 }.map { UInt8(bitPattern: $0) }
        let name = String(decoding: bytes, as: UTF8.self)
        return name == String(cString: rivulet_cycle_counter_clocksource())
    }()

    /// The conservative rate the last calibration of any cache found (a `Double`'s bits; 0: none yet),
    /// so that a new cache (a new producer) caches from its first reading.
    static let sharedTicksPerNanosecond = Atomic<UInt64>(0)

    /// The kept millisecond.
    private var cachedMilliseconds: Int64 = 0
    /// The cycle count read just before the kept millisecond.
    private var refreshedAtTicks: UInt64 = 0
    /// The earliest cycle count at which the next millisecond can begin.
    private var validUntilTicks: UInt64 = 0
    /// 90% of the measured counter rate; 0 until measured (or when the counter cannot be used).
    private var ticksPerNanosecond: Double = 0
    /// The start of the rate measurement: a cycle count and the monotonic clock read right after it.
    private var calibrationTicks: UInt64 = 0
    private var calibrationNanoseconds: UInt64 = 0
    /// How many readings called the system clock (for tests and diagnostics).
    public private(set) var clockReads = 0

    public init() {}

    /// The wall clock in milliseconds since the epoch (never behind `clock_gettime(CLOCK_REALTIME)`
    /// by a millisecond or more).
    @inline(__always)
    public mutating func milliseconds() -> Int64 {
        let ticks = rivulet_cycle_counter()
        if ticks >= refreshedAtTicks, ticks < validUntilTicks { return cachedMilliseconds }
        return refresh(ticks: ticks)
    }

    /// Reads the system clock, measures the counter rate, and predicts the next boundary.
    @inline(never)
    private mutating func refresh(ticks: UInt64) -> Int64 {
        clockReads &+= 1
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        let wallNanoseconds = Int64(wall.tv_sec) * 1_000_000_000 + Int64(wall.tv_nsec)
        let milliseconds = wallNanoseconds / 1_000_000
        cachedMilliseconds = milliseconds
        refreshedAtTicks = ticks
        validUntilTicks = ticks // no cache until the rate is known
        guard Self.counterIsClockSource else { return milliseconds }

        var monotonic = timespec()
        clock_gettime(CLOCK_MONOTONIC, &monotonic)
        let monotonicNanoseconds = UInt64(monotonic.tv_sec) * 1_000_000_000 + UInt64(monotonic.tv_nsec)
        if calibrationTicks == 0 || ticks < calibrationTicks || monotonicNanoseconds < calibrationNanoseconds {
            calibrationTicks = ticks
            calibrationNanoseconds = monotonicNanoseconds
            ticksPerNanosecond = Double(bitPattern: Self.sharedTicksPerNanosecond.load(ordering: .relaxed))
        } else if monotonicNanoseconds - calibrationNanoseconds >= 10_000_000 {
            let rate = Double(ticks - calibrationTicks) / Double(monotonicNanoseconds - calibrationNanoseconds)
            // A rate outside 50 MHz ... 20 GHz means the counter is not what we think: no cache.
            ticksPerNanosecond = rate > 0.05 && rate < 20 ? rate * 0.9 : 0
            Self.sharedTicksPerNanosecond.store(ticksPerNanosecond.bitPattern, ordering: .relaxed)
            // Measure again over the next stretch, so a changed rate is noticed.
            if monotonicNanoseconds - calibrationNanoseconds >= 1_000_000_000 {
                calibrationTicks = ticks
                calibrationNanoseconds = monotonicNanoseconds
            }
        }
        if ticksPerNanosecond > 0, wallNanoseconds >= 0 {
            let untilBoundaryNanoseconds = 1_000_000 - wallNanoseconds % 1_000_000
            validUntilTicks = ticks &+ UInt64(Double(untilBoundaryNanoseconds) * ticksPerNanosecond)
        }
        return milliseconds
    }
}
