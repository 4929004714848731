import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCoordination
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Testing

@Suite("Replication: followers, ISR, high watermark, acks", .serialized)
struct ReplicationTests {
    @Test("acks=all records reach every replica; the leader's high watermark covers them and followers learn it")
    func acksAll_replicatesToEveryReplica() async throws {
        let fixture = try await ReplicatedClusterFixture.start()
        defer { Task { await fixture.stop() } }
        try await fixture.createTopic("replicated", partitions: 2)
        let producer = try fixture.producer(acks: .all)
        for value in 0 ..< 50 {
            _ = try await producer.send(topic: "replicated", partition: Int32(value % 2), key: nil,
                                        value: ReplicatedClusterFixture.encode(Int64(value)))
        }
        await producer.close()
        for partition in Int32(0) ..< 2 {
            let leader = try #require(fixture.cluster.leader(of: "replicated", partition: partition))
            let leaderReplica = try #require(fixture.replica("replicated", partition, on: leader))
            #expect(leaderReplica.logEndOffset == 25)
            #expect(leaderReplica.highWatermark == 25)
            #expect(Set(leaderReplica.isr) == [0, 1, 2])
            for nodeId in fixture.cluster.brokerIds {
                let replica = try #require(fixture.replica("replicated", partition, on: nodeId))
                #expect(replica.logEndOffset == 25, "broker \(nodeId) has \(String(describing: replica.logEndOffset))")
                let caughtUp = await holdsEventually { replica.highWatermark == 25 }
                #expect(caughtUp, "broker \(nodeId) HW \(replica.highWatermark)")
                // Follower copies carry the leader's epochs.
                #expect(replica.epochCache.latestEpoch == leaderReplica.epochCache.latestEpoch)
            }
        }
        let read = try await fixture.readAll("replicated", partitions: 2)
        #expect(read.count == 50)
        #expect(Set(read.map(\.2)) == Set(0 ..< 50))
    }

    @Test("a lagging follower leaves the ISR after replica.lag.time.max.ms and rejoins once caught up; the znode follows")
    func isr_shrinksAndExpands() async throws {
        let fixture = try await ReplicatedClusterFixture.start(replicaLagTimeMaxMs: 300)
        defer { Task { await fixture.stop() } }
        try await fixture.createTopic("isr", partitions: 1)
        let leader = try #require(fixture.cluster.leader(of: "isr", partition: 0))
        let follower = try #require(fixture.cluster.brokerIds.first { $0 != leader })
        #expect(follower != leader)
        let leaderReplica = try #require(fixture.replica("isr", on: leader))
        // Followers' fetches are answered 1.5 s late: they fall behind for longer than the lag time,
        // while their coordination sessions stay alive.
        let faults = try #require(fixture.cluster.faults(of: leader))
        faults.setDelay(1500, for: [.fetch])
        let producer = try fixture.producer(acks: .leader)
        _ = try await producer.send(topic: "isr", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(1))
        let shrunk = await holdsEventually(timeoutMs: 3000) { !leaderReplica.isr.contains(follower) }
        #expect(shrunk, "ISR \(leaderReplica.isr)")
        // The shrink is durable in the coordination service.
        let session = try #require(fixture.cluster.broker(leader)?.membership?.session)
        let durable = await holdsEventually {
            let data = (try? await session.getData(ClusterZNodes.partitionState("isr", 0)).data) ?? []
            return (try? PartitionStateZNode(data: data, path: "state"))?.isr.contains(follower) == false
        }
        #expect(durable)
        faults.clearDelays()
        _ = try await producer.send(topic: "isr", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(2))
        let expanded = await holdsEventually(timeoutMs: 5000) { leaderReplica.isr.contains(follower) }
        #expect(expanded, "ISR \(leaderReplica.isr)")
        await producer.close()
    }

    @Test("consumers read only below the high watermark: an acks=1 write no follower has yet stays invisible")
    func highWatermark_boundsConsumerReads() async throws {
        let fixture = try await ReplicatedClusterFixture.start(replicaLagTimeMaxMs: 10_000)
        defer { Task { await fixture.stop() } }
        try await fixture.createTopic("hw", partitions: 1)
        let leader = try #require(fixture.cluster.leader(of: "hw", partition: 0))
        let leaderReplica = try #require(fixture.replica("hw", on: leader))
        let producer = try fixture.producer(acks: .all)
        _ = try await producer.send(topic: "hw", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(0))
        #expect(leaderReplica.highWatermark == 1)
        // Followers' fetches are held at the leader: an acks=1 write is appended but not replicated.
        let faults = try #require(fixture.cluster.faults(of: leader))
        faults.setDelay(800, for: [.fetch])
        try await Task.sleep(for: .milliseconds(150))
        let acksOne = try fixture.producer(acks: .leader)
        let metadata = try await acksOne.send(topic: "hw", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(1))
        #expect(metadata.offset == 1)
        #expect(leaderReplica.logEndOffset == 2)
        #expect(leaderReplica.highWatermark == 1, "HW \(leaderReplica.highWatermark)")
        let connection = try await fixture.cluster.transport.connect(to: try #require(fixture.cluster.address(of: leader)), clientId: "hw")
        let fetch = try await connection.send(FetchRequest(maxWaitMs: 0, minBytes: 0, topics: [
            .init(topic: "hw", partitions: [.init(partition: 0, fetchOffset: 1, partitionMaxBytes: 1 << 20)]),
        ]), version: 12)
        let data = try #require(fetch.responses.first?.partitions.first)
        #expect(data.highWatermark == 1)
        #expect((data.records?.readableBytes ?? 0) == 0, "a consumer read above the high watermark")
        faults.clearDelays()
        let committed = await holdsEventually { leaderReplica.highWatermark == 2 }
        #expect(committed)
        await connection.close()
        await producer.close()
        await acksOne.close()
    }

    @Test("acks=all below min.insync.replicas gets NOT_ENOUGH_REPLICAS; acks=1 still works")
    func minInsyncReplicas_refusesAcksAll() async throws {
        let fixture = try await ReplicatedClusterFixture.start(replicaLagTimeMaxMs: 200, minInsyncReplicas: 2)
        defer { Task { await fixture.stop() } }
        try await fixture.createTopic("minisr", partitions: 1)
        let leader = try #require(fixture.cluster.leader(of: "minisr", partition: 0))
        let leaderReplica = try #require(fixture.replica("minisr", on: leader))
        try #require(fixture.cluster.faults(of: leader)).setDelay(5000, for: [.fetch])
        let writer = try fixture.producer(acks: .leader)
        _ = try await writer.send(topic: "minisr", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(0))
        let shrunk = await holdsEventually(timeoutMs: 3000) { leaderReplica.isr == [leader] }
        #expect(shrunk, "ISR \(leaderReplica.isr)")
        let connection = try await fixture.cluster.transport.connect(to: try #require(fixture.cluster.address(of: leader)), clientId: "minisr")
        var builder = RecordBatchBuilder()
        try builder.append(timestampMs: 1, key: nil, value: ReplicatedClusterFixture.encode(1))
        let records = try builder.build().buffer
        let answer = try await connection.send(ProduceRequest(acks: -1, timeoutMs: 1000, topicData: [
            .init(name: "minisr", partitionData: [.init(index: 0, records: records)]),
        ]), version: 9)
        #expect(answer.responses.first?.partitionResponses.first?.errorCode == KafkaErrorCode.notEnoughReplicas.rawValue)
        let acksOne = try await connection.send(ProduceRequest(acks: 1, timeoutMs: 1000, topicData: [
            .init(name: "minisr", partitionData: [.init(index: 0, records: records)]),
        ]), version: 9)
        #expect(acksOne.responses.first?.partitionResponses.first?.errorCode == 0)
        await connection.close()
        await writer.close()
    }

    @Test("topic lifecycle through the coordinator: create on any broker, add partitions, delete; every broker follows")
    func topicLifecycle_throughTheCoordinator() async throws {
        let fixture = try await ReplicatedClusterFixture.start()
        defer { Task { await fixture.stop() } }
        try await fixture.createTopic("lifecycle", partitions: 3, replicationFactor: 2)
        await #expect(throws: ClientError.self) {
            _ = try await fixture.admin.createTopic(RivuletClient.NewTopic(name: "lifecycle", partitions: 1, replicationFactor: 2))
        }
        await #expect(throws: ClientError.self) {
            _ = try await fixture.admin.createTopic(RivuletClient.NewTopic(name: "too-many", partitions: 1, replicationFactor: 4))
        }
        // Every replica is open on exactly the brokers of its assignment.
        func holders(_ partition: Int32) -> Set<Int32> {
            Set(fixture.cluster.brokerIds.filter { fixture.replica("lifecycle", partition, on: $0) != nil })
        }
        for partition in Int32(0) ..< 3 {
            let assigned = fixture.cluster.broker(0)?.metadataCache.image.topic(named: "lifecycle")?.partition(partition)?.replicas ?? []
            #expect(assigned.count == 2)
            #expect(holders(partition) == Set(assigned))
        }
        let grown = try await fixture.admin.createPartitions(["lifecycle": 5])
        #expect(grown.first?.error == nil)
        let allLed = await holdsEventually {
            (0 ..< 5).allSatisfy { fixture.cluster.leader(of: "lifecycle", partition: Int32($0)) != nil }
        }
        #expect(allLed)
        for nodeId in fixture.cluster.brokerIds {
            #expect(fixture.cluster.broker(nodeId)?.metadataCache.image.topic(named: "lifecycle")?.partitions.count == 5)
        }
        try await fixture.admin.deleteTopic("lifecycle")
        let gone = await holdsEventually {
            fixture.cluster.brokerIds.allSatisfy { nodeId in
                (0 ..< 5).allSatisfy { fixture.replica("lifecycle", Int32($0), on: nodeId) == nil }
                    && fixture.cluster.broker(nodeId)?.metadataCache.image.topic(named: "lifecycle") == nil
            }
        }
        #expect(gone)
    }

    @Test("a follower that was away while the leader deleted past its log end restarts its log at the leader's log start and rejoins the ISR")
    func follower_behindTheLeadersLogStart_restartsThere() async throws {
        let fixture = try await ReplicatedClusterFixture.start()
        defer { Task { await fixture.stop() } }
        try await fixture.createTopic("behind", partitions: 1)
        let leader = try #require(fixture.cluster.leader(of: "behind", partition: 0))
        let away = try #require(fixture.cluster.brokerIds.first { $0 != leader })
        let producer = try fixture.producer(acks: .all)
        for value in 0 ..< 100 {
            _ = try await producer.send(topic: "behind", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(Int64(value)))
        }
        await fixture.cluster.kill(broker: away)
        // Acknowledged by the leader and the other follower (min.insync.replicas 1) once the ISR shrank.
        for value in 100 ..< 300 {
            _ = try await producer.send(topic: "behind", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(Int64(value)))
        }
        await producer.close()
        let deleted = try await fixture.admin.deleteRecords(before: [TopicAndPartition(topic: "behind", partition: 0): 250])
        #expect(try deleted[TopicAndPartition(topic: "behind", partition: 0)]?.get() == 250)

        try await fixture.cluster.restart(broker: away)
        let back = await holdsEventually(timeoutMs: 10_000) {
            guard let replica = fixture.replica("behind", on: away) else { return false }
            return replica.logStartOffset == 250 && replica.logEndOffset == 300
        }
        let replica = fixture.replica("behind", on: away)
        #expect(back, "the returning follower has log start \(String(describing: replica?.logStartOffset)), end \(String(describing: replica?.logEndOffset))")
        #expect(await fixture.cluster.waitForFullIsr(of: "behind", timeoutMs: 10_000), "the follower never rejoined the ISR")
        // The follower that stayed learned the new log start from its fetches: the deleted records
        // are gone from every replica, so no later leader brings them back.
        for nodeId in fixture.cluster.brokerIds {
            let moved = await holdsEventually { fixture.replica("behind", on: nodeId)?.logStartOffset == 250 }
            #expect(moved, "broker \(nodeId) has log start \(String(describing: fixture.replica("behind", on: nodeId)?.logStartOffset))")
        }
        // What it holds is the leader's: offsets 250..<300 with the values sent there.
        let read = try await fixture.readAll("behind")
        #expect(read.map(\.1) == Array(250 ..< 300))
        #expect(read.map(\.2) == Array(250 ..< 300).map(Int64.init))
    }
}

