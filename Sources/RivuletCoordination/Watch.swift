import RivuletCore
import Synchronization

/// Which ZooKeeper watch table a watch lives in; decides which events fire it.
public enum WatchKind: Sendable, Hashable {
    /// Set by `getData`, or by `exists` on an existing node: fires on data change and delete.
    case data
    /// Set by `exists` on a missing node: fires on create.
    case exists
    /// Set by `getChildren`: fires on a child create or delete, and on delete of the node itself.
    case children
}

/// A one-shot watch: it fires at most once, with the first matching change after it was set.
///
/// Await `event()` to get the notification. Every awaiter gets the same event, and awaiting a watch that
/// already fired returns at once. If the session expires or is closed before the watch fires, `event()`
/// throws `CoordinatorError.sessionExpired` or `.sessionClosed`. While a session is suspended its watches
/// stay pending (the ZooKeeper client re-registers them when it reconnects). Thread-safe.
public final class Watch: Sendable, CustomStringConvertible {
    /// The watched path, as the caller sees it.
    public let path: String
    /// The watch table this watch lives in.
    public let kind: WatchKind

    private enum Outcome {
        case pending
        case fired(WatchedEvent)
        case failed(CoordinatorError)
    }

    private struct State {
        var outcome: Outcome = .pending
        var waiters: [UInt64: CheckedContinuation<WatchedEvent, any Error>] = [:]
        var nextWaiterID: UInt64 = 0
    }

    private let state = Mutex(State())

    init(path: String, kind: WatchKind) {
        self.path = path
        self.kind = kind
    }

    /// The event, once the watch has fired; `nil` while pending or after its session ended.
    public var firedEvent: WatchedEvent? {
        state.withLock { state in
            if case .fired(let event) = state.outcome { return event }
            return nil
        }
    }

    /// Whether the watch has neither fired nor been ended with its session.
    public var isPending: Bool {
        state.withLock { state in
            if case .pending = state.outcome { return true }
            return false
        }
    }

    /// Waits for the notification. Throws the session's end (`sessionExpired`, `sessionClosed`) if it
    /// comes first, or `CancellationError` when the calling task is cancelled (the watch stays armed).
    public func event() async throws -> WatchedEvent {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<WatchedEvent, any Error>) in
                state.withLock { state in
                    switch state.outcome {
                    case .fired(let event): continuation.resume(returning: event)
                    case .failed(let error): continuation.resume(throwing: error)
                    case .pending:
                        if Task.isCancelled {
                            continuation.resume(throwing: CancellationError())
                        } else {
                            state.waiters[id] = continuation
                        }
                    }
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Waits for the notification for at most `timeout` of `clock`'s time; `nil` when it did not fire
    /// in time. Throws like `event()`.
    public func event(within timeout: Duration, clock: any EngineClock) async throws -> WatchedEvent? {
        try await withThrowingTaskGroup(of: WatchedEvent?.self) { group in
            group.addTask { try await self.event() }
            group.addTask {
                try await clock.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { return nil }
            return first
        }
    }

    /// Fires the watch; later calls are ignored (one-shot). Returns whether this call fired it.
    @discardableResult
    func fire(_ type: WatchEventType) -> Bool {
        let event = WatchedEvent(type: type, path: path)
        let waiters = state.withLock { state -> [CheckedContinuation<WatchedEvent, any Error>]? in
            guard case .pending = state.outcome else { return nil }
            state.outcome = .fired(event)
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: event) }
        return true
    }

    /// Ends a pending watch because its session ended.
    func fail(_ error: CoordinatorError) {
        let waiters = state.withLock { state -> [CheckedContinuation<WatchedEvent, any Error>] in
            guard case .pending = state.outcome else { return [] }
            state.outcome = .failed(error)
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    public var description: String {
        let status: String = state.withLock { state in
            switch state.outcome {
            case .pending: "pending"
            case .fired(let event): "fired(\(event.type))"
            case .failed(let error): "ended(\(error))"
            }
        }
        return "Watch(\(kind) \(path), \(status))"
    }
}
