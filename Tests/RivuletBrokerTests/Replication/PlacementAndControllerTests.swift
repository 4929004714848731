import RivuletBroker
import RivuletClient
import RivuletCoordination
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Testing

@Suite("Replica placement and the controller's decisions")
struct PlacementTests {
    private func brokers(_ racks: [String?]) -> [BrokerEndpoint] {
        racks.enumerated().map { BrokerEndpoint(nodeId: Int32($0.offset), host: "h", port: 1, rack: $0.element) }
    }

    @Test("without racks replicas go round robin with Kafka's shifting followers")
    func roundRobin_matchesKafka() throws {
        var generator = SeededGenerator(seed: 1)
        let lists = try ReplicaPlacement.assign(partitions: 6, replicationFactor: 3, brokers: brokers([nil, nil, nil, nil]),
                                                startIndex: 0, replicaShift: 0, generator: &generator)
        // Kafka's assignReplicasToBrokers with startIndex 0 and shift 0 on brokers 0-3.
        #expect(lists == [[0, 1, 2], [1, 2, 3], [2, 3, 0], [3, 0, 1], [0, 2, 3], [1, 3, 0]])
        // Leaders spread evenly.
        #expect(Dictionary(grouping: lists, by: { $0[0] }).mapValues(\.count).values.allSatisfy { $0 <= 2 })
    }

    @Test("with racks every partition's replicas land on distinct racks, leaders alternate racks")
    func rackAware_distinctRacks() throws {
        let endpoints = brokers(["a", "a", "b", "b", "c", "c"])
        let racks = Dictionary(uniqueKeysWithValues: endpoints.map { ($0.nodeId, $0.rack ?? "") })
        var generator = SeededGenerator(seed: 7)
        for seed in 0 ..< 6 {
            let lists = try ReplicaPlacement.assign(partitions: 12, replicationFactor: 3, brokers: endpoints,
                                                    startIndex: seed, replicaShift: seed, generator: &generator)
            for list in lists {
                #expect(Set(list.map { racks[$0] }).count == 3, "\(list) does not span three racks")
                #expect(Set(list).count == 3)
            }
            #expect(Set(lists.map { racks[$0[0]] }).count == 3)
        }
        #expect(ReplicaPlacement.rackAlternated(endpoints).map(\.nodeId) == [0, 2, 4, 1, 3, 5])
        // Fewer racks than replicas: distinct brokers, every rack used.
        let twoRacks = brokers(["a", "a", "b", "b"])
        let lists = try ReplicaPlacement.assign(partitions: 4, replicationFactor: 3, brokers: twoRacks, generator: &generator)
        for list in lists { #expect(Set(list).count == 3) }
        #expect(throws: ReplicaPlacement.Failure.self) {
            try ReplicaPlacement.assign(partitions: 1, replicationFactor: 5, brokers: twoRacks, generator: &generator)
        }
    }

    @Test("the controller elects from the live ISR, drops dead brokers from it, and keeps a partition offline rather than elect an out-of-sync replica")
    func controllerDecisions() {
        let state = PartitionStateZNode(leader: 1, leaderEpoch: 4, isr: [1, 2, 3], controllerEpoch: 1)
        // Leader alive, a follower dead: ISR shrinks, same epoch.
        #expect(KafkaController.nextState(state, replicas: [1, 2, 3], live: [1, 2], unclean: false, controllerEpoch: 2)
            == PartitionStateZNode(leader: 1, leaderEpoch: 4, isr: [1, 2], controllerEpoch: 2))
        // Leader dead: the next live ISR member in assignment order, epoch + 1.
        #expect(KafkaController.nextState(state, replicas: [1, 3, 2], live: [2, 3], unclean: false, controllerEpoch: 2)
            == PartitionStateZNode(leader: 3, leaderEpoch: 5, isr: [2, 3], controllerEpoch: 2))
        // Nothing to do.
        #expect(KafkaController.nextState(state, replicas: [1, 2, 3], live: [1, 2, 3], unclean: false, controllerEpoch: 2) == nil)
        // Only an out-of-sync replica is alive: offline without unclean election, led by it with.
        let lonely = PartitionStateZNode(leader: 1, leaderEpoch: 4, isr: [1], controllerEpoch: 1)
        #expect(KafkaController.nextState(lonely, replicas: [1, 2], live: [2], unclean: false, controllerEpoch: 2)
            == PartitionStateZNode(leader: -1, leaderEpoch: 5, isr: [1], controllerEpoch: 2))
        #expect(KafkaController.nextState(lonely, replicas: [1, 2], live: [2], unclean: true, controllerEpoch: 2)
            == PartitionStateZNode(leader: 2, leaderEpoch: 5, isr: [2], controllerEpoch: 2))
        // The last ISR member comes back to an offline partition: it leads again.
        let offline = PartitionStateZNode(leader: -1, leaderEpoch: 5, isr: [1], controllerEpoch: 2)
        #expect(KafkaController.nextState(offline, replicas: [1, 2], live: [1, 2], unclean: false, controllerEpoch: 3)
            == PartitionStateZNode(leader: 1, leaderEpoch: 6, isr: [1], controllerEpoch: 3))
    }

    @Test("preferred leaders: a broker above the imbalance percentage gets back the partitions where it is in sync")
    func preferredLeaderElections_followKafkasRule() {
        func leadership(_ partition: Int32, _ replicas: [Int32], leader: Int32, isr: [Int32]) -> KafkaController.PartitionLeadership {
            KafkaController.PartitionLeadership(topic: "t", partition: partition, replicas: replicas,
                                                state: PartitionStateZNode(leader: leader, leaderEpoch: 3, isr: isr, controllerEpoch: 1))
        }
        // Broker 0 prefers partitions 0 and 1; both are led by 1. Broker 0 is in the ISR of 0 only.
        let partitions = [
            leadership(0, [0, 1, 2], leader: 1, isr: [0, 1, 2]),
            leadership(1, [0, 2, 1], leader: 2, isr: [1, 2]),
            leadership(2, [1, 2, 0], leader: 1, isr: [0, 1, 2]),
        ]
        let elections = KafkaController.preferredLeaderElections(partitions, live: [0, 1, 2], percentage: 10, controllerEpoch: 7)
        #expect(elections.map(\.0.partition) == [0])
        #expect(elections.first?.1 == PartitionStateZNode(leader: 0, leaderEpoch: 4, isr: [0, 1, 2], controllerEpoch: 7))
        // A dead preferred replica gets nothing; at or below the percentage nothing moves.
        #expect(KafkaController.preferredLeaderElections(partitions, live: [1, 2], percentage: 10, controllerEpoch: 7).isEmpty)
        #expect(KafkaController.preferredLeaderElections(partitions, live: [0, 1, 2], percentage: 100, controllerEpoch: 7).isEmpty)
        let oneOfTwo = [partitions[0], leadership(3, [0, 1, 2], leader: 0, isr: [0, 1, 2])]
        #expect(KafkaController.preferredLeaderElections(oneOfTwo, live: [0, 1, 2], percentage: 50, controllerEpoch: 7).isEmpty)
        #expect(KafkaController.preferredLeaderElections(oneOfTwo, live: [0, 1, 2], percentage: 49, controllerEpoch: 7).count == 1)
    }

    @Test("znode data round-trips and bad data is a typed error")
    func znodeData() throws {
        let uuid = KafkaUUID(mostSignificantBits: 0x0123_4567_89AB_CDEF, leastSignificantBits: 0xFEDC_BA98_7654_3210)
        let assignment = TopicAssignment(name: "t", topicId: uuid, isInternal: false, replicas: [[1, 2], [2, 0]],
                                         configs: ["retention.ms": "1000"])
        #expect(try TopicAssignment(name: "t", data: assignment.data) == assignment)
        let state = PartitionStateZNode(leader: 2, leaderEpoch: 7, isr: [2, 0], controllerEpoch: 3)
        #expect(try PartitionStateZNode(data: state.data, path: "p") == state)
        let registration = BrokerRegistration(endpoint: BrokerEndpoint(nodeId: 4, host: "127.0.0.1", port: 9094, rack: "r1"))
        #expect(try BrokerRegistration(nodeId: 4, data: registration.data) == registration)
        #expect(throws: ZNodeDataError.self) { try PartitionStateZNode(data: Array("leader=x".utf8), path: "p") }
        #expect(throws: ZNodeDataError.self) { try TopicAssignment(name: "t", data: Array("topic_id=zz\npartition.1=1".utf8)) }
        #expect(throws: ZNodeDataError.self) { try BrokerRegistration(nodeId: 1, data: [0xFF, 0xFE]) }
    }
}

@Suite("Controller election and failover", .serialized)
struct FailoverTests {
    @Test("start() returns a ready cluster: a controller, every broker seeing all five, a topic with RF 5 created at once")
    func start_waitsUntilReady() async throws {
        let fixture = try await ReplicatedClusterFixture.start(brokers: 5)
        defer { Task { await fixture.stop() } }
        // No waiting here: `start()` has done it.
        #expect(fixture.cluster.controllerId != nil)
        #expect(fixture.cluster.readinessGap() == nil)
        for nodeId in fixture.cluster.brokerIds {
            #expect(fixture.cluster.broker(nodeId)?.metadataCache.image.brokers.count == 5)
        }
        let created = try await fixture.admin.createTopic(RivuletClient.NewTopic(name: "ready", partitions: 5, replicationFactor: 5))
        #expect(created.error == nil)
    }

    @Test("one controller is elected; when it dies another takes over with a higher epoch")
    func controller_electionAndTakeover() async throws {
        let fixture = try await ReplicatedClusterFixture.start()
        defer { Task { await fixture.stop() } }
        let first = await holdsEventually { fixture.cluster.controllerId != nil }
        #expect(first)
        let controller = try #require(fixture.cluster.controllerId)
        let epoch = try #require(fixture.cluster.broker(controller)?.membership?.controllerEpoch)
        let active = fixture.cluster.brokerIds.filter { fixture.cluster.broker($0)?.membership?.isController == true }
        #expect(active == [controller])
        let session = try #require(fixture.cluster.broker(controller)?.membership?.session)
        let stored = try ControllerRegistration(data: try await session.getData(ClusterZNodes.controller).data)
        #expect(stored == ControllerRegistration(brokerId: controller, epoch: epoch))
        for nodeId in fixture.cluster.brokerIds {
            #expect(fixture.cluster.broker(nodeId)?.metadataCache.image.controllerId == controller)
        }

        await fixture.cluster.kill(broker: controller)
        let tookOver = await holdsEventually(timeoutMs: 5000) {
            guard let next = fixture.cluster.controllerId, next != controller else { return false }
            return (fixture.cluster.broker(next)?.membership?.controllerEpoch ?? 0) > epoch
        }
        #expect(tookOver)
        // The new controller works: a topic created now gets leaders on the live brokers only.
        try await fixture.createTopic("after-takeover", partitions: 3, replicationFactor: 2)
        for partition in Int32(0) ..< 3 {
            let leader = fixture.cluster.leader(of: "after-takeover", partition: partition)
            #expect(leader != nil && leader != controller)
        }
    }

    @Test("a restarted broker gets its preferred leaderships back (auto.leader.rebalance.enable); with it off they stay moved")
    func preferredLeaders_returnAfterARestart() async throws {
        for rebalance in [true, false] {
            let fixture = try await ReplicatedClusterFixture.start(customize: { config in
                config.autoLeaderRebalanceEnable = rebalance
                config.leaderImbalanceCheckIntervalMs = 200
            })
            defer { Task { await fixture.stop() } }
            try await fixture.createTopic("preferred", partitions: 3)
            let preferred = try (Int32(0) ..< 3).map { partition in
                try #require(fixture.cluster.broker(0)?.metadataCache.image.topic(named: "preferred")?.partition(partition)?.replicas.first)
            }
            let victim = preferred[0]
            await fixture.cluster.kill(broker: victim)
            let moved = await holdsEventually(timeoutMs: 5000) {
                guard let leader = fixture.cluster.leader(of: "preferred", partition: 0) else { return false }
                return leader != victim
            }
            #expect(moved)
            try await fixture.cluster.restart(broker: victim)
            #expect(await fixture.cluster.waitForFullIsr(of: "preferred", timeoutMs: 10_000))
            if rebalance {
                let back = await holdsEventually(timeoutMs: 5000) {
                    (Int32(0) ..< 3).allSatisfy { fixture.cluster.leader(of: "preferred", partition: $0) == preferred[Int($0)] }
                }
                #expect(back, "leaders \((Int32(0) ..< 3).map { fixture.cluster.leader(of: "preferred", partition: $0) }), preferred \(preferred)")
                // Writes go on at the preferred leader.
                let producer = try fixture.producer(acks: .all)
                let metadata = try await producer.send(topic: "preferred", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(1))
                #expect(metadata.offset >= 0)
                await producer.close()
            } else {
                try await Task.sleep(for: .milliseconds(600))
                #expect(fixture.cluster.leader(of: "preferred", partition: 0) != victim)
            }
        }
    }

    @Test("killing a leader: the first acked write comes within 1 s and no acked record is lost (500 ms session)")
    func leaderKill_recoversWithinOneSecond() async throws {
        let fixture = try await ReplicatedClusterFixture.start(minInsyncReplicas: 2)
        defer { Task { await fixture.stop() } }
        try await fixture.createTopic("failover", partitions: 1)
        let producer = try fixture.producer(acks: .all, idempotent: true)
        var acked: [Int64: Int64] = [:]
        for value in Int64(0) ..< 100 {
            acked[value] = try await producer.send(topic: "failover", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(value)).offset
        }
        let leader = try #require(fixture.cluster.leader(of: "failover", partition: 0))
        let killedAt = ContinuousClock.now
        await fixture.cluster.kill(broker: leader)
        let metadata = try await producer.send(topic: "failover", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(100))
        let recovery = ContinuousClock.now - killedAt
        acked[100] = metadata.offset
        #expect(recovery < .seconds(1), "first acked write \(recovery) after the kill")
        for value in Int64(101) ..< 150 {
            acked[value] = try await producer.send(topic: "failover", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(value)).offset
        }
        await producer.close()
        let newLeader = try #require(fixture.cluster.leader(of: "failover", partition: 0))
        #expect(newLeader != leader)
        #expect((fixture.replica("failover", on: newLeader)?.currentLeaderEpoch ?? 0) >= 1)
        let read = try await fixture.readAll("failover")
        let readByValue = Dictionary(read.map { ($0.2, $0.1) }, uniquingKeysWith: { first, _ in first })
        let lost = acked.filter { readByValue[$0.key] != $0.value }
        #expect(lost.isEmpty, "acked but lost or moved: \(lost.sorted { $0.key < $1.key }.prefix(10))")
        print("leader kill recovery: first acked write \(recovery) after the kill (session 500 ms)")

        // The killed broker restarts, truncates if needed, catches up and rejoins the ISR.
        try await fixture.cluster.restart(broker: leader)
        let rejoined = await holdsEventually(timeoutMs: 8000) {
            fixture.replica("failover", on: newLeader).map { Set($0.isr) == Set(fixture.cluster.brokerIds) } ?? false
        }
        #expect(rejoined)
        let restarted = try #require(fixture.replica("failover", on: leader))
        #expect(restarted.logEndOffset == fixture.replica("failover", on: newLeader)?.logEndOffset)
    }

    @Test("a follower whose log diverged (unclean election) truncates with OffsetForLeaderEpoch and copies the new leader's log")
    func truncation_afterDivergence() async throws {
        let fixture = try await ReplicatedClusterFixture.start(brokers: 2, replicaLagTimeMaxMs: 200)
        defer { Task { await fixture.stop() } }
        try await fixture.createTopic("diverge", partitions: 1, replicationFactor: 2,
                                      configs: ["unclean.leader.election.enable": "true"])
        let first = try #require(fixture.cluster.leader(of: "diverge", partition: 0))
        let second = try #require(fixture.cluster.brokerIds.first { $0 != first })
        let producer = try fixture.producer(acks: .all)
        for value in Int64(0) ..< 5 {
            _ = try await producer.send(topic: "diverge", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(value))
        }
        await producer.close()
        // The follower is held back: the leader drops it from the ISR and writes alone (acks=1).
        try #require(fixture.cluster.faults(of: first)).setDelay(60_000, for: [.fetch])
        let firstReplica = try #require(fixture.replica("diverge", on: first))
        let alone = await holdsEventually(timeoutMs: 3000) { firstReplica.isr == [first] }
        #expect(alone)
        let lonely = try fixture.producer(acks: .leader)
        for value in Int64(100) ..< 110 {
            _ = try await lonely.send(topic: "diverge", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(value))
        }
        await lonely.close()
        #expect(firstReplica.logEndOffset == 15)
        // The leader dies; only the out-of-sync follower is left and unclean election lets it lead.
        await fixture.cluster.kill(broker: first)
        let elected = await fixture.cluster.waitForLeader(of: "diverge", partition: 0, timeoutMs: 5000)
        #expect(elected == second)
        let secondReplica = try #require(fixture.replica("diverge", on: second))
        #expect(secondReplica.logEndOffset == 5)
        let writer = try fixture.producer(acks: .leader)
        for value in Int64(200) ..< 203 {
            _ = try await writer.send(topic: "diverge", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(value))
        }
        await writer.close()
        // The old leader comes back as a follower: its offsets 5..<15 diverge and are truncated.
        try #require(fixture.cluster.faults(of: first)).clearDelays()
        try await fixture.cluster.restart(broker: first)
        let caughtUp = await holdsEventually(timeoutMs: 8000) {
            fixture.replica("diverge", on: first)?.logEndOffset == 8 && secondReplica.isr.contains(first)
        }
        #expect(caughtUp, "LEO \(String(describing: fixture.replica("diverge", on: first)?.logEndOffset)), ISR \(secondReplica.isr)")
        let read = try await fixture.readAll("diverge")
        #expect(read.map(\.2) == [0, 1, 2, 3, 4, 200, 201, 202])
        let restarted = try #require(fixture.replica("diverge", on: first))
        #expect(restarted.epochCache == secondReplica.epochCache)
    }

    @Test("a partitioned leader loses its session and leadership; after healing it re-registers and rejoins as a follower, nothing acked is lost")
    func partitionAndHeal_rejoinsAsFollower() async throws {
        let fixture = try await ReplicatedClusterFixture.start(minInsyncReplicas: 2)
        defer { Task { await fixture.stop() } }
        try await fixture.createTopic("cut", partitions: 1)
        let producer = try fixture.producer(acks: .all, idempotent: true)
        var acked: [Int64: Int64] = [:]
        for value in Int64(0) ..< 20 {
            acked[value] = try await producer.send(topic: "cut", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(value)).offset
        }
        let leader = try #require(fixture.cluster.leader(of: "cut", partition: 0))
        let sessionsBefore = try #require(fixture.cluster.broker(leader)?.membership?.sessionCount)
        await fixture.cluster.partition(broker: leader)
        #expect(fixture.cluster.isCutOff(broker: leader))
        for value in Int64(20) ..< 40 {
            acked[value] = try await producer.send(topic: "cut", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(value)).offset
        }
        let newLeader = try #require(fixture.cluster.leader(of: "cut", partition: 0))
        #expect(newLeader != leader)
        await fixture.cluster.heal(broker: leader)
        let rejoined = await holdsEventually(timeoutMs: 8000) {
            guard let replica = fixture.replica("cut", on: newLeader) else { return false }
            return Set(replica.isr) == Set(fixture.cluster.brokerIds) && fixture.replica("cut", on: leader)?.isLeader == false
        }
        #expect(rejoined)
        #expect((fixture.cluster.broker(leader)?.membership?.sessionCount ?? 0) > sessionsBefore, "the healed broker kept its expired session")
        for value in Int64(40) ..< 50 {
            acked[value] = try await producer.send(topic: "cut", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(value)).offset
        }
        await producer.close()
        let read = try await fixture.readAll("cut")
        let readByValue = Dictionary(read.map { ($0.2, $0.1) }, uniquingKeysWith: { first, _ in first })
        #expect(acked.allSatisfy { readByValue[$0.key] == $0.value })
        let caughtUp = await holdsEventually {
            fixture.replica("cut", on: leader)?.logEndOffset == fixture.replica("cut", on: newLeader)?.logEndOffset
        }
        #expect(caughtUp)
    }
}

@Suite("Replicated cluster over TCP", .serialized)
struct ReplicatedTCPTests {
    @Test("startWithTCP with 3 brokers: a TCP client writes acks=all, the leader is killed, writes continue and nothing acked is lost")
    func tcpCluster_failover() async throws {
        var configuration = EmbeddedCluster.Configuration(
            brokerCount: 3, storageURL: "memory://", randomSeed: 9,
            customize: { config in
                config.replicaFetchBackoffMs = 20
                config.replicaFetchWaitMaxMs = 100
                config.minInsyncReplicas = 2
                config.logRetentionCheckIntervalMs = 3_600_000
            },
            groupCoordinator: { _ in nil })
        configuration.sessionTimeoutMs = 500
        let (cluster, listeners) = try await EmbeddedCluster.startWithTCP(configuration)
        var clientConfig = ClientConfig(bootstrapServers: listeners.bootstrapAddresses)
        clientConfig.retryBackoffMs = 10
        clientConfig.retryBackoffMaxMs = 50
        clientConfig.reconnectBackoffMs = 10
        clientConfig.requestTimeoutMs = 3000
        let client = ClusterClient(config: clientConfig, transport: listeners.transport())
        defer {
            Task {
                await client.close()
                await listeners.close()
                await cluster.shutdown()
            }
        }
        _ = try await Admin(cluster: client).createTopic(RivuletClient.NewTopic(name: "tcp-failover", partitions: 1, replicationFactor: 3))
        _ = await cluster.waitForLeader(of: "tcp-failover", partition: 0)
        #expect(await cluster.waitForFullIsr(of: "tcp-failover"))
        var producerConfig = ProducerConfig()
        producerConfig.acks = .all
        producerConfig.lingerMs = 0
        producerConfig.enableIdempotence = true
        producerConfig.deliveryTimeoutMs = 20_000
        let producer = try Producer(cluster: client, config: producerConfig)
        var acked: [Int64: Int64] = [:]
        for value in Int64(0) ..< 30 {
            acked[value] = try await producer.send(topic: "tcp-failover", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(value)).offset
        }
        let leader = try #require(cluster.leader(of: "tcp-failover", partition: 0))
        let killedAt = ContinuousClock.now
        await cluster.kill(broker: leader, listeners: listeners)
        acked[30] = try await producer.send(topic: "tcp-failover", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(30)).offset
        let recovery = ContinuousClock.now - killedAt
        print("TCP embedded cluster: first acked write \(recovery) after killing leader \(leader) (500 ms session)")
        #expect(recovery < .seconds(2))
        // The killed broker's port refuses connections, as a dead process's does; a restart opens it again.
        let killedAddress = try #require(cluster.address(of: leader))
        #expect(listeners.servers[leader] == nil)
        await #expect(throws: (any Error).self) { _ = try await TCPTransport().connect(to: killedAddress, clientId: "probe") }
        try await cluster.restart(broker: leader, listeners: listeners)
        let reopened = try await TCPTransport().connect(to: killedAddress, clientId: "probe")
        await reopened.close()
        #expect(listeners.bootstrapAddresses.count == 3)
        await producer.close()
        let newLeader = try #require(cluster.leader(of: "tcp-failover", partition: 0))
        let replica = try #require(cluster.broker(newLeader)?.replicaManager.partition(TopicPartition(topic: "tcp-failover", partition: 0)))
        #expect(replica.highWatermark == 31)
        let entries = (try? replica.read(fetchOffset: 0, maxBytes: 1 << 20, isolation: .highWatermark, currentLeaderEpoch: -1,
                                         minOneMessage: true))
        #expect((entries?.records.readableBytes ?? 0) > 0)
    }
}
