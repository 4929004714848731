import NIOCore
import RivuletCore
import Synchronization

/// The reference `WorkloadDriver`: topics, partitions, subscriptions and brokers simulated in
/// memory, with knobs that make a system under test behave like one: an acknowledgement latency,
/// a produce capacity (records/s, served in order like a single log device), a per-consumer
/// capacity, stalls, and broker faults. The runner's tests use it; it also documents the driver
/// contract in executable form.
///
/// Semantics: a record is delivered to every subscription of its topic when it is acknowledged
/// (like a high watermark). Records without a key go to one partition per send batch, round robin
/// per producer (sticky partitioning); keyed records go to `hash(key) % partitions`. Consumers of
/// a subscription share its partitions (partition p belongs to member `p % members`), rebalanced
/// at once when a member joins, closes or is killed; records queued on a partition stay for its
/// next owner. Partition p of a topic is led by broker `p % brokers`; replicas are the next
/// `replicationFactor - 1` brokers. A killed or partitioned leader fails sends with
/// `NOT_LEADER_OR_FOLLOWER` until `leaderElectionDelay` has passed, then leadership moves to the
/// next live replica (only with replicas); a paused broker withholds acknowledgements until
/// resumed; a delayed broker adds its delay.
///
/// Isolation: thread-safe; state behind one `Mutex`. Background work: one completion task while
/// acknowledgements are pending and one task per consumer, all on the given `EngineClock`, all
/// stopped by `close()`.
public final class InMemoryWorkloadDriver: WorkloadDriver, WorkloadFaultInjector {
    /// Behaviour of the simulated system.
    public struct Configuration: Sendable {
        /// Number of simulated brokers (>= 1).
        public var brokers: Int
        /// Added to every acknowledgement.
        public var produceLatency: Duration
        /// Records per second the simulated log accepts over all partitions; nil for unlimited.
        public var produceCapacityRecordsPerSecond: Double?
        /// Records per second each consumer processes; nil for unlimited.
        public var consumeCapacityRecordsPerSecond: Double?
        /// How long after a leader dies its partitions get a new leader (only with replicas).
        public var leaderElectionDelay: Duration
        /// Value bytes queued for consumers over all subscriptions before sends fail
        /// (`KAFKA_STORAGE_ERROR`); bounds the driver's memory.
        public var queuedBytesMax: Int
        /// Records per delivered batch.
        public var fetchRecordsMax: Int
        /// How often the completion task looks for due acknowledgements (consumers are woken by delivery).
        public var pollInterval: Duration

        public init(brokers: Int = 1, produceLatency: Duration = .zero, produceCapacityRecordsPerSecond: Double? = nil,
                    consumeCapacityRecordsPerSecond: Double? = nil, leaderElectionDelay: Duration = .milliseconds(100),
                    queuedBytesMax: Int = 512 << 20, fetchRecordsMax: Int = 1000, pollInterval: Duration = .milliseconds(1)) {
            self.brokers = max(1, brokers)
            self.produceLatency = produceLatency
            self.produceCapacityRecordsPerSecond = produceCapacityRecordsPerSecond
            self.consumeCapacityRecordsPerSecond = consumeCapacityRecordsPerSecond
            self.leaderElectionDelay = leaderElectionDelay
            self.queuedBytesMax = queuedBytesMax
            self.fetchRecordsMax = max(1, fetchRecordsMax)
            self.pollInterval = pollInterval
        }
    }

    /// Why a fault or setup call was refused.
    public struct DriverError: Error, Sendable, Equatable, CustomStringConvertible {
        /// What was refused and why.
        public let message: String
        public var description: String { message }
    }

    /// `in-memory`.
    public let name = "in-memory"
    /// The simulated system's behaviour.
    public let configuration: Configuration
    let clock: any EngineClock
    private let state: Mutex<State>

    /// A driver simulating `configuration` on `clock` (use the runner's clock).
    public init(configuration: Configuration = Configuration(), clock: any EngineClock = SystemClock()) {
        self.configuration = configuration
        self.clock = clock
        state = Mutex(State(brokers: Array(repeating: BrokerState(), count: configuration.brokers)))
    }

    public var faultInjector: (any WorkloadFaultInjector)? { self }

    // MARK: Test controls

    /// Withholds every acknowledgement until `duration` from now (the simulated system stalls).
    public func stall(for duration: Duration) {
        let until = clock.monotonicNanoseconds() &+ duration.nanosecondsClamped
        state.withLock { $0.stallUntilNanoseconds = max($0.stallUntilNanoseconds, until) }
    }

    /// Changes the produce capacity from now on (nil removes the limit).
    public func setProduceCapacity(recordsPerSecond: Double?) {
        state.withLock { $0.produceCapacityOverride = .some(recordsPerSecond) }
    }

    /// Records delivered to each subscription so far, by subscription name.
    public var deliveredRecords: [String: Int64] {
        state.withLock { state in
            var result: [String: Int64] = [:]
            for topic in state.topics.values {
                for (name, subscription) in topic.subscriptions { result[name, default: 0] += subscription.delivered }
            }
            return result
        }
    }

    /// Records queued for consumers and not yet delivered, over all subscriptions.
    public var queuedRecords: Int { state.withLock { $0.queuedRecords } }

    /// Indices of consumers currently paused.
    public var pausedConsumers: Set<Int> {
        state.withLock { Set($0.consumers.filter { $0.value.paused && !$0.value.closed }.keys) }
    }

    /// The leader of `partition` of `topic` now.
    public func leader(topic: String, partition: Int) -> Int? {
        state.withLock { state in
            guard let topicState = state.topics[topic], partition >= 0, partition < topicState.leaders.count else { return nil }
            return topicState.leaders[partition]
        }
    }

    // MARK: WorkloadDriver

    public func createTopics(_ topics: [WorkloadTopic]) async throws {
        try state.withLock { state throws(DriverError) in
            for topic in topics {
                guard topic.partitions >= 1 else { throw DriverError(message: "topic \(topic.name) needs at least 1 partition") }
                guard topic.replicationFactor >= 1, topic.replicationFactor <= state.brokers.count else {
                    throw DriverError(message: "replication factor \(topic.replicationFactor) needs 1...\(state.brokers.count) brokers")
                }
                guard state.topics[topic.name] == nil else { throw DriverError(message: "topic \(topic.name) already exists") }
                state.topics[topic.name] = TopicState(
                    partitions: topic.partitions, replicationFactor: topic.replicationFactor,
                    leaders: (0 ..< topic.partitions).map { $0 % state.brokers.count })
                state.topicOrder.append(topic.name)
            }
        }
    }

    public func createProducer(_ info: WorkloadProducerInfo) async throws -> any WorkloadProducer {
        guard state.withLock({ $0.topics[info.topic] != nil }) else {
            throw DriverError(message: "unknown topic \(info.topic)")
        }
        return InMemoryProducer(driver: self, info: info)
    }

    public func createConsumer(_ info: WorkloadConsumerInfo, handler: @escaping WorkloadReceiveHandler) async throws -> any WorkloadConsumer {
        let (doorbell, ring) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        try state.withLock { state throws(DriverError) in
            guard state.topics[info.topic] != nil else { throw DriverError(message: "unknown topic \(info.topic)") }
            guard state.consumers[info.index] == nil else { throw DriverError(message: "consumer \(info.index) already exists") }
            state.topics[info.topic]?.join(info.subscription, member: info.index)
            state.consumers[info.index] = ConsumerState(topic: info.topic, subscription: info.subscription, doorbell: ring)
            state.ringSubscription(topic: info.topic, subscription: info.subscription)
        }
        ring.yield()
        let consumer = InMemoryConsumer(driver: self, index: info.index)
        let task = Task { [weak self] in
            guard let self else { return }
            await self.consumeLoop(index: info.index, doorbell: doorbell, handler: handler)
        }
        state.withLock { $0.consumerTasks[info.index] = task }
        return consumer
    }

    public func close() async {
        let (tasks, abandoned) = state.withLock { state -> ([Task<Void, Never>], [PendingAck]) in
            state.closed = true
            for key in state.consumers.keys {
                state.consumers[key]?.closed = true
                state.consumers[key]?.doorbell?.finish()
            }
            let tasks = Array(state.consumerTasks.values) + (state.completerTask.map { [$0] } ?? [])
            state.consumerTasks = [:]
            state.completerTask = nil
            let abandoned = state.pending + state.held
            state.pending = []
            state.held = []
            return (tasks, abandoned)
        }
        for ack in abandoned {
            var result = ack.result
            result.error = WorkloadSendError(code: "CLOSED", message: "the driver closed before the record was acknowledged")
            ack.completion(result)
        }
        for task in tasks {
            task.cancel()
            await task.value
        }
    }

    // MARK: Producing

    fileprivate func accept(_ batch: WorkloadSendBatch, producer: InMemoryProducer, completion: @escaping WorkloadSendCompletion) {
        let now = clock.monotonicNanoseconds()
        let (immediate, startCompleter) = state.withLock { state in
            acceptLocked(&state, batch: batch, producer: producer, completion: completion, now: now)
        }
        if startCompleter { ensureCompleter() }
        for result in immediate { completion(result) }
    }

    /// Partitions, offsets and schedules the acknowledgements of `batch`; returns the results to
    /// complete at once and whether acknowledgements were queued for later.
    private func acceptLocked(_ state: inout State, batch: WorkloadSendBatch, producer: InMemoryProducer,
                              completion: @escaping WorkloadSendCompletion, now: UInt64) -> ([WorkloadSendResult], Bool) {
        var immediate: [WorkloadSendResult] = []
        guard !state.closed, var topic = state.topics[batch.topic] else {
            let code = state.closed ? "CLOSED" : "UNKNOWN_TOPIC_OR_PARTITION"
            immediate.append(WorkloadSendResult(records: 0 ..< batch.records.count, partition: -1, baseOffset: -1,
                                                error: WorkloadSendError(code: code, message: "topic \(batch.topic)")))
            return (immediate, false)
        }
        let fireAndForget = producer.info.config.acks == .none
        let electionNanoseconds = configuration.leaderElectionDelay.nanosecondsClamped
        let sticky = producer.nextStickyPartition(partitions: topic.partitions)
        var queued = false
        var runStart = 0
        while runStart < batch.records.count {
            let partition = Self.partition(of: batch.records[runStart], partitions: topic.partitions, sticky: sticky)
            var runEnd = runStart + 1
            while runEnd < batch.records.count,
                  Self.partition(of: batch.records[runEnd], partitions: topic.partitions, sticky: sticky) == partition {
                runEnd += 1
            }
            let range = runStart ..< runEnd
            runStart = runEnd
            let count = range.count
            guard let leader = state.availableLeader(of: &topic, partition: partition, now: now, electionNanoseconds: electionNanoseconds) else {
                immediate.append(WorkloadSendResult(records: range, partition: Int32(partition), baseOffset: -1,
                                                    error: WorkloadSendError(code: "NOT_LEADER_OR_FOLLOWER",
                                                                             message: "partition \(partition) has no live leader")))
                continue
            }
            let bytes = batch.records[range].reduce(0) { $0 + $1.value.readableBytes } * topic.subscriptions.count
            guard state.queuedBytes + bytes <= configuration.queuedBytesMax else {
                immediate.append(WorkloadSendResult(records: range, partition: Int32(partition), baseOffset: -1,
                                                    error: WorkloadSendError(code: "KAFKA_STORAGE_ERROR", message: "the in-memory queue is full")))
                continue
            }
            let baseOffset = topic.nextOffset[partition]
            topic.nextOffset[partition] += Int64(count)
            var due = now
            let capacity = state.produceCapacityOverride ?? configuration.produceCapacityRecordsPerSecond
            if let capacity, capacity > 0 {
                let start = max(now, state.busyUntilNanoseconds)
                due = start &+ UInt64(Double(count) * 1e9 / capacity)
                state.busyUntilNanoseconds = due
            }
            due = due &+ configuration.produceLatency.nanosecondsClamped &+ state.brokers[leader].delayNanoseconds
            due = max(due, state.stallUntilNanoseconds)
            let values = batch.records[range].map(\.value)
            let result = WorkloadSendResult(records: range, partition: Int32(partition), baseOffset: fireAndForget ? -1 : baseOffset)
            if fireAndForget { immediate.append(result) }
            var ackCompletion: WorkloadSendCompletion = completion
            if fireAndForget { ackCompletion = { _ in } }
            let ack = PendingAck(dueNanoseconds: due, broker: leader, topic: batch.topic, partition: partition, baseOffset: baseOffset,
                                 values: values, result: result, completion: ackCompletion)
            if state.brokers[leader].paused {
                state.held.append(ack)
            } else if due <= now {
                state.deliver(ack, into: &topic)
                if !fireAndForget { immediate.append(result) }
            } else {
                state.insertPending(ack)
                queued = true
            }
        }
        state.topics[batch.topic] = topic
        return (immediate, queued)
    }

    private static func partition(of record: WorkloadRecord, partitions: Int, sticky: Int) -> Int {
        guard let key = record.key else { return sticky }
        // FNV-1a over the key bytes.
        var hash: UInt32 = 2_166_136_261
        key.withUnsafeReadableBytes { bytes in
            for byte in bytes { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        }
        return Int(hash % UInt32(partitions))
    }

    /// Delivers due acknowledgements until the driver closes; the only task that completes pending sends.
    private func completeLoop() async {
        let poll = configuration.pollInterval.nanosecondsClamped
        while true {
            let now = clock.monotonicNanoseconds()
            let (due, next, closed) = state.withLock { state -> ([PendingAck], UInt64?, Bool) in
                if state.closed { return ([], nil, true) }
                var due: [PendingAck] = []
                var cut = 0
                while cut < state.pending.count, state.pending[cut].dueNanoseconds <= now { cut += 1 }
                if cut > 0 {
                    due = Array(state.pending[0 ..< cut])
                    state.pending.removeFirst(cut)
                    for ack in due {
                        if var topic = state.topics[ack.topic] {
                            state.deliver(ack, into: &topic)
                            state.topics[ack.topic] = topic
                        }
                    }
                }
                return (due, state.pending.first?.dueNanoseconds, false)
            }
            if closed { return }
            for ack in due { ack.completion(ack.result) }
            let wait = next.map { $0 > now ? min($0 - now, poll) : 0 } ?? poll
            do {
                if wait > 0 { try await clock.sleep(nanoseconds: wait) } else { await Task.yield() }
            } catch {
                return
            }
        }
    }

    // MARK: Consuming

    /// Delivers batches to one consumer: drains what is queued for it, then waits for the doorbell.
    private func consumeLoop(index: Int, doorbell: AsyncStream<Void>, handler: WorkloadReceiveHandler) async {
        let capacity = configuration.consumeCapacityRecordsPerSecond
        for await _ in doorbell {
            while !Task.isCancelled {
                let (batch, stop) = state.withLock { state -> (WorkloadReceivedBatch?, Bool) in
                    state.fetch(consumer: index, max: configuration.fetchRecordsMax)
                }
                if stop { return }
                guard let batch else { break }
                handler(batch)
                if let capacity, capacity > 0 {
                    do {
                        try await clock.sleep(nanoseconds: UInt64(Double(batch.values.count) * 1e9 / capacity))
                    } catch {
                        return
                    }
                } else {
                    await Task.yield()
                }
            }
            if Task.isCancelled { return }
        }
    }

    fileprivate func setPaused(consumer index: Int, _ paused: Bool) {
        state.withLock { state in
            state.consumers[index]?.paused = paused
            if !paused { state.consumers[index]?.doorbell?.yield() }
        }
    }

    fileprivate func leave(consumer index: Int) async {
        let task = state.withLock { state -> Task<Void, Never>? in
            guard let consumer = state.consumers[index], !consumer.closed else { return nil }
            state.consumers[index]?.closed = true
            consumer.doorbell?.finish()
            state.topics[consumer.topic]?.leave(consumer.subscription, member: index)
            // The remaining members now own the partitions it had.
            state.ringSubscription(topic: consumer.topic, subscription: consumer.subscription)
            return state.consumerTasks.removeValue(forKey: index)
        }
        task?.cancel()
        await task?.value
    }

    // MARK: WorkloadFaultInjector

    public func delay(_ target: FaultTarget, by delay: Duration) async throws -> FaultEffect {
        let broker = try resolve(target)
        state.withLock { $0.brokers[broker].delayNanoseconds = delay.nanosecondsClamped }
        return FaultEffect(brokerId: broker, detail: "responses of broker \(broker) delayed by \(SpecDuration.format(delay))")
    }

    public func removeDelay(broker: Int) async throws -> FaultEffect {
        let broker = try resolve(.broker(broker))
        state.withLock { $0.brokers[broker].delayNanoseconds = 0 }
        return FaultEffect(brokerId: broker)
    }

    public func kill(_ target: FaultTarget) async throws -> FaultEffect {
        let broker = try resolve(target)
        let now = clock.monotonicNanoseconds()
        let replicated = state.withLock { state -> Bool in
            state.brokers[broker].up = false
            state.brokers[broker].downSinceNanoseconds = now
            return state.topics.values.contains { $0.replicationFactor > 1 }
        }
        return FaultEffect(brokerId: broker, recoveryTimeMs: replicated ? configuration.leaderElectionDelay.secondsDouble * 1000 : nil,
                           detail: "broker \(broker) killed")
    }

    public func restart(_ target: FaultTarget) async throws -> FaultEffect {
        let broker = try resolve(target)
        let now = clock.monotonicNanoseconds()
        state.withLock { state in
            state.brokers[broker].up = true
            state.brokers[broker].partitioned = false
            state.release(broker: broker, now: now)
        }
        ensureCompleter()
        return FaultEffect(brokerId: broker, detail: "broker \(broker) restarted")
    }

    public func pause(_ target: FaultTarget) async throws -> FaultEffect {
        let broker = try resolve(target)
        state.withLock { $0.brokers[broker].paused = true }
        return FaultEffect(brokerId: broker, detail: "broker \(broker) paused")
    }

    public func resume(broker: Int) async throws -> FaultEffect {
        let broker = try resolve(.broker(broker))
        let now = clock.monotonicNanoseconds()
        state.withLock { $0.release(broker: broker, now: now) }
        ensureCompleter()
        return FaultEffect(brokerId: broker, detail: "broker \(broker) resumed")
    }

    public func partition(_ target: FaultTarget) async throws -> FaultEffect {
        let broker = try resolve(target)
        let now = clock.monotonicNanoseconds()
        state.withLock { state in
            state.brokers[broker].partitioned = true
            state.brokers[broker].downSinceNanoseconds = now
        }
        return FaultEffect(brokerId: broker, detail: "broker \(broker) partitioned")
    }

    public func heal(broker: Int) async throws -> FaultEffect {
        let broker = try resolve(.broker(broker))
        state.withLock { $0.brokers[broker].partitioned = false }
        return FaultEffect(brokerId: broker, detail: "broker \(broker) healed")
    }

    /// The in-memory group rebalances at once.
    public func consumerKilled(index: Int) async -> FaultEffect {
        FaultEffect(rebalanceTimeMs: 0, detail: "consumer \(index) left; its partitions moved at once")
    }

    /// The in-memory group rebalances at once.
    public func consumerAdded(index: Int) async -> FaultEffect {
        FaultEffect(rebalanceTimeMs: 0, detail: "consumer \(index) joined; partitions rebalanced at once")
    }

    private func resolve(_ target: FaultTarget) throws -> Int {
        try state.withLock { state throws(DriverError) -> Int in
            switch target {
            case .broker(let id):
                guard id >= 0, id < state.brokers.count else {
                    throw DriverError(message: "broker \(id) does not exist (0...\(state.brokers.count - 1))")
                }
                return id
            case .leaderOfPartition(let partition):
                guard let first = state.topicOrder.first, let topic = state.topics[first], partition >= 0, partition < topic.leaders.count else {
                    throw DriverError(message: "partition \(partition) of the first topic does not exist")
                }
                return topic.leaders[partition]
            }
        }
    }

    private func ensureCompleter() {
        state.withLock { state in
            if !state.closed, state.completerTask == nil, !state.pending.isEmpty {
                state.completerTask = Task { [weak self] in
                    guard let self else { return }
                    await self.completeLoop()
                }
            }
        }
    }
}

// MARK: - State

private struct BrokerState {
    var up = true
    var paused = false
    var partitioned = false
    var downSinceNanoseconds: UInt64 = 0
    var delayNanoseconds: UInt64 = 0
    var reachable: Bool { up && !partitioned }
}

private struct PendingAck {
    var dueNanoseconds: UInt64
    var broker: Int
    var topic: String
    var partition: Int
    var baseOffset: Int64
    var values: [ByteBuffer]
    var result: WorkloadSendResult
    var completion: WorkloadSendCompletion
}

/// A FIFO of record values with a moving head (compacted when half consumed).
private struct RecordQueue {
    var values: [ByteBuffer] = []
    var head = 0
    var headOffset: Int64 = 0

    var count: Int { values.count - head }

    mutating func append(_ newValues: [ByteBuffer], baseOffset: Int64) {
        if count == 0 {
            values.removeAll(keepingCapacity: true)
            head = 0
            headOffset = baseOffset
        }
        values.append(contentsOf: newValues)
    }

    mutating func pop(max: Int) -> (Int64, [ByteBuffer]) {
        let take = min(max, count)
        let slice = Array(values[head ..< head + take])
        let offset = headOffset
        head += take
        headOffset += Int64(take)
        if head > 4096, head * 2 > values.count {
            values.removeFirst(head)
            head = 0
        }
        return (offset, slice)
    }
}

private struct SubscriptionState {
    var queues: [RecordQueue]
    var members: [Int] = []
    var delivered: Int64 = 0
}

private struct TopicState {
    var partitions: Int
    var replicationFactor: Int
    var leaders: [Int]
    var nextOffset: [Int64]
    var subscriptions: [String: SubscriptionState] = [:]

    init(partitions: Int, replicationFactor: Int, leaders: [Int]) {
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.leaders = leaders
        nextOffset = Array(repeating: 0, count: partitions)
    }

    mutating func join(_ subscription: String, member: Int) {
        var state = subscriptions[subscription] ?? SubscriptionState(queues: Array(repeating: RecordQueue(), count: partitions))
        state.members.append(member)
        state.members.sort()
        subscriptions[subscription] = state
    }

    mutating func leave(_ subscription: String, member: Int) {
        subscriptions[subscription]?.members.removeAll { $0 == member }
    }
}

private struct ConsumerState {
    var topic: String
    var subscription: String
    var paused = false
    var closed = false
    var cursor = 0
    /// Rung when records may be waiting for this consumer (delivery, resume, rebalance).
    var doorbell: AsyncStream<Void>.Continuation?
}

private struct State {
    var brokers: [BrokerState]
    var topics: [String: TopicState] = [:]
    var topicOrder: [String] = []
    var consumers: [Int: ConsumerState] = [:]
    var consumerTasks: [Int: Task<Void, Never>] = [:]
    var completerTask: Task<Void, Never>?
    var pending: [PendingAck] = []
    var held: [PendingAck] = []
    var queuedRecords = 0
    var queuedBytes = 0
    var busyUntilNanoseconds: UInt64 = 0
    var stallUntilNanoseconds: UInt64 = 0
    var produceCapacityOverride: Double??
    var closed = false

    init(brokers: [BrokerState]) { self.brokers = brokers }

    /// The leader of `partition` if it can take writes now, electing a new one when the old one
    /// has been unreachable for the election delay and a live replica exists.
    mutating func availableLeader(of topic: inout TopicState, partition: Int, now: UInt64, electionNanoseconds: UInt64) -> Int? {
        let leader = topic.leaders[partition]
        if brokers[leader].reachable { return leader }
        guard topic.replicationFactor > 1, now &- brokers[leader].downSinceNanoseconds >= electionNanoseconds else { return nil }
        for step in 1 ..< topic.replicationFactor {
            let candidate = (partition + step) % brokers.count
            if brokers[candidate].reachable {
                topic.leaders[partition] = candidate
                return candidate
            }
        }
        return nil
    }

    mutating func insertPending(_ ack: PendingAck) {
        // Acknowledgements mostly arrive in due order: search from the back.
        var index = pending.count
        while index > 0, pending[index - 1].dueNanoseconds > ack.dueNanoseconds { index -= 1 }
        pending.insert(ack, at: index)
    }

    mutating func deliver(_ ack: PendingAck, into topic: inout TopicState) {
        for (name, subscription) in topic.subscriptions {
            topic.subscriptions[name]?.queues[ack.partition].append(ack.values, baseOffset: ack.baseOffset)
            queuedRecords += ack.values.count
            queuedBytes += ack.values.reduce(0) { $0 + $1.readableBytes }
            if !subscription.members.isEmpty {
                let owner = subscription.members[ack.partition % subscription.members.count]
                consumers[owner]?.doorbell?.yield()
            }
        }
    }

    /// Rings every member of a subscription (after a rebalance).
    func ringSubscription(topic: String, subscription: String) {
        for member in topics[topic]?.subscriptions[subscription]?.members ?? [] {
            consumers[member]?.doorbell?.yield()
        }
    }

    mutating func release(broker: Int, now: UInt64) {
        brokers[broker].paused = false
        let released = held.filter { $0.broker == broker }
        held.removeAll { $0.broker == broker }
        for var ack in released {
            ack.dueNanoseconds = max(ack.dueNanoseconds, now)
            insertPending(ack)
        }
    }

    /// The next batch for `consumer`, or (nil, true) when it should stop.
    mutating func fetch(consumer index: Int, max: Int) -> (WorkloadReceivedBatch?, Bool) {
        guard !closed, var consumer = consumers[index], !consumer.closed else { return (nil, true) }
        guard !consumer.paused, var topic = topics[consumer.topic], var subscription = topic.subscriptions[consumer.subscription],
              let position = subscription.members.firstIndex(of: index) else { return (nil, false) }
        let members = subscription.members.count
        defer {
            topic.subscriptions[consumer.subscription] = subscription
            topics[consumer.topic] = topic
            consumers[index] = consumer
        }
        for step in 0 ..< topic.partitions {
            let partition = (consumer.cursor + step) % topic.partitions
            guard partition % members == position, subscription.queues[partition].count > 0 else { continue }
            let (offset, values) = subscription.queues[partition].pop(max: max)
            subscription.delivered += Int64(values.count)
            queuedRecords -= values.count
            queuedBytes -= values.reduce(0) { $0 + $1.readableBytes }
            consumer.cursor = partition + 1
            return (WorkloadReceivedBatch(topic: consumer.topic, partition: Int32(partition), baseOffset: offset, values: values), false)
        }
        return (nil, false)
    }
}

// MARK: - Producer and consumer handles

private final class InMemoryProducer: WorkloadProducer {
    let driver: InMemoryWorkloadDriver
    let info: WorkloadProducerInfo
    private let stickyState = Mutex<(next: Int, closed: Bool)>((0, false))

    init(driver: InMemoryWorkloadDriver, info: WorkloadProducerInfo) {
        self.driver = driver
        self.info = info
        stickyState.withLock { $0.next = info.index }
    }

    func nextStickyPartition(partitions: Int) -> Int {
        stickyState.withLock { state in
            let partition = state.next % max(1, partitions)
            state.next = partition + 1
            return partition
        }
    }

    func send(_ batch: WorkloadSendBatch, completion: @escaping WorkloadSendCompletion) async {
        if stickyState.withLock({ $0.closed }) {
            completion(WorkloadSendResult(records: 0 ..< batch.records.count, partition: -1, baseOffset: -1,
                                          error: WorkloadSendError(code: "CLOSED", message: "producer \(info.index) is closed")))
            return
        }
        driver.accept(batch, producer: self, completion: completion)
    }

    func close() async {
        stickyState.withLock { $0.closed = true }
    }
}

private final class InMemoryConsumer: WorkloadConsumer {
    let driver: InMemoryWorkloadDriver
    let index: Int

    init(driver: InMemoryWorkloadDriver, index: Int) {
        self.driver = driver
        self.index = index
    }

    func pause() async { driver.setPaused(consumer: index, true) }
    func resume() async { driver.setPaused(consumer: index, false) }
    func close() async { await driver.leave(consumer: index) }
    func kill() async { await driver.leave(consumer: index) }
}
