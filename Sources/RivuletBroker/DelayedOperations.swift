import RivuletCore
import Synchronization

/// A request waiting until a condition holds or a deadline passes (Kafka's `DelayedOperation`):
/// a long-polling fetch waiting for `minBytes`, a produce with acks=all waiting for the high watermark.
///
/// The condition is checked when the operation starts and whenever a partition it watches reports an
/// event (an append, a high watermark move, a state change). It must be cheap and must not block: it
/// runs on the thread of whoever caused the event. Thread-safe; completes exactly once.
public final class DelayedOperation: Sendable {
    /// How a wait ended.
    public enum Outcome: Sendable, Hashable {
        /// The condition held.
        case satisfied
        /// The deadline passed first.
        case expired
        /// The waiting task was cancelled (its connection closed, or the broker is shutting down).
        case cancelled
    }

    private struct State {
        var outcome: Outcome?
        var continuation: CheckedContinuation<Outcome, Never>?
    }

    private let state = Mutex(State())
    private let condition: @Sendable () -> Bool

    /// An operation that is satisfied when `condition` returns true.
    public init(condition: @escaping @Sendable () -> Bool) {
        self.condition = condition
    }

    /// Whether the operation has completed.
    public var isCompleted: Bool { state.withLock { $0.outcome != nil } }

    /// Checks the condition and completes the operation when it holds. Returns whether it is complete.
    @discardableResult
    public func tryComplete() -> Bool {
        if isCompleted { return true }
        guard condition() else { return false }
        complete(.satisfied)
        return true
    }

    /// Completes the operation with `outcome` unless it completed already. Returns whether this call completed it.
    @discardableResult
    public func complete(_ outcome: Outcome) -> Bool {
        let (completed, continuation) = state.withLock { state -> (Bool, CheckedContinuation<Outcome, Never>?) in
            guard state.outcome == nil else { return (false, nil) }
            state.outcome = outcome
            let continuation = state.continuation
            state.continuation = nil
            return (true, continuation)
        }
        continuation?.resume(returning: outcome)
        return completed
    }

    /// Suspends until the operation completes.
    func wait() async -> Outcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            let ready = state.withLock { state -> Outcome? in
                if let outcome = state.outcome { return outcome }
                state.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// The operations waiting on one partition (Kafka's purgatory "watchers" for one key).
///
/// The partition calls `checkAll()` after every event that could satisfy a waiter; operations
/// remove themselves when they complete. Thread-safe.
public final class OperationWatchers: Sendable {
    private let operations = Mutex<[ObjectIdentifier: DelayedOperation]>([:])

    public init() {}

    /// The number of operations waiting.
    public var count: Int { operations.withLock { $0.count } }

    func watch(_ operation: DelayedOperation) {
        operations.withLock { $0[ObjectIdentifier(operation)] = operation }
    }

    func unwatch(_ operation: DelayedOperation) {
        _ = operations.withLock { $0.removeValue(forKey: ObjectIdentifier(operation)) }
    }

    /// Checks every waiting operation's condition (outside the watchers' lock).
    public func checkAll() {
        let waiting = operations.withLock { $0.isEmpty ? [] : Array($0.values) }
        for operation in waiting { operation.tryComplete() }
    }
}

/// Waits for delayed operations on an `EngineClock`, so long polls run on a `ManualClock` in tests.
public enum DelayedOperations {
    /// Waits until `condition` holds, checking it now and whenever one of `watchers` fires, or until
    /// `timeoutMs` of `clock` time has passed, or until the calling task is cancelled.
    public static func wait(until condition: @escaping @Sendable () -> Bool, watching watchers: [OperationWatchers],
                            timeoutMs: Int64, clock: any EngineClock) async -> DelayedOperation.Outcome {
        let operation = DelayedOperation(condition: condition)
        for watcher in watchers { watcher.watch(operation) }
        defer { for watcher in watchers { watcher.unwatch(operation) } }
        // Checked after watching, so an event between the caller's last look and now is not lost.
        if operation.tryComplete() { return .satisfied }
        guard timeoutMs > 0 else { return .expired }
        let nanoseconds = UInt64(min(timeoutMs, Int64.max / 1_000_000)) * 1_000_000
        let timer = Task {
            do {
                try await clock.sleep(nanoseconds: nanoseconds)
                operation.complete(.expired)
            } catch {
                // Cancelled: the operation completed some other way.
            }
        }
        let outcome = await withTaskCancellationHandler {
            await operation.wait()
        } onCancel: {
            operation.complete(.cancelled)
        }
        timer.cancel()
        return outcome
    }
}
