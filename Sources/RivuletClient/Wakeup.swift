import RivuletCore
import Synchronization

/// A one-waiter signal with an optional deadline: the producer's sender and the consumer's poll
/// sleep on it until there is work or a timer (linger, backoff, poll timeout) runs out.
///
/// A `signal()` that arrives while nobody waits is remembered, so it is never lost. Thread-safe.
@usableFromInline
final class Wakeup: Sendable {
    private struct State {
        var signaled = false
        var waiter: CheckedContinuation<Void, Never>?
        var waiterID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Wakes the waiter, or the next `wait` if nobody waits now.
    @usableFromInline
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.signaled = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next signal (at once if one is pending), or once `clock`'s monotonic reading
    /// reaches `deadlineNanoseconds` (an absolute deadline, so time that passes while the wait is
    /// being set up still counts). One waiter at a time.
    func wait(clock: any EngineClock, deadlineNanoseconds: UInt64?) async {
        if state.withLock({ state -> Bool in
            guard state.signaled else { return false }
            state.signaled = false
            return true
        }) { return }
        if let deadlineNanoseconds, clock.monotonicNanoseconds() >= deadlineNanoseconds { return }
        let id = state.withLock { state -> UInt64 in
            state.waiterID &+= 1
            return state.waiterID
        }
        let timer: Task<Void, Never>? = deadlineNanoseconds.map { deadline in
            Task {
                while true {
                    let now = clock.monotonicNanoseconds()
                    if now >= deadline { break }
                    do { try await clock.sleep(nanoseconds: deadline - now) } catch { return }
                }
                self.timeout(id: id)
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.signaled || state.waiterID != id {
                    state.signaled = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer?.cancel()
    }

    private func timeout(id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.waiterID == id else { return nil }
            // Invalidate this wait, so a timer firing before the continuation is stored resumes it.
            state.waiterID &+= 1
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
