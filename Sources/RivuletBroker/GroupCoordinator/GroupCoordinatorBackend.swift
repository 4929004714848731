import Synchronization

/// Why the coordinator could not write or read `__consumer_offsets`.
public enum GroupStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// This broker does not lead the partition (any more). Answer NOT_COORDINATOR.
    case notLeader(partition: Int32)
    /// The records are larger than the partition accepts. Answer INVALID_COMMIT_OFFSET_SIZE.
    case tooLarge(sizeBytes: Int)
    /// The partition cannot be written or read now (storage failure, not enough replicas).
    /// Answer COORDINATOR_NOT_AVAILABLE.
    case unavailable(partition: Int32, reason: String)

    public var description: String {
        switch self {
        case let .notLeader(partition): "not the leader of \(GroupCoordinatorConfig.offsetsTopicName)-\(partition)"
        case let .tooLarge(sizeBytes): "records of \(sizeBytes) bytes are too large for the offsets topic"
        case let .unavailable(partition, reason): "\(GroupCoordinatorConfig.offsetsTopicName)-\(partition) unavailable: \(reason)"
        }
    }
}

/// What the group coordinator needs from its broker: the `__consumer_offsets` partitions it leads
/// (written through the broker's normal append path, read back to reload) and topic metadata to
/// validate commits. The broker provides one over its `ReplicaManager`; tests use
/// `InMemoryGroupCoordinatorBackend`.
public protocol GroupCoordinatorBackend: Sendable {
    /// Appends `records` (in order, as one batch) to partition `partition` of `__consumer_offsets`
    /// as its leader, and returns once they are committed (acks=all within the ISR).
    func appendOffsetsRecords(_ records: [OffsetsTopicRecord], partition: Int32) async throws(GroupStoreError)

    /// Every record of partition `partition` from its log start to its end, in offset order
    /// (records of types the coordinator does not know are left out).
    func readOffsetsRecords(partition: Int32) async throws(GroupStoreError) -> [OffsetsTopicRecord]

    /// Whether `topic` exists with a partition `partition` (commits for others get
    /// UNKNOWN_TOPIC_OR_PARTITION).
    func partitionExists(topic: String, partition: Int32) async -> Bool
}

/// `GroupCoordinatorBackend` in memory: records per partition in arrays, topics given by the test.
/// Thread-safe. `failAppends` makes appends fail, to test error paths.
public final class InMemoryGroupCoordinatorBackend: GroupCoordinatorBackend {
    private struct State {
        var partitions: [Int32: [OffsetsTopicRecord]] = [:]
        var topics: [String: Int32] = [:]
        var failure: GroupStoreError?
    }

    private let state = Mutex(State())

    /// `topics`: topic name -> partition count.
    public init(topics: [String: Int32] = [:]) {
        state.withLock { $0.topics = topics }
    }

    /// Adds or resizes a topic.
    public func setTopic(_ name: String, partitions: Int32) {
        state.withLock { $0.topics[name] = partitions }
    }

    /// Makes every later append throw `error` (nil: succeed again).
    public func failAppends(with error: GroupStoreError?) {
        state.withLock { $0.failure = error }
    }

    /// The records of a partition, as written.
    public func records(partition: Int32) -> [OffsetsTopicRecord] {
        state.withLock { $0.partitions[partition] ?? [] }
    }

    public func appendOffsetsRecords(_ records: [OffsetsTopicRecord], partition: Int32) async throws(GroupStoreError) {
        let failure = state.withLock { state -> GroupStoreError? in
            if let failure = state.failure { return failure }
            state.partitions[partition, default: []] += records
            return nil
        }
        if let failure { throw failure }
    }

    public func readOffsetsRecords(partition: Int32) async throws(GroupStoreError) -> [OffsetsTopicRecord] {
        records(partition: partition)
    }

    public func partitionExists(topic: String, partition: Int32) async -> Bool {
        state.withLock { state in state.topics[topic].map { partition >= 0 && partition < $0 } ?? false }
    }
}
