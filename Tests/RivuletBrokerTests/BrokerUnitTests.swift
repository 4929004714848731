import NIOCore
@testable import RivuletBroker
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Synchronization
import Testing

@Suite("Broker parts")
struct BrokerUnitTests {
    func header(producerId: Int64 = 1, epoch: Int16 = 0, baseSequence: Int32, count: Int32 = 1) -> RecordBatchHeader {
        RecordBatchHeader(batchLength: 49, attributes: RecordBatchAttributes(), lastOffsetDelta: count - 1, baseTimestamp: 0,
                          maxTimestamp: 0, producerId: producerId, producerEpoch: epoch, baseSequence: baseSequence, recordCount: count)
    }

    @Test("producer state: duplicates, sequence wrap, epochs, snapshot round trip")
    func producerState() throws {
        var state = ProducerStateManager()
        #expect(try state.check(header(baseSequence: 42)) == .append, "an unknown producer may start anywhere")
        state.record(header(baseSequence: 42, count: 3), firstOffset: 10, lastOffset: 12)
        #expect(try state.check(header(baseSequence: 45)) == .append)
        if case let .duplicate(original) = try state.check(header(baseSequence: 42, count: 3)) {
            #expect(original.firstOffset == 10 && original.lastOffset == 12)
        } else {
            Issue.record("expected a duplicate")
        }
        let gap = #expect(throws: KafkaApiError.self) { try state.check(header(baseSequence: 46)) }
        #expect(gap?.code == .outOfOrderSequenceNumber)
        #expect(ProducerStateManager.lastSequence(baseSequence: Int32.max, lastOffsetDelta: 2) == 1)
        state.record(header(producerId: 2, baseSequence: Int32.max - 1, count: 2), firstOffset: 20, lastOffset: 21)
        #expect(try state.check(header(producerId: 2, baseSequence: 0)) == .append, "sequences wrap after Int32.max")
        let negative = #expect(throws: KafkaApiError.self) { try state.check(header(baseSequence: -1)) }
        #expect(negative?.code == .invalidRecord)
        var buffer = ByteBuffer()
        state.encode(into: &buffer)
        let decoded = try ProducerStateManager(decoding: &buffer)
        #expect(decoded == state)
        state.removeExpired(nowMs: Int64.max, expirationMs: 1)
        #expect(state.producers.isEmpty)
        // Hostile timestamps do not trap.
        var hostile = ProducerStateManager()
        hostile.record(RecordBatchHeader(batchLength: 49, attributes: RecordBatchAttributes(), lastOffsetDelta: 0, baseTimestamp: 0,
                                         maxTimestamp: Int64.min, producerId: 1, producerEpoch: 0, baseSequence: 0, recordCount: 1),
                       firstOffset: 0, lastOffset: 0)
        hostile.removeExpired(nowMs: Int64.min + 5, expirationMs: Int64.max)
    }

    @Test("leader epoch cache: assign, lookups, end offsets, truncation")
    func leaderEpochCache() {
        var cache = LeaderEpochCache()
        cache.assign(epoch: 0, startOffset: 0)
        cache.assign(epoch: 2, startOffset: 10)
        cache.assign(epoch: 1, startOffset: 5)
        cache.assign(epoch: 5, startOffset: 20)
        #expect(cache.entries.map(\.epoch) == [0, 2, 5])
        #expect(cache.epoch(forOffset: 9) == 0)
        #expect(cache.epoch(forOffset: 10) == 2)
        #expect(cache.endOffset(for: 5, logEndOffset: 30) == (5, 30))
        #expect(cache.endOffset(for: 3, logEndOffset: 30) == (2, 20))
        #expect(cache.endOffset(for: 0, logEndOffset: 30) == (0, 10))
        #expect(cache.endOffset(for: 9, logEndOffset: 30) == (-1, -1))
        cache.truncateFromStart(12)
        #expect(cache.entries == [.init(epoch: 2, startOffset: 12), .init(epoch: 5, startOffset: 20)])
        cache.truncateFromEnd(20)
        #expect(cache.entries == [.init(epoch: 2, startOffset: 12)])
    }

    @Test("topic configs: validation, resolution against broker defaults, entries")
    func topicConfig() throws {
        let config = try TopicConfig(validating: [("retention.ms", " 1000 "), ("cleanup.policy", "delete"), ("preallocate", "true")])
        #expect(config.overrides["retention.ms"] == "1000")
        var broker = BrokerConfig(randomSeed: 1)
        broker.logSegmentBytes = 4096
        let resolved = config.resolved(with: broker)
        #expect(resolved.retentionMs == 1000)
        #expect(resolved.segmentBytes == 4096)
        #expect(resolved.logConfig.segmentBytes == 4096)
        for bad in [("retention.ms", "-2"), ("segment.bytes", "13"), ("segment.bytes", "99999999999"), ("message.timestamp.type", "Now"),
                    ("compression.type", "gzip"), ("min.insync.replicas", "0"), ("cleanup.policy", "compact,shred"), ("nope", "1")] {
            #expect(throws: KafkaApiError.self, "\(bad)") { try TopicConfig(validating: [(bad.0, bad.1)]) }
        }
        let entries = config.entries(broker: broker)
        #expect(entries.first { $0.name == "segment.bytes" }?.source == .staticBrokerConfig)
        #expect(entries.first { $0.name == "retention.ms" }?.source == .dynamicTopicConfig)
        #expect(entries.map(\.name) == entries.map(\.name).sorted())
    }

    @Test("broker settings are validated")
    func brokerConfigValidation() {
        var config = BrokerConfig(randomSeed: 1)
        #expect(throws: Never.self) { try config.validate() }
        config.logSegmentBytes = 3
        #expect(throws: BrokerError.self) { try config.validate() }
        config = BrokerConfig(randomSeed: 1)
        config.numPartitions = 0
        #expect(throws: BrokerError.self) { try config.validate() }
        config = BrokerConfig(randomSeed: 1)
        config.logMessageTimestampType = "Later"
        #expect(throws: BrokerError.self) { try config.validate() }
    }

    @Test("the cluster metadata document round-trips and refuses corrupt bytes")
    func metadataDocument() throws {
        let topic = TopicMetadata(name: "t", topicId: KafkaUUID(mostSignificantBits: 1, leastSignificantBits: 2), partitions: [
            PartitionMetadata(partition: 0, leader: 0, leaderEpoch: 3, replicas: [0], isr: [0]),
            PartitionMetadata(partition: 1, leader: 0, leaderEpoch: 4, replicas: [0], isr: [0]),
        ], config: try TopicConfig(validating: [("retention.ms", "5")]))
        let document = ClusterMetadataDocument(clusterId: "cluster", nextProducerId: 1000, topics: [topic])
        let bytes = document.encode()
        #expect(try ClusterMetadataDocument.decode(bytes) == document)
        // Every single-bit flip and every truncation is refused, never a crash.
        for index in 0 ..< bytes.count {
            var flipped = bytes
            flipped[index] ^= 0x10
            #expect(throws: BrokerError.self) { try ClusterMetadataDocument.decode(flipped) }
            #expect(throws: BrokerError.self) { try ClusterMetadataDocument.decode(Array(bytes[..<index])) }
        }
    }

    @Test("a delayed operation completes once: by its condition, by its deadline or by cancellation")
    func delayedOperations() async throws {
        let clock = ManualClock()
        let watchers = OperationWatchers()
        let flag = Mutex(false)
        let satisfied = Task {
            await DelayedOperations.wait(until: { flag.withLock { $0 } }, watching: [watchers], timeoutMs: 1000, clock: clock)
        }
        try await eventually { watchers.count == 1 }
        flag.withLock { $0 = true }
        watchers.checkAll()
        #expect(await satisfied.value == .satisfied)
        #expect(watchers.count == 0)

        let expired = Task { await DelayedOperations.wait(until: { false }, watching: [watchers], timeoutMs: 1000, clock: clock) }
        try await eventually { watchers.count == 1 && clock.sleeperCount == 1 }
        clock.advance(by: .seconds(1))
        #expect(await expired.value == .expired)

        let cancelled = Task { await DelayedOperations.wait(until: { false }, watching: [watchers], timeoutMs: 1000, clock: clock) }
        try await eventually { watchers.count == 1 }
        cancelled.cancel()
        #expect(await cancelled.value == .cancelled)
        try await eventually { clock.sleeperCount == 0 }
    }

    @Test("FaultyRequestHandler delays answers of chosen APIs and holds requests while paused")
    func faultyRequestHandler() async throws {
        let clock = ManualClock()
        try await withBroker(.memory, clock: clock) { fixture in
            let faults = try #require(fixture.cluster.faults(of: 0))
            faults.setDelay(200, for: [.metadata])
            let metadata = Task { try await fixture.send(MetadataRequest(topics: nil), version: 9) }
            try await eventually { clock.sleeperCount == 2 }
            clock.advance(by: .milliseconds(200))
            #expect(try await metadata.value.brokers.count == 1)
            // Other APIs are not delayed.
            #expect(try await fixture.send(DescribeClusterRequest(), version: 0).errorCode == 0)
            faults.clearDelays()
            faults.pause()
            let held = Task { try await fixture.send(DescribeClusterRequest(), version: 0) }
            try await Task.sleep(for: .milliseconds(10))
            #expect(faults.isPaused)
            faults.resume()
            #expect(try await held.value.errorCode == 0)
        }
    }

    @Test("an embedded cluster refuses no brokers, and several brokers without a coordinator")
    func embeddedCluster_brokerCountChecks() {
        #expect(throws: BrokerError.self) { try EmbeddedCluster(.init(brokerCount: 0)) }
        var config = EmbeddedCluster.Configuration(brokerCount: 3)
        config.coordinator = .none
        #expect(throws: BrokerError.self) { try EmbeddedCluster(config) }
    }

    @Test("a stopped broker's address refuses connections; a shut-down broker answers retriable errors")
    func lifecycle() async throws {
        let fixture = try await BrokerFixture.start(.memory)
        let broker = try fixture.broker
        await fixture.cluster.stopBroker(0)
        await #expect(throws: TransportError.self) { _ = try await fixture.connect() }
        let context = RequestContext(header: RequestHeader(apiKey: .produce, apiVersion: 9, correlationId: 1, clientId: nil),
                                     connectionID: 1, clientAddress: "test")
        let answer = await broker.handle(.produce(ProduceRequest(acks: 1, topicData: [.init(name: "t", partitionData: [.init(index: 0)])])),
                                         context: context)
        let produce = try #require(answer.flatMap { ProduceResponse(body: $0) })
        #expect(produce.responses[0].partitionResponses[0].errorCode == KafkaErrorCode.notLeaderOrFollower.code16)
        await #expect(throws: BrokerError.self) { try await broker.start() }
        await fixture.stop()
    }
}

/// A group coordinator stand-in that answers JoinGroup and locates every group on broker 0.
final class FakeGroupCoordinator: GroupCoordinatorService {
    let started = Mutex(false)
    var supportedApiVersions: [ApiKey: ClosedRange<Int16>] { [.joinGroup: 0 ... 5] }

    func findCoordinator(key: String, keyType: Int8) async -> Result<BrokerEndpoint, KafkaApiError> {
        key == "missing" ? .failure(KafkaApiError(.coordinatorLoadInProgress)) : .success(BrokerEndpoint(nodeId: 0, host: "h", port: 1, rack: nil))
    }

    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        JoinGroupResponse(errorCode: KafkaErrorCode.memberIdRequired.rawValue, memberId: "m-\(context.connectionID)").body
    }

    func start(broker: Broker) async throws { started.withLock { $0 = true } }
    func shutdown() async { started.withLock { $0 = false } }
}

@Suite("Group coordinator seam")
struct GroupCoordinatorSeamTests {
    @Test("a plugged-in coordinator is advertised, located by FindCoordinator and gets its APIs")
    func seam() async throws {
        let groups = FakeGroupCoordinator()
        let broker = try Broker(config: BrokerConfig(randomSeed: 3), groupCoordinator: groups)
        try await broker.start()
        #expect(groups.started.withLock { $0 })
        func context(_ api: ApiKey, _ version: Int16) -> RequestContext {
            RequestContext(header: RequestHeader(apiKey: api, apiVersion: version, correlationId: 1, clientId: nil), connectionID: 7,
                           clientAddress: "test")
        }
        let versions = await broker.handle(.apiVersions(ApiVersionsRequest()), context: context(.apiVersions, 2))
        let table = try #require(versions.flatMap { ApiVersionsResponse(body: $0) })
        #expect(table.apiKeys.contains { $0.apiKey == ApiKey.joinGroup.rawValue && $0.maxVersion == 5 })
        let found = await broker.handle(.findCoordinator(FindCoordinatorRequest(coordinatorKeys: ["g", "missing"])),
                                        context: context(.findCoordinator, 4))
        let coordinators = try #require(found.flatMap { FindCoordinatorResponse(body: $0) }).coordinators
        #expect(coordinators.map(\.errorCode) == [0, KafkaErrorCode.coordinatorLoadInProgress.rawValue])
        #expect(coordinators[0].host == "h" && coordinators[0].port == 1)
        let joined = await broker.handle(.joinGroup(JoinGroupRequest(groupId: "g")), context: context(.joinGroup, 5))
        #expect(joined.flatMap { JoinGroupResponse(body: $0) }?.memberId == "m-7")
        let tooNew = await broker.handle(.joinGroup(JoinGroupRequest(groupId: "g")), context: context(.joinGroup, 6))
        #expect(tooNew.flatMap { JoinGroupResponse(body: $0) }?.errorCode == KafkaErrorCode.unsupportedVersion.rawValue)
        await broker.shutdown()
        #expect(!groups.started.withLock { $0 })
    }
}
