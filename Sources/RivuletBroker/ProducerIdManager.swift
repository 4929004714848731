/// Hands out producer ids for InitProducerId from blocks reserved through `ClusterControl`, so ids
/// are unique across the cluster and never reused after a restart (the unused rest of a block is
/// skipped, as in Kafka).
public actor ProducerIdManager {
    private let clusterControl: any ClusterControl
    private var block: ProducerIdBlock?
    private var next: Int64 = 0

    /// A manager taking blocks from `clusterControl`.
    public init(clusterControl: any ClusterControl) {
        self.clusterControl = clusterControl
    }

    /// The next unused producer id.
    ///
    /// - Throws: the `KafkaApiError` of a failed block reservation (KAFKA_STORAGE_ERROR).
    public func generateProducerId() async throws(KafkaApiError) -> Int64 {
        if let block, next < block.nextBlockFirstId {
            defer { next += 1 }
            return next
        }
        let fresh = try await clusterControl.allocateProducerIds()
        // Another caller may have taken a block while this one waited; the newer block wins.
        if let block, block.firstProducerId > fresh.firstProducerId, next < block.nextBlockFirstId {
            defer { next += 1 }
            return next
        }
        block = fresh
        next = fresh.firstProducerId + 1
        return fresh.firstProducerId
    }
}
