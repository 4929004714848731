import RivuletCore

/// Kafka's replica placement (`AdminUtils.assignReplicasToBrokers`): replicas spread round robin
/// over the brokers from a random start with a shifting follower offset, so leaders and followers are
/// spread evenly; when every broker has a rack, the broker list alternates racks and each partition's
/// replicas go to distinct racks while there are racks left (then to distinct brokers).
public enum ReplicaPlacement {
    /// Why replicas cannot be placed.
    public enum Failure: Error, Hashable, Sendable {
        /// More replicas than brokers.
        case replicationFactorTooLarge(replicationFactor: Int, brokers: Int)
        /// Replication factor below 1 or no partitions.
        case invalidArguments(String)
    }

    /// Replica lists for `partitions` partitions numbered from `firstPartition` (CreatePartitions
    /// continues the round robin where the existing partitions stopped, as Kafka does).
    ///
    /// `startIndex` and `replicaShift` are Kafka's random draws; pass them for a fixed layout (tests),
    /// or leave them nil to draw from `generator`.
    public static func assign(partitions: Int, replicationFactor: Int, brokers: [BrokerEndpoint],
                              firstPartition: Int = 0, startIndex: Int? = nil, replicaShift: Int? = nil,
                              generator: inout SeededGenerator) throws(Failure) -> [[Int32]] {
        guard replicationFactor >= 1, partitions >= 0 else {
            throw .invalidArguments("replication factor \(replicationFactor), partitions \(partitions)")
        }
        guard replicationFactor <= brokers.count else {
            throw .replicationFactorTooLarge(replicationFactor: replicationFactor, brokers: brokers.count)
        }
        let sorted = brokers.sorted { $0.nodeId < $1.nodeId }
        let start = startIndex ?? Int(generator.next() % UInt64(sorted.count))
        let shift = replicaShift ?? Int(generator.next() % UInt64(sorted.count))
        if sorted.allSatisfy({ $0.rack != nil }) {
            return rackAware(partitions: partitions, replicationFactor: replicationFactor, brokers: sorted,
                             firstPartition: firstPartition, startIndex: start, replicaShift: shift)
        }
        let ids = sorted.map(\.nodeId)
        let count = ids.count
        var nextReplicaShift = shift
        var result: [[Int32]] = []
        for current in firstPartition ..< firstPartition + partitions {
            if current > 0, current % count == 0 { nextReplicaShift += 1 }
            let first = (current + start) % count
            var replicas = [ids[first]]
            for j in 0 ..< replicationFactor - 1 {
                replicas.append(ids[replicaIndex(first, nextReplicaShift, j, count)])
            }
            result.append(replicas)
        }
        return result
    }

    private static func replicaIndex(_ first: Int, _ shift: Int, _ j: Int, _ count: Int) -> Int {
        guard count > 1 else { return first }
        let offset = 1 + (shift + j) % (count - 1)
        return (first + offset) % count
    }

    /// Brokers ordered so that consecutive ones are on different racks (Kafka's
    /// `getRackAlternatedBrokerList`): racks sorted by name, brokers by id within a rack, one from each
    /// rack in turn.
    public static func rackAlternated(_ brokers: [BrokerEndpoint]) -> [BrokerEndpoint] {
        var byRack: [String: [BrokerEndpoint]] = [:]
        for broker in brokers.sorted(by: { $0.nodeId < $1.nodeId }) { byRack[broker.rack ?? "", default: []].append(broker) }
        let racks = byRack.keys.sorted()
        var result: [BrokerEndpoint] = []
        var position = 0
        while result.count < brokers.count {
            for rack in racks {
                if let list = byRack[rack], position < list.count { result.append(list[position]) }
            }
            position += 1
        }
        return result
    }

    private static func rackAware(partitions: Int, replicationFactor: Int, brokers: [BrokerEndpoint],
                                  firstPartition: Int, startIndex: Int, replicaShift: Int) -> [[Int32]] {
        let arranged = rackAlternated(brokers)
        let count = arranged.count
        let rackCount = Set(arranged.compactMap(\.rack)).count
        var nextReplicaShift = replicaShift
        var result: [[Int32]] = []
        for current in firstPartition ..< firstPartition + partitions {
            if current > 0, current % count == 0 { nextReplicaShift += 1 }
            let first = (current + startIndex) % count
            let leader = arranged[first]
            var replicas = [leader.nodeId]
            var racksWithReplicas: Set<String> = [leader.rack ?? ""]
            var brokersWithReplicas: Set<Int32> = [leader.nodeId]
            var k = 0
            for _ in 0 ..< replicationFactor - 1 {
                // Bounded: after count * count candidates every broker has been offered with every shift.
                for _ in 0 ..< count * count + 1 {
                    let broker = arranged[replicaIndex(first, nextReplicaShift * rackCount, k, count)]
                    k += 1
                    let rack = broker.rack ?? ""
                    if (!racksWithReplicas.contains(rack) || racksWithReplicas.count == rackCount),
                       !brokersWithReplicas.contains(broker.nodeId) || brokersWithReplicas.count == count {
                        replicas.append(broker.nodeId)
                        racksWithReplicas.insert(rack)
                        brokersWithReplicas.insert(broker.nodeId)
                        break
                    }
                }
            }
            result.append(replicas)
        }
        return result
    }
}
