import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization

/// Wraps a request handler (a broker) to inject faults that work on every transport: answers of
/// chosen APIs delayed by a number of milliseconds (the request takes effect at once, its answer
/// comes late, like a slow network or a slow disk behind the ack), and a pause that holds every
/// request until resumed (a stalled broker). Used by the workload runner's `delay` and `pause` faults.
///
/// Delays are measured on `clock`. Thread-safe.
public final class FaultyRequestHandler: KafkaRequestHandler {
    private struct State {
        var delaysMs: [ApiKey: Int64] = [:]
        var paused = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    /// The wrapped handler.
    public let inner: any KafkaRequestHandler
    private let clock: any EngineClock
    private let state = Mutex(State())

    /// Wraps `inner`; no fault is active until one is set.
    public init(wrapping inner: any KafkaRequestHandler, clock: any EngineClock = SystemClock()) {
        self.inner = inner
        self.clock = clock
    }

    /// Delays the answers of `apis` by `delayMs` milliseconds (0 removes the delay).
    public func setDelay(_ delayMs: Int64, for apis: Set<ApiKey>) {
        state.withLock { state in
            for api in apis {
                if delayMs > 0 { state.delaysMs[api] = delayMs } else { state.delaysMs.removeValue(forKey: api) }
            }
        }
    }

    /// Delays the answers of every API by `delayMs` milliseconds.
    public func setDelayForAllApis(_ delayMs: Int64) {
        setDelay(delayMs, for: Set(ApiKey.allCases))
    }

    /// Removes every delay.
    public func clearDelays() {
        state.withLock { $0.delaysMs.removeAll() }
    }

    /// The delay of `api`'s answers in milliseconds (0 when none).
    public func delayMs(for api: ApiKey) -> Int64 {
        state.withLock { $0.delaysMs[api] ?? 0 }
    }

    /// Holds every request (new and queued) until `resume()`.
    public func pause() {
        state.withLock { $0.paused = true }
    }

    /// Lets held requests through.
    public func resume() {
        let waiting = state.withLock { state in
            state.paused = false
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Whether requests are held.
    public var isPaused: Bool { state.withLock { $0.paused } }

    public func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let proceed = state.withLock { state -> Bool in
                guard state.paused else { return true }
                state.waiting.append(continuation)
                return false
            }
            if proceed { continuation.resume() }
        }
        let response = await inner.handle(request, context: context)
        let delayMs = delayMs(for: request.apiKey)
        if delayMs > 0 {
            try? await clock.sleep(nanoseconds: UInt64(min(delayMs, Int64.max / 1_000_000)) * 1_000_000)
        }
        return response
    }

    public func connectionClosed(connectionID: UInt64) async {
        await inner.connectionClosed(connectionID: connectionID)
    }
}
