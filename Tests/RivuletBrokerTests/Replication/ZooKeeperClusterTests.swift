import Foundation
import RivuletBroker
import RivuletClient
import RivuletCoordination
import RivuletCore
import RivuletTestSupport
import Testing

/// The same cluster on a real ZooKeeper (Debian's `zookeeper` 3.8, started for the suite): the
/// ZooKeeper client carries registration, election, partition state and watches.
@Suite("Replication over a real ZooKeeper", .serialized, .enabled(if: !ZooKeeperTestServer.skipRequested, "RIVULET_SKIP_ZOOKEEPER=1"),
       .zooKeeperServer)
struct ZooKeeperClusterTests {
    @Test("brokers register and elect a controller in ZooKeeper; a killed leader's partition moves without losing acked records; the controller fails over")
    func failoverOverZooKeeper() async throws {
        let server = try SharedZooKeeper.server()
        let fixture = try await ReplicatedClusterFixture.start(sessionTimeoutMs: 1000, minInsyncReplicas: 2,
                                                               coordinator: .url("zk://\(server.connectString)"))
        defer { Task { await fixture.stop() } }
        let elected = await holdsEventually { fixture.cluster.controllerId != nil }
        #expect(elected)
        try await fixture.createTopic("zk-failover", partitions: 2)
        let coordinator = try await Coordinators.connect(url: "zk://\(server.connectString)")
        defer { Task { await coordinator.close() } }
        #expect(try await coordinator.getChildren(ClusterZNodes.brokerIds) == ["0", "1", "2"])
        #expect(try await coordinator.getChildren(ClusterZNodes.partitions("zk-failover")) == ["0", "1"])

        let producer = try fixture.producer(acks: .all, idempotent: true)
        var acked: [Int64: Int64] = [:]
        for value in Int64(0) ..< 40 {
            acked[value] = try await producer.send(topic: "zk-failover", partition: 0, key: nil,
                                                   value: ReplicatedClusterFixture.encode(value)).offset
        }
        let leader = try #require(fixture.cluster.leader(of: "zk-failover", partition: 0))
        let killedAt = ContinuousClock.now
        await fixture.cluster.kill(broker: leader)
        acked[40] = try await producer.send(topic: "zk-failover", partition: 0, key: nil, value: ReplicatedClusterFixture.encode(40)).offset
        let recovery = ContinuousClock.now - killedAt
        print("ZooKeeper (1000 ms session): first acked write \(recovery) after killing leader \(leader)")
        #expect(recovery < .seconds(3))
        for value in Int64(41) ..< 60 {
            acked[value] = try await producer.send(topic: "zk-failover", partition: 0, key: nil,
                                                   value: ReplicatedClusterFixture.encode(value)).offset
        }
        await producer.close()
        let read = try await fixture.readAll("zk-failover", partitions: 1)
        let readByValue = Dictionary(read.map { ($0.2, $0.1) }, uniquingKeysWith: { first, _ in first })
        #expect(acked.allSatisfy { readByValue[$0.key] == $0.value })

        // The controller's process dies: another broker takes over through ZooKeeper.
        let controller = try #require(fixture.cluster.controllerId)
        await fixture.cluster.kill(broker: controller)
        let tookOver = await holdsEventually(timeoutMs: 8000) {
            guard let next = fixture.cluster.controllerId else { return false }
            return next != controller
        }
        #expect(tookOver)
        let data = try await coordinator.getData(ClusterZNodes.controller).data
        #expect(try ControllerRegistration(data: data).brokerId == fixture.cluster.controllerId)
    }
}
