import NIOCore
import RivuletClient
import RivuletWire
import Testing

/// The client-side assignors and the consumer protocol's bytes.
@Suite struct AssignorTests {
    static func tp(_ topic: String, _ partition: Int32) -> TopicAndPartition { TopicAndPartition(topic: topic, partition: partition) }

    static func subscriptions(_ members: [String], topics: [String]) -> [String: GroupSubscription] {
        Dictionary(uniqueKeysWithValues: members.map { ($0, GroupSubscription(topics: topics)) })
    }

    /// Every partition once, and nothing else.
    static func checkComplete(_ assignment: [String: [TopicAndPartition]], _ partitionsPerTopic: [String: Int32]) {
        let all = assignment.values.flatMap { $0 }
        let expected = partitionsPerTopic.flatMap { topic, count in (0 ..< count).map { tp(topic, $0) } }
        #expect(all.count == Set(all).count, "a partition assigned twice")
        #expect(Set(all) == Set(expected))
    }

    @Test func range_givesConsecutiveRanges_extraToTheFirstMembers() {
        let result = RangeAssignor().assign(partitionsPerTopic: ["t": 8, "u": 2], subscriptions: Self.subscriptions(["c", "a", "b"], topics: ["t", "u"]))
        #expect(result["a"] == [Self.tp("t", 0), Self.tp("t", 1), Self.tp("t", 2), Self.tp("u", 0)])
        #expect(result["b"] == [Self.tp("t", 3), Self.tp("t", 4), Self.tp("t", 5), Self.tp("u", 1)])
        #expect(result["c"] == [Self.tp("t", 6), Self.tp("t", 7)])
        Self.checkComplete(result, ["t": 8, "u": 2])
    }

    @Test func roundRobin_dealsInTurn_skippingUnsubscribedMembers() {
        var subscriptions = Self.subscriptions(["a", "b"], topics: ["t", "u"])
        subscriptions["c"] = GroupSubscription(topics: ["u"])
        let result = RoundRobinAssignor().assign(partitionsPerTopic: ["t": 3, "u": 3], subscriptions: subscriptions)
        // Kafka's CircularIterator: t-2 skips c (not subscribed to t) and goes to a; u-0 continues at b.
        #expect(result["a"] == [Self.tp("t", 0), Self.tp("t", 2), Self.tp("u", 2)])
        #expect(result["b"] == [Self.tp("t", 1), Self.tp("u", 0)])
        #expect(result["c"] == [Self.tp("u", 1)])
        Self.checkComplete(result, ["t": 3, "u": 3])
    }

    @Test func cooperativeSticky_isBalanced_andKeepsOwnedPartitions() {
        let assignor = CooperativeStickyAssignor()
        let first = assignor.assign(partitionsPerTopic: ["t": 8], subscriptions: Self.subscriptions(["a"], topics: ["t"]))
        #expect(first["a"]?.count == 8)
        // b joins: a keeps 4 of its own, b gets the other 4.
        var subscriptions = Self.subscriptions(["a", "b"], topics: ["t"])
        subscriptions["a"]?.ownedPartitions = first["a"] ?? []
        subscriptions["a"]?.generationId = 1
        let second = assignor.assign(partitionsPerTopic: ["t": 8], subscriptions: subscriptions)
        #expect(second["a"]?.count == 4 && second["b"]?.count == 4)
        #expect(Set(second["a"] ?? []).isSubset(of: Set(first["a"] ?? [])))
        Self.checkComplete(second, ["t": 8])
        // c joins: a and b each give up only what balance needs (8 = 3 + 3 + 2).
        subscriptions = Self.subscriptions(["a", "b", "c"], topics: ["t"])
        subscriptions["a"]?.ownedPartitions = second["a"] ?? []
        subscriptions["b"]?.ownedPartitions = second["b"] ?? []
        let third = assignor.assign(partitionsPerTopic: ["t": 8], subscriptions: subscriptions)
        Self.checkComplete(third, ["t": 8])
        #expect(Set(third.values.map(\.count)) == [2, 3])
        #expect(Set(third["a"] ?? []).isSubset(of: Set(second["a"] ?? [])) && Set(third["b"] ?? []).isSubset(of: Set(second["b"] ?? [])))
        // A stale claim (older generation) loses to the newer one.
        subscriptions = Self.subscriptions(["a", "b"], topics: ["t"])
        subscriptions["a"]?.ownedPartitions = [Self.tp("t", 0)]
        subscriptions["a"]?.generationId = 1
        subscriptions["b"]?.ownedPartitions = [Self.tp("t", 0)]
        subscriptions["b"]?.generationId = 2
        let contested = assignor.assign(partitionsPerTopic: ["t": 2], subscriptions: subscriptions)
        #expect(contested["b"]?.contains(Self.tp("t", 0)) == true)
        Self.checkComplete(contested, ["t": 2])
    }

    @Test func cooperativeSticky_differentSubscriptions_assignsOnlySubscribedTopics() {
        var subscriptions = Self.subscriptions(["a", "b"], topics: ["t"])
        subscriptions["c"] = GroupSubscription(topics: ["t", "u"])
        let result = CooperativeStickyAssignor().assign(partitionsPerTopic: ["t": 4, "u": 4], subscriptions: subscriptions)
        Self.checkComplete(result, ["t": 4, "u": 4])
        #expect(result["a"]?.allSatisfy { $0.topic == "t" } == true && result["b"]?.allSatisfy { $0.topic == "t" } == true)
        let counts = result.values.map(\.count)
        #expect((counts.max() ?? 0) - (counts.min() ?? 0) <= 2)
    }

    @Test func protocolBytes_roundTrip_andBadBytesThrow() throws {
        let subscription = GroupSubscription(topics: ["t", "u"], ownedPartitions: [Self.tp("t", 1), Self.tp("u", 0)], generationId: 5)
        let decoded = try ConsumerProtocol.decodeSubscription(ConsumerProtocol.encode(subscription))
        #expect(decoded.topics == ["t", "u"] && decoded.generationId == 5 && Set(decoded.ownedPartitions) == Set(subscription.ownedPartitions))
        // Version 0 (what older clients send) has no owned partitions.
        let v0 = try ConsumerProtocol.decodeSubscription(ConsumerProtocol.encode(subscription, version: 0))
        #expect(v0.topics == ["t", "u"] && v0.ownedPartitions.isEmpty && v0.generationId == -1)
        let assignment = [Self.tp("t", 3), Self.tp("t", 1)]
        #expect(try ConsumerProtocol.decodeAssignment(ConsumerProtocol.encode(assignment: assignment)) == [Self.tp("t", 1), Self.tp("t", 3)])
        #expect(try ConsumerProtocol.decodeAssignment(ByteBuffer()) == [])
        #expect(throws: (any Error).self) { try ConsumerProtocol.decodeSubscription(ByteBuffer(bytes: [0, 1, 0xFF])) }
        #expect(throws: (any Error).self) { try ConsumerProtocol.decodeAssignment(ByteBuffer(bytes: [0, 0, 0, 0, 0, 9])) }
    }

    @Test func assignorsByName() {
        #expect(ConsumerPartitionAssignors.named("range")?.name == "range")
        #expect(ConsumerPartitionAssignors.named("org.apache.kafka.clients.consumer.RoundRobinAssignor")?.name == "roundrobin")
        #expect(ConsumerPartitionAssignors.named(" cooperative-sticky")?.rebalanceProtocol == .cooperative)
        #expect(ConsumerPartitionAssignors.named("sticky") == nil)
    }
}
