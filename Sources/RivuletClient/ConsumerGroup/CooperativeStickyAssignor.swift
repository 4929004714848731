/// Kafka's `CooperativeStickyAssignor` (KIP-429): a balanced assignment that keeps as many of
/// each member's owned partitions as balance allows, for the cooperative protocol.
///
/// Properties (those of Kafka's `AbstractStickyAssignor`): every partition of a subscribed topic
/// is assigned to exactly one subscribed member; when all members subscribe to the same topics
/// the counts differ by at most one; a member keeps the partitions it owned (from the latest
/// generation when members disagree) up to its share; only the surplus moves. The group leader
/// then withholds partitions that change owner for one rebalance (`ConsumerGroupMembership`), so
/// the old owner revokes them first.
public struct CooperativeStickyAssignor: ConsumerPartitionAssignor {
    public init() {}
    public var name: String { "cooperative-sticky" }
    public var rebalanceProtocol: RebalanceProtocol { .cooperative }

    public func assign(partitionsPerTopic: [String: Int32], subscriptions: [String: GroupSubscription]) -> [String: [TopicAndPartition]] {
        let members = sortedMembers(subscriptions)
        var assignment = Dictionary(uniqueKeysWithValues: members.map { ($0, [TopicAndPartition]()) })
        guard !members.isEmpty else { return assignment }
        let subscribedTopics = Set(subscriptions.values.flatMap(\.topics))
        let allPartitions = partitionsPerTopic.keys.sorted().filter(subscribedTopics.contains).flatMap { topic in
            (0 ..< max(0, partitionsPerTopic[topic] ?? 0)).map { TopicAndPartition(topic: topic, partition: $0) }
        }
        let existing = Set(allPartitions)
        func subscribed(_ member: String, _ partition: TopicAndPartition) -> Bool {
            subscriptions[member]?.topics.contains(partition.topic) == true
        }

        // Owned partitions that still count: existing, subscribed, and claimed by nobody with a
        // newer generation (the first claim in member order wins a tie).
        var claims: [TopicAndPartition: (member: String, generation: Int32)] = [:]
        for member in members {
            let generation = subscriptions[member]?.generationId ?? -1
            for partition in subscriptions[member]?.ownedPartitions ?? [] where existing.contains(partition) && subscribed(member, partition) {
                if let claim = claims[partition], claim.generation >= generation { continue }
                claims[partition] = (member, generation)
            }
        }
        var owned = Dictionary(uniqueKeysWithValues: members.map { ($0, [TopicAndPartition]()) })
        for partition in allPartitions {
            if let claim = claims[partition] { owned[claim.member, default: []].append(partition) }
        }

        let topicSets = Set(members.map { Set(subscriptions[$0]?.topics ?? []) })
        if topicSets.count == 1 {
            // Kafka's constrained assignment: quotas floor(P/C) and ceil(P/C).
            let total = allPartitions.count
            let minQuota = total / members.count
            let maxQuota = (total + members.count - 1) / members.count
            let expectedOverMin = total % members.count
            var overMin = 0
            var unassigned: [TopicAndPartition] = []
            for member in members {
                let mine = owned[member] ?? []
                var keep = min(mine.count, minQuota)
                if maxQuota > minQuota, mine.count >= maxQuota, overMin < expectedOverMin {
                    keep = maxQuota
                    overMin += 1
                }
                assignment[member] = Array(mine.prefix(keep))
                unassigned += mine.dropFirst(keep)
            }
            let claimed = Set(claims.keys)
            unassigned += allPartitions.filter { !claimed.contains($0) }
            unassigned.sort()
            var queue = unassigned[...]
            for member in members where (assignment[member]?.count ?? 0) < minQuota {
                while (assignment[member]?.count ?? 0) < minQuota, let next = queue.popFirst() { assignment[member, default: []].append(next) }
            }
            for member in members where overMin < expectedOverMin && (assignment[member]?.count ?? 0) == minQuota {
                guard let next = queue.popFirst() else { break }
                assignment[member, default: []].append(next)
                overMin += 1
            }
            // Only reachable with inconsistent input; never leave a partition out.
            for partition in queue {
                if let member = members.min(by: { (assignment[$0]?.count ?? 0) < (assignment[$1]?.count ?? 0) }) {
                    assignment[member, default: []].append(partition)
                }
            }
        } else {
            // Different subscriptions: keep owned partitions, give each free partition to the
            // subscribed member with the fewest, then move partitions while that narrows a gap of 2+.
            assignment = owned
            let claimed = Set(claims.keys)
            for partition in allPartitions where !claimed.contains(partition) {
                let candidates = members.filter { subscribed($0, partition) }
                if let target = candidates.min(by: { (assignment[$0]?.count ?? 0) < (assignment[$1]?.count ?? 0) }) {
                    assignment[target, default: []].append(partition)
                }
            }
            var moves = 0
            let movesMax = allPartitions.count * members.count
            var moved = true
            while moved, moves < movesMax {
                moved = false
                for from in members.sorted(by: { (assignment[$0]?.count ?? 0) > (assignment[$1]?.count ?? 0) }) {
                    let fromCount = assignment[from]?.count ?? 0
                    guard let (index, target) = (assignment[from] ?? []).enumerated().lazy.compactMap({ index, partition in
                        members.filter { $0 != from && subscribed($0, partition) && (assignment[$0]?.count ?? 0) + 2 <= fromCount }
                            .min { (assignment[$0]?.count ?? 0) < (assignment[$1]?.count ?? 0) }
                            .map { (index, $0) }
                    }).first else { continue }
                    let partition = assignment[from, default: []].remove(at: index)
                    assignment[target, default: []].append(partition)
                    moves += 1
                    moved = true
                    break
                }
            }
        }
        for member in members { assignment[member]?.sort() }
        return assignment
    }
}
