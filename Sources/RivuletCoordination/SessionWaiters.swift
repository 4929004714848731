/// Tasks waiting for a session to become usable (connected and not paused). Not thread-safe: lives
/// inside its owner's lock; resuming a continuation there is safe (it only schedules the task).
struct SessionWaiters: Sendable {
    private var waiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    private var nextID: UInt64 = 0

    mutating func makeID() -> UInt64 {
        nextID += 1
        return nextID
    }

    mutating func add(_ id: UInt64, _ continuation: CheckedContinuation<Void, any Error>) {
        waiters[id] = continuation
    }

    mutating func remove(_ id: UInt64) -> CheckedContinuation<Void, any Error>? {
        waiters.removeValue(forKey: id)
    }

    /// Wakes every waiter: with success when `error` is nil, else with `error`.
    mutating func resumeAll(throwing error: (any Error)? = nil) {
        let all = waiters.values
        waiters.removeAll()
        for waiter in all {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }
}
