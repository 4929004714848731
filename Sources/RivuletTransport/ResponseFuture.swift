import Synchronization

/// A value that arrives later, awaited by any number of tasks: the response to an enqueued request.
///
/// Completed exactly once (later completions are ignored). Cheap: one allocation per request.
public final class ResponseFuture<Value: Sendable>: Sendable {
    private enum State {
        case pending([CheckedContinuation<Value, any Error>])
        case done(Result<Value, any Error>)
    }

    private let state = Mutex<State>(.pending([]))

    public init() {}

    /// A future that is already complete.
    public static func completed(_ result: Result<Value, any Error>) -> ResponseFuture<Value> {
        let future = ResponseFuture<Value>()
        future.complete(result)
        return future
    }

    /// Completes the future; the first completion wins.
    public func complete(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            guard case let .pending(waiters) = state else { return [] }
            state = .done(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    public func succeed(_ value: Value) { complete(.success(value)) }
    public func fail(_ error: any Error) { complete(.failure(error)) }

    /// Whether the future has completed.
    public var isComplete: Bool {
        state.withLock { if case .done = $0 { true } else { false } }
    }

    /// The result, if complete, without waiting.
    public var result: Result<Value, any Error>? {
        state.withLock { if case let .done(result) = $0 { result } else { nil } }
    }

    /// Waits for the value. Waiting does not react to task cancellation: the request is already
    /// on its way and its response (or the connection's failure) will complete the future.
    public var value: Value {
        get async throws {
            if let result { return try result.get() }
            return try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<Value, any Error>? in
                    switch state {
                    case let .done(result):
                        return result
                    case var .pending(waiters):
                        waiters.append(continuation)
                        state = .pending(waiters)
                        return nil
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }
}
