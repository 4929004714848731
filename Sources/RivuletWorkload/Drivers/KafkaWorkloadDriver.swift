import Logging
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport
import Synchronization

/// The `WorkloadDriver` over the Rivulet client: real producers, consumers and an admin client
/// against an embedded Rivulet broker (in-process or TCP transport, any storage) or an external
/// Kafka-compatible cluster (`target: kafka://host:port`). OMB's Kafka driver in Swift.
///
/// ```swift
/// let driver = try await KafkaWorkloadDriver.start(spec: spec, clock: clock)
/// let result = try await WorkloadRunner(spec: spec, driver: driver, clock: clock).run()   // closes the driver
/// ```
///
/// - Topics are created through `Admin` (partitions, replication factor, `min.insync.replicas`)
///   and deleted through it when the driver closes.
/// - Each producer and consumer has its own `ClusterClient` (its own connections), as separate
///   Kafka clients would. Producers use the spec's `acks`, `linger.ms`, `batch.size` and
///   `compression.type` (idempotence follows Kafka's default: on with acks=all).
/// - Consumers of one subscription form a consumer group (`group.id` = the subscription; the
///   group coordinator assigns partitions, range or cooperative-sticky, and rebalances on joins and
///   leaves), or, in `assigned` mode, share its partitions through `StaticSubscriptionGroup`.
///   Before traffic the runner waits until every group has settled (`consumersReady`).
/// - End-to-end latency: the runner writes the intended send time into the first 8 bytes of every
///   value and reads it back from what the consumers deliver, on the runner's clock (this process).
/// - Faults: on embedded targets, `ClusterFaultInjector` (delay through the broker's
///   `FaultyRequestHandler`; kill, restart, pause and partition through the cluster's fault API, a
///   killed broker's TCP listener closed); none for external clusters.
///
/// Isolation: `Sendable`; the runner calls it from several tasks.
public final class KafkaWorkloadDriver: WorkloadDriver {
    /// How consumers get their partitions.
    public enum ConsumerMode: String, Sendable, CaseIterable {
        /// Consumer groups through the group coordinator (Kafka's `subscribe`; OMB's Kafka driver).
        case groups
        /// Partitions assigned by the driver (`assign`), for targets without consumer groups.
        case assigned
    }

    /// `rivulet` for embedded targets, `kafka` for external clusters.
    public let name: String
    /// How consumers get their partitions.
    public let consumerMode: ConsumerMode
    /// `session.timeout.ms` of group consumers (a killed consumer's partitions move after it).
    public let sessionTimeoutMs: Int32
    /// Where the clients connect.
    public let target: KafkaWorkloadTarget
    let clock: any EngineClock
    let seed: UInt64
    private let admin: Admin
    /// Broker faults on embedded targets (nil for an external cluster).
    private let injector: ClusterFaultInjector?
    private let state = Mutex<State>(State())

    private struct State {
        var topics: [String: Int] = [:]
        var createdTopics: [String] = []
        var subscriptions: [String: StaticSubscriptionGroup] = [:]
        /// Group members by topic and subscription, with their consumer index.
        var groupMembers: [String: [(index: Int, member: GroupConsumer)]] = [:]
        /// The group key of each group consumer's index.
        var groupOfConsumer: [Int: String] = [:]
        /// Consumers killed or closed (no longer counted when a group settles).
        var goneConsumers: Set<Int> = []
        var closed = false
    }

    /// How long topic creation and metadata waits may take.
    static let setupTimeoutMs: Int64 = 30_000

    /// A driver over an already started target. The driver closes the target.
    public init(target: KafkaWorkloadTarget, clock: any EngineClock = SystemClock(), seed: UInt64 = 1,
                consumerMode: ConsumerMode = .groups, sessionTimeoutMs: Int32 = 10_000) {
        self.target = target
        self.consumerMode = consumerMode
        self.sessionTimeoutMs = sessionTimeoutMs
        self.clock = clock
        self.seed = seed
        name = target.embedded == nil ? "kafka" : "rivulet"
        admin = Admin(cluster: ClusterClient(config: target.clientConfig(clientId: "rivulet-workload-admin", clock: clock, seed: seed),
                                             transport: target.transport))
        injector = target.embedded.map { ClusterFaultInjector(cluster: $0, listeners: target.listeners) }
    }

    /// Starts the target of `spec` and returns a driver for it.
    ///
    /// - Throws: `KafkaWorkloadTarget.StartError`.
    public static func start(spec: WorkloadSpec, clock: any EngineClock = SystemClock(), ownsStorageDirectory: Bool = false,
                             consumerMode: ConsumerMode = .groups, logger: Logger? = nil) async throws -> KafkaWorkloadDriver {
        let target = try await KafkaWorkloadTarget.start(spec: spec, clock: clock, ownsStorageDirectory: ownsStorageDirectory,
                                                         logger: logger)
        return KafkaWorkloadDriver(target: target, clock: clock, seed: spec.seed, consumerMode: consumerMode)
    }

    public var faultInjector: (any WorkloadFaultInjector)? {
        injector.map { KafkaDriverFaultInjector(embedded: $0, driver: self) }
    }

    // MARK: Topics

    public func createTopics(_ topics: [WorkloadTopic]) async throws {
        let requests = topics.map { topic in
            NewTopic(name: topic.name, partitions: Int32(clamping: topic.partitions),
                     replicationFactor: Int16(clamping: topic.replicationFactor),
                     configs: topic.minInsyncReplicas > 1 ? ["min.insync.replicas": "\(topic.minInsyncReplicas)"] : [:])
        }
        injector?.bindFirstTopic(topics.first?.name)
        let results = try await admin.createTopics(requests)
        for result in results where result.error == nil {
            state.withLock { $0.createdTopics.append(result.name) }
        }
        if let failed = results.first(where: { $0.error != nil }), let error = failed.error {
            throw DriverError(message: "creating topic \(failed.name): \(error)")
        }
        for topic in topics {
            let metadata = try await admin.cluster.topicMetadata(topic.name, timeoutMs: Self.setupTimeoutMs, requireLeaders: true,
                                                                 allowAutoCreate: false)
            guard metadata.partitionCount == topic.partitions else {
                throw DriverError(message: "topic \(topic.name) has \(metadata.partitionCount) partitions, expected \(topic.partitions)")
            }
            state.withLock { $0.topics[topic.name] = topic.partitions }
        }
    }

    private func partitionCount(of topic: String) throws -> Int {
        guard let count = state.withLock({ $0.topics[topic] }) else { throw DriverError(message: "unknown topic \(topic)") }
        return count
    }

    // MARK: Producers and consumers

    public func createProducer(_ info: WorkloadProducerInfo) async throws -> any WorkloadProducer {
        let partitions = try partitionCount(of: info.topic)
        let cluster = ClusterClient(config: target.clientConfig(clientId: "rivulet-workload-producer-\(info.index)", clock: clock,
                                                               seed: seed &+ UInt64(info.index) &* 7919),
                                    transport: target.transport)
        var config = ProducerConfig()
        config.acks = switch info.config.acks {
        case .none: .none
        case .leader: .leader
        case .all: .all
        }
        config.lingerMs = Int64(info.config.lingerMs)
        config.batchSizeBytes = info.config.batchSizeBytes
        config.compression = info.config.compression
        let producer: Producer
        do {
            producer = try Producer(cluster: cluster, config: config)
            // Fetch the topic's metadata now, not on the first timed send.
            _ = try await cluster.topicMetadata(info.topic, timeoutMs: Self.setupTimeoutMs, requireLeaders: true, allowAutoCreate: false)
        } catch {
            await cluster.close()
            throw error
        }
        return KafkaWorkloadProducer(index: info.index, topic: info.topic, producer: producer, partitionCount: partitions, clock: clock)
    }

    public func createConsumer(_ info: WorkloadConsumerInfo, handler: @escaping WorkloadReceiveHandler) async throws -> any WorkloadConsumer {
        let partitions = try partitionCount(of: info.topic)
        let cluster = ClusterClient(config: target.clientConfig(clientId: "rivulet-workload-consumer-\(info.index)", clock: clock,
                                                               seed: seed &+ 0x10000 &+ UInt64(info.index)),
                                    transport: target.transport)
        var config = ConsumerConfig()
        config.autoOffsetReset = .earliest
        config.fetchMaxWaitMs = 100
        config.maxPollRecords = 10_000
        let source: KafkaWorkloadConsumer.Source
        do {
            switch consumerMode {
            case .groups:
                var group = ConsumerGroupConfig(groupId: info.subscription)
                group.sessionTimeoutMs = sessionTimeoutMs
                group.heartbeatIntervalMs = Int64(max(1, sessionTimeoutMs / 10))
                let member = try GroupConsumer(cluster: cluster, config: config, groupConfig: group)
                let key = info.topic + "\u{0}" + info.subscription
                state.withLock { state in
                    state.groupMembers[key, default: []].append((info.index, member))
                    state.groupOfConsumer[info.index] = key
                }
                source = .group(member)
            case .assigned:
                let key = info.topic + "\u{0}" + info.subscription
                let subscription = state.withLock { state -> StaticSubscriptionGroup in
                    if let existing = state.subscriptions[key] { return existing }
                    let subscription = StaticSubscriptionGroup(name: info.subscription, topic: info.topic, partitionCount: partitions)
                    state.subscriptions[key] = subscription
                    return subscription
                }
                source = .assigned(try Consumer(cluster: cluster, config: config), subscription)
            }
        } catch {
            await cluster.close()
            throw error
        }
        let consumer = KafkaWorkloadConsumer(index: info.index, topic: info.topic, source: source, clock: clock, handler: handler)
        do {
            try consumer.start()
        } catch {
            await consumer.close()
            throw error
        }
        return consumer
    }

    /// Waits until every consumer group has settled: all its live members in one generation, none
    /// rebalancing, and every partition of the topic owned by exactly one of them; at most
    /// `min(timeout, 20 s)`. A group still rebalancing then does not fail the run: the runner's
    /// readiness records (one per producer, received by every subscription) decide whether the
    /// consumers work, and a late rebalance shows in the measurements.
    public func consumersReady(timeout: Duration) async throws {
        guard consumerMode == .groups else { return }
        let deadline = clock.monotonicNanoseconds() &+ min(timeout, .seconds(20)).nanosecondsClamped
        while !unsettledGroups(nil).isEmpty, clock.monotonicNanoseconds() < deadline {
            try await clock.sleep(nanoseconds: 20_000_000)
        }
    }

    /// The subscriptions (of `keys`, or all) whose group has not settled.
    private func unsettledGroups(_ keys: Set<String>?) -> [String] {
        let (groups, topics, gone) = state.withLock { ($0.groupMembers, $0.topics, $0.goneConsumers) }
        var unsettled: [String] = []
        for (key, members) in groups where keys?.contains(key) ?? true {
            let topic = String(key.prefix { $0 != "\u{0}" })
            let states = members.filter { !gone.contains($0.index) }.map(\.member.membershipState)
            let generations = Set(states.map(\.generationId))
            let owned = states.flatMap(\.assignment)
            let settled = generations.count == 1 && (generations.first ?? -1) >= 0 && !states.contains(where: \.isRebalancing)
                && owned.count == (topics[topic] ?? -1) && Set(owned).count == owned.count
            if !settled { unsettled.append(String(key.split(separator: "\u{0}").last ?? "")) }
        }
        return unsettled
    }

    /// After consumer `index` joined (`gone` false) or was killed (`gone` true): how long its group
    /// took to settle, in milliseconds, or nil when it did not within `timeout`.
    func rebalanceTimeMs(consumer index: Int, gone: Bool, timeout: Duration) async -> Double? {
        let start = clock.monotonicNanoseconds()
        let key = state.withLock { state -> String? in
            if gone { state.goneConsumers.insert(index) }
            return state.groupOfConsumer[index]
        }
        guard let key else { return nil }
        let deadline = start &+ timeout.nanosecondsClamped
        while !unsettledGroups([key]).isEmpty {
            guard clock.monotonicNanoseconds() < deadline else { return nil }
            do { try await clock.sleep(nanoseconds: 10_000_000) } catch { return nil }
        }
        return Double(clock.monotonicNanoseconds() &- start) / 1e6
    }

    // MARK: Closing

    public func close() async {
        let topics = state.withLock { state -> [String] in
            guard !state.closed else { return [] }
            state.closed = true
            return state.createdTopics
        }
        if !topics.isEmpty {
            // Best effort: a cluster that is gone (a killed broker) must not hold the run up.
            let admin = admin
            let deletion = Task { _ = try? await admin.deleteTopics(topics) }
            let timer = Task { [clock] in
                try? await clock.sleep(nanoseconds: 5_000_000_000)
                deletion.cancel()
            }
            await deletion.value
            timer.cancel()
        }
        await admin.close()
        await admin.cluster.close()
        await target.close()
    }

    /// Why a setup call failed.
    public struct DriverError: Error, Sendable, CustomStringConvertible {
        /// What failed.
        public let message: String
        public var description: String { message }
    }
}

/// The driver's fault injector on embedded targets: broker faults go to the cluster
/// (`ClusterFaultInjector`); after a consumer is
/// killed or added it measures how long the consumer group took to settle (`rebalanceTimeMs`;
/// measured in the background by the fault scheduler). A killed member stops without leaving, so
/// that includes the session timeout.
final class KafkaDriverFaultInjector: WorkloadFaultInjector {
    let embedded: any WorkloadFaultInjector
    let driver: KafkaWorkloadDriver

    init(embedded: any WorkloadFaultInjector, driver: KafkaWorkloadDriver) {
        self.embedded = embedded
        self.driver = driver
    }

    func delay(_ target: FaultTarget, by delay: Duration) async throws -> FaultEffect { try await embedded.delay(target, by: delay) }
    func removeDelay(broker: Int) async throws -> FaultEffect { try await embedded.removeDelay(broker: broker) }
    func kill(_ target: FaultTarget) async throws -> FaultEffect { try await embedded.kill(target) }
    func restart(_ target: FaultTarget) async throws -> FaultEffect { try await embedded.restart(target) }
    func pause(_ target: FaultTarget) async throws -> FaultEffect { try await embedded.pause(target) }
    func resume(broker: Int) async throws -> FaultEffect { try await embedded.resume(broker: broker) }
    func partition(_ target: FaultTarget) async throws -> FaultEffect { try await embedded.partition(target) }
    func heal(broker: Int) async throws -> FaultEffect { try await embedded.heal(broker: broker) }

    func consumerKilled(index: Int) async -> FaultEffect {
        await rebalance(index: index, gone: true, timeout: .milliseconds(Int64(driver.sessionTimeoutMs)) + .seconds(10))
    }

    func consumerAdded(index: Int) async -> FaultEffect {
        await rebalance(index: index, gone: false, timeout: .seconds(15))
    }

    private func rebalance(index: Int, gone: Bool, timeout: Duration) async -> FaultEffect {
        guard driver.consumerMode == .groups else {
            return FaultEffect(rebalanceTimeMs: 0, detail: "partitions reassigned by the harness at once")
        }
        guard let milliseconds = await driver.rebalanceTimeMs(consumer: index, gone: gone, timeout: timeout) else {
            if Task.isCancelled { return FaultEffect(detail: "the run ended before the consumer group settled") }
            return FaultEffect(detail: "the consumer group did not settle within \(SpecDuration.format(timeout))")
        }
        return FaultEffect(rebalanceTimeMs: milliseconds, detail: "consumer group settled after \(Int(milliseconds.rounded())) ms")
    }
}
