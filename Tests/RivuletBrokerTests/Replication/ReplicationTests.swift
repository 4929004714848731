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
}
