import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The source of time for every engine component (log rolling, retention, sessions, long polls,
/// rate limiting). Core types take an `EngineClock` instead of calling the system clock, so an
/// in-process cluster can run on a `ManualClock` and a failing seed replays exactly.
///
/// Two readings are offered because Kafka needs both: wall time in milliseconds since the Unix epoch
/// (record timestamps, `retention.ms`, `segment.ms`) and a monotonic reading in nanoseconds
/// (timeouts, latency). Implementations are thread-safe.
public protocol EngineClock: Sendable {
    /// Wall-clock time in milliseconds since 1970-01-01T00:00:00Z.
    func wallMilliseconds() -> Int64
    /// Monotonic time in nanoseconds from an arbitrary origin; never goes backwards.
    func monotonicNanoseconds() -> UInt64
    /// Suspends the caller for `nanoseconds` of this clock's monotonic time.
    /// Throws `CancellationError` when the task is cancelled.
    func sleep(nanoseconds: UInt64) async throws
    /// Suspends the caller until the monotonic reading reaches `deadlineNanoseconds`.
    /// Throws `CancellationError` when the task is cancelled.
    func sleep(untilMonotonicNanoseconds deadlineNanoseconds: UInt64) async throws
}

extension EngineClock {
    /// Monotonic time in milliseconds.
    @inlinable
    public func monotonicMilliseconds() -> Int64 { Int64(monotonicNanoseconds() / 1_000_000) }

    /// Suspends the caller for `duration`.
    public func sleep(for duration: Duration) async throws {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = max(0, seconds) * 1_000_000_000 + max(0, attoseconds / 1_000_000_000)
        try await sleep(nanoseconds: UInt64(nanoseconds))
    }

    /// Suspends the caller until the monotonic reading reaches `deadlineNanoseconds`.
    public func sleep(untilMonotonicNanoseconds deadlineNanoseconds: UInt64) async throws {
        let now = monotonicNanoseconds()
        if deadlineNanoseconds > now { try await sleep(nanoseconds: deadlineNanoseconds - now) }
    }
}

/// The operating system's clocks: `CLOCK_REALTIME` for wall time, `CLOCK_MONOTONIC` for durations.
public struct SystemClock: EngineClock {
    public init() {}

    @inlinable
    public func wallMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    @inlinable
    public func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    public func sleep(nanoseconds: UInt64) async throws {
        try await Task.sleep(nanoseconds: nanoseconds)
    }
}

/// A clock that moves only when told to, for deterministic tests and simulation.
///
/// `sleep` suspends until `advance(by:)` moves the monotonic reading past the sleeper's deadline;
/// sleepers wake in deadline order. Wall time moves in step with monotonic time.
public final class ManualClock: EngineClock {
    private struct Sleeper {
        let id: UInt64
        let deadlineNanoseconds: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var monotonicNanoseconds: UInt64
        var wallOriginMilliseconds: Int64
        var sleepers: [Sleeper] = []
        var nextSleeperID: UInt64 = 0
    }

    private let state: Mutex<State>

    /// Creates a clock reading `wallMilliseconds` of wall time and zero monotonic time.
    public init(wallMilliseconds: Int64 = 1_700_000_000_000) {
        state = Mutex(State(monotonicNanoseconds: 0, wallOriginMilliseconds: wallMilliseconds))
    }

    public func wallMilliseconds() -> Int64 {
        state.withLock { $0.wallOriginMilliseconds + Int64($0.monotonicNanoseconds / 1_000_000) }
    }

    public func monotonicNanoseconds() -> UInt64 {
        state.withLock { $0.monotonicNanoseconds }
    }

    /// The number of tasks currently sleeping on this clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(nanoseconds: UInt64) async throws {
        let deadline = state.withLock { $0.monotonicNanoseconds &+ nanoseconds }
        try await sleep(untilMonotonicNanoseconds: nanoseconds == 0 ? 0 : deadline)
    }

    /// Sleeps until an absolute deadline, so an `advance` racing with the call can never push the
    /// deadline later (a relative sleep computed from a stale reading would).
    public func sleep(untilMonotonicNanoseconds deadlineNanoseconds: UInt64) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextSleeperID += 1
            return state.nextSleeperID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { state in
                    if deadlineNanoseconds <= state.monotonicNanoseconds || Task.isCancelled { return true }
                    state.sleepers.append(Sleeper(
                        id: id, deadlineNanoseconds: deadlineNanoseconds, continuation: continuation))
                    return false
                }
                if resumeNow {
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has passed, earliest first.
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        advance(nanoseconds: UInt64(max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)))
    }

    /// Moves time forward by `nanoseconds` and wakes every sleeper whose deadline has passed.
    public func advance(nanoseconds: UInt64) {
        let due = state.withLock { state -> [Sleeper] in
            state.monotonicNanoseconds &+= nanoseconds
            let now = state.monotonicNanoseconds
            let due = state.sleepers.filter { $0.deadlineNanoseconds <= now }
            state.sleepers.removeAll { $0.deadlineNanoseconds <= now }
            return due.sorted { $0.deadlineNanoseconds < $1.deadlineNanoseconds }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
