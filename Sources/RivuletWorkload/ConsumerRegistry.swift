import Synchronization

/// The run's live consumers by index: created at setup, killed or added by consumer faults,
/// paused and resumed for a backlog, closed at the end. A consumer created while consumers are
/// paused starts paused. Thread-safe.
final class ConsumerRegistry: Sendable {
    private struct State: Sendable {
        var consumers: [Int: any WorkloadConsumer] = [:]
        var nextIndex = 0
        var paused = false
        var firstSubscription: WorkloadConsumerInfo?
    }

    private let state = Mutex(State())
    private let driver: any WorkloadDriver
    private let handler: WorkloadReceiveHandler

    init(driver: any WorkloadDriver, handler: @escaping WorkloadReceiveHandler) {
        self.driver = driver
        self.handler = handler
    }

    /// Creates a consumer through the driver and registers it.
    func create(topic: String, subscription: String) async throws -> Int {
        let index = state.withLock { state -> Int in
            defer { state.nextIndex += 1 }
            return state.nextIndex
        }
        let info = WorkloadConsumerInfo(index: index, topic: topic, subscription: subscription)
        let consumer = try await driver.createConsumer(info, handler: handler)
        let paused = state.withLock { state -> Bool in
            state.consumers[index] = consumer
            if state.firstSubscription == nil { state.firstSubscription = info }
            return state.paused
        }
        if paused { await consumer.pause() }
        return index
    }

    /// Adds a consumer to the first subscription of the first topic (`add consumer`); returns its index.
    func addToFirstSubscription() async throws -> Int {
        guard let first = state.withLock({ $0.firstSubscription }) else {
            throw WorkloadRunError.faultFailed("there is no subscription to add a consumer to")
        }
        return try await create(topic: first.topic, subscription: first.subscription)
    }

    /// Kills consumer `index` (`kill consumer N`); false when there is no such live consumer.
    func kill(_ index: Int) async -> Bool {
        guard let consumer = state.withLock({ $0.consumers.removeValue(forKey: index) }) else { return false }
        await consumer.kill()
        return true
    }

    /// Pauses every consumer, and any created later, until `resumeAll`.
    func pauseAll() async {
        let consumers = state.withLock { state -> [any WorkloadConsumer] in
            state.paused = true
            return Array(state.consumers.values)
        }
        for consumer in consumers { await consumer.pause() }
    }

    /// Resumes every consumer.
    func resumeAll() async {
        let consumers = state.withLock { state -> [any WorkloadConsumer] in
            state.paused = false
            return Array(state.consumers.values)
        }
        for consumer in consumers { await consumer.resume() }
    }

    /// Closes every consumer.
    func closeAll() async {
        let consumers = state.withLock { state -> [any WorkloadConsumer] in
            defer { state.consumers = [:] }
            return Array(state.consumers.values)
        }
        for consumer in consumers { await consumer.close() }
    }

    /// Number of live consumers.
    var count: Int { state.withLock { $0.consumers.count } }
}
