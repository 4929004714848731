import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization
import Testing

/// A group coordinator that answers chosen APIs with an error a given number of times (then
/// forwards to the real one), and counts FindCoordinator lookups.
final class FlakyGroupCoordinator: GroupCoordinatorService {
    let inner: BrokerGroupCoordinator
    private let failures = Mutex<[ApiKey: (code: KafkaErrorCode, remaining: Int)]>([:])
    private let findFailures = Mutex(0)
    let lookups = Atomic<Int>(0)

    init(config: GroupCoordinatorConfig) { inner = BrokerGroupCoordinator(config: config) }

    /// The next `count` requests of `api` get `code`.
    func fail(_ api: ApiKey, with code: KafkaErrorCode, times count: Int) {
        failures.withLock { $0[api] = (code, count) }
    }

    /// The next `count` FindCoordinator lookups get COORDINATOR_NOT_AVAILABLE.
    func failLookups(times count: Int) { findFailures.withLock { $0 = count } }

    var supportedApiVersions: [ApiKey: ClosedRange<Int16>] { inner.supportedApiVersions }

    func findCoordinator(key: String, keyType: Int8) async -> Result<BrokerEndpoint, KafkaApiError> {
        lookups.add(1, ordering: .relaxed)
        let refuse = findFailures.withLock { remaining -> Bool in
            guard remaining > 0 else { return false }
            remaining -= 1
            return true
        }
        if refuse { return .failure(KafkaApiError(.coordinatorNotAvailable, "injected")) }
        return await inner.findCoordinator(key: key, keyType: keyType)
    }

    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        let injected = failures.withLock { failures -> KafkaErrorCode? in
            guard let entry = failures[request.apiKey], entry.remaining > 0 else { return nil }
            failures[request.apiKey] = (entry.code, entry.remaining - 1)
            return entry.code
        }
        if let injected {
            // OffsetCommit answers per partition, as a real coordinator does.
            if case let .offsetCommit(commit) = request {
                return OffsetCommitResponse(topics: commit.topics.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: injected.rawValue) })
                }).body
            }
            return KafkaResponseEncoder.errorBody(for: request.apiKey, errorCode: injected.rawValue)
        }
        return await inner.handle(request, context: context)
    }

    func start(broker: Broker) async throws { try await inner.start(broker: broker) }
    func shutdown() async { await inner.shutdown() }
    func connectionClosed(connectionID: UInt64) async { await inner.connectionClosed(connectionID: connectionID) }
}

/// Group members when the coordinator moves, refuses or restarts.
@Suite(.serialized) struct GroupConsumerFailoverTests {
    static let groups = GroupCoordinatorConfig(groupMinSessionTimeoutMs: 1000, groupInitialRebalanceDelayMs: 100, offsetsTopicNumPartitions: 4)

    static func start(flaky: FlakyGroupCoordinator? = nil) async throws -> GroupHarness {
        let clock = ScaledClock(speed: 10)
        let cluster = try EmbeddedCluster(EmbeddedCluster.Configuration(
            storageURL: "memory://", clock: clock, randomSeed: 9,
            customize: { $0.logRetentionCheckIntervalMs = 3_600_000 },
            groupCoordinator: { _ in flaky ?? BrokerGroupCoordinator(config: groups) }))
        try await cluster.start()
        var config = ClientConfig(bootstrapServers: cluster.bootstrapAddresses, clock: clock)
        config.retryBackoffMs = 20
        config.retryBackoffMaxMs = 200
        config.reconnectBackoffMs = 20
        config.reconnectBackoffMaxMs = 200
        return GroupHarness(clock: clock, cluster: cluster, client: ClusterClient(config: config, transport: cluster.transport))
    }

    @Test func notCoordinatorAndCoordinatorNotAvailable_makeMembersLookItUpAgain_keepingTheirPartitions() async throws {
        let flaky = FlakyGroupCoordinator(config: Self.groups)
        let harness = try await Self.start(flaky: flaky)
        do {
            try await harness.createTopic("moves", partitions: 8)
            try await harness.produce("moves", count: 80)
            let a = try harness.member(group: "moves")
            let b = try harness.member(group: "moves")
            try a.subscribe(["moves"])
            try b.subscribe(["moves"])
            let (ca, cb) = (Collector(a), Collector(b))
            #expect(await harness.until { ca.count + cb.count == 80 && !a.membershipState.isRebalancing && !b.membershipState.isRebalancing })
            let generation = a.membershipState.generationId
            let lookupsBefore = flaky.lookups.load(ordering: .relaxed)
            flaky.fail(.heartbeat, with: .notCoordinator, times: 2)
            flaky.failLookups(times: 2)
            flaky.fail(.offsetCommit, with: .coordinatorNotAvailable, times: 2)
            // Heartbeats and commits go through after the members find the coordinator again.
            try await harness.produce("moves", count: 80, from: 80)
            #expect(await harness.until { ca.count + cb.count == 160 })
            try await a.commitSync()
            #expect(await harness.until { flaky.lookups.load(ordering: .relaxed) >= lookupsBefore + 5 },
                    "members looked the coordinator up again (\(flaky.lookups.load(ordering: .relaxed) - lookupsBefore) lookups)")
            try await harness.clock.sleep(nanoseconds: 2_000_000_000)
            #expect(a.membershipState.generationId == generation && b.membershipState.generationId == generation,
                    "no rebalance: the members kept their generation")
            #expect(a.assignment.count == 4 && b.assignment.count == 4)
            let committed = try await a.committed(a.assignment)
            #expect(committed.count == 4)
            await ca.stop()
            await cb.stop()
            await a.close()
            await b.close()
        }
        await harness.stop()
    }

    @Test func rebalanceInProgressOnJoin_andUnknownMemberOnHeartbeat_areRecoveredFrom() async throws {
        let flaky = FlakyGroupCoordinator(config: Self.groups)
        let harness = try await Self.start(flaky: flaky)
        do {
            try await harness.createTopic("recover", partitions: 4)
            let lost = Mutex<[[TopicAndPartition]]>([])
            let a = try harness.member(group: "recover", listener: ConsumerRebalanceListener(
                onPartitionsLost: { partitions in lost.withLock { $0.append(partitions) } }))
            flaky.fail(.joinGroup, with: .rebalanceInProgress, times: 2)
            try a.subscribe(["recover"])
            #expect(await harness.until { a.assignment.count == 4 && !a.membershipState.isRebalancing })
            let firstMemberId = a.membershipState.memberId
            // The coordinator forgot the member: its partitions are lost and it joins as a new member.
            flaky.fail(.heartbeat, with: .unknownMemberId, times: 1)
            #expect(await harness.until { lost.withLock { $0.count } == 1 && a.assignment.count == 4 && !a.membershipState.isRebalancing })
            #expect(a.membershipState.memberId != firstMemberId)
            #expect(lost.withLock { $0 } == [(0 ..< 4).map { TopicAndPartition(topic: "recover", partition: $0) }])
            await a.close()
        }
        await harness.stop()
    }

    @Test func brokerRestart_membersReconnect_andOffsetsSurvive() async throws {
        let harness = try await Self.start()
        do {
            try await harness.createTopic("restart", partitions: 4)
            try await harness.produce("restart", count: 40)
            let a = try harness.member(group: "restart")
            try a.subscribe(["restart"])
            let ca = Collector(a)
            #expect(await harness.until { ca.count == 40 })
            try await a.commitSync()
            try await harness.cluster.restartBroker(0)
            try await harness.produce("restart", count: 40, from: 40)
            #expect(await harness.until { ca.count == 80 }, "consumed \(ca.count) after the restart")
            await ca.stop()
            await a.close()
            // The offsets were reloaded from __consumer_offsets: a new member has nothing to read.
            let b = try harness.member(group: "restart")
            try b.subscribe(["restart"])
            #expect(await harness.until { b.assignment.count == 4 })
            let total = try await b.committed(b.assignment).values.reduce(0, +)
            #expect(total == 80)
            let cb = Collector(b)
            try await harness.clock.sleep(nanoseconds: 1_000_000_000)
            await cb.stop()
            #expect(cb.count == 0)
            await b.close()
        }
        await harness.stop()
    }

    @Test func illegalGenerationOnHeartbeat_losesThePartitions_andRejoinsWithTheSameMemberId() async throws {
        let flaky = FlakyGroupCoordinator(config: Self.groups)
        let harness = try await Self.start(flaky: flaky)
        do {
            try await harness.createTopic("illegal", partitions: 2)
            let lost = Mutex<Int>(0)
            let a = try harness.member(group: "illegal", listener: ConsumerRebalanceListener(onPartitionsLost: { _ in lost.withLock { $0 += 1 } }))
            try a.subscribe(["illegal"])
            #expect(await harness.until { a.assignment.count == 2 && !a.membershipState.isRebalancing })
            let (memberId, generation) = (a.membershipState.memberId, a.membershipState.generationId)
            flaky.fail(.heartbeat, with: .illegalGeneration, times: 1)
            #expect(await harness.until { lost.withLock { $0 } == 1 && a.assignment.count == 2 && !a.membershipState.isRebalancing })
            #expect(a.membershipState.memberId == memberId && a.membershipState.generationId > generation)
            await a.close()
        }
        await harness.stop()
    }
}
