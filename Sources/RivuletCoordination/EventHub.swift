import Synchronization

/// Fans a session's events out to every `events()` subscriber, each with its own bounded buffer.
///
/// A subscriber that falls `bufferedEventsMax` events behind has its stream finished with
/// `CoordinatorError.eventsOverflow` instead of growing without bound. Thread-safe; never calls out while
/// holding its lock, so it may be used from inside an owner's lock.
final class EventHub: Sendable {
    typealias Stream = AsyncThrowingStream<CoordinatorEvent, any Error>

    private struct State {
        var subscribers: [UInt64: Stream.Continuation] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = Mutex(State())
    let bufferedEventsMax: Int

    init(bufferedEventsMax: Int = 10_000) {
        self.bufferedEventsMax = max(1, bufferedEventsMax)
    }

    /// A new stream that starts with `initial` (the current state); already finished if the hub is.
    func subscribe(initial: CoordinatorEvent) -> Stream {
        let (stream, continuation) = Stream.makeStream(bufferingPolicy: .bufferingOldest(bufferedEventsMax))
        let (id, finished) = state.withLock { state -> (UInt64, Bool) in
            state.nextID += 1
            if !state.finished { state.subscribers[state.nextID] = continuation }
            return (state.nextID, state.finished)
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        continuation.yield(initial)
        if finished { continuation.finish() }
        return stream
    }

    /// Delivers `event` to every subscriber; a subscriber whose buffer is full is ended with an error.
    func yield(_ event: CoordinatorEvent) {
        let subscribers = state.withLock { Array($0.subscribers) }
        for (id, continuation) in subscribers {
            if case .dropped = continuation.yield(event) {
                _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
                continuation.finish(throwing: CoordinatorError.eventsOverflow(limit: bufferedEventsMax))
            }
        }
    }

    /// Delivers a final event and ends every stream; later subscribers get an ended stream.
    func finish(with event: CoordinatorEvent) {
        let subscribers = state.withLock { state -> [Stream.Continuation] in
            state.finished = true
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in subscribers {
            continuation.yield(event)
            continuation.finish()
        }
    }
}
