/// Assignment changes made by a group consumer: partitions are added with their starting
/// positions and removed with their final positions in one step each, under the fetcher's lock, so
/// no poll can return records between reading a position and giving the partition up (which would
/// duplicate them at the next owner) or between adding a partition and positioning it (which could
/// reset it per `auto.offset.reset` first).
extension Fetcher {
    /// Adds `positions` to the assignment: an offset to start at, or nil to reset per
    /// `auto.offset.reset`. Partitions already assigned keep their state.
    func addPartitions(_ positions: [TopicAndPartition: Int64?]) {
        guard !positions.isEmpty else { return }
        let stamp = UInt64(truncatingIfNeeded: cluster.clock.monotonicNanoseconds()) | 1 << 63
        state.withLock { state in
            for (partition, position) in positions where state.partitions[partition] == nil {
                var partitionState = PartitionState()
                partitionState.position = position
                // A fetch sent for an earlier assignment of this partition must not be taken as its.
                partitionState.generation = stamp
                state.partitions[partition] = partitionState
            }
        }
        wakeup.signal()
    }

    /// Removes `partitions` from the assignment, dropping their buffered records, and returns their
    /// positions at that moment (the offsets to commit for them).
    @discardableResult
    func removePartitions(_ partitions: Set<TopicAndPartition>) -> [TopicAndPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        return state.withLock { state in
            var positions: [TopicAndPartition: Int64] = [:]
            for partition in partitions {
                if let position = state.partitions.removeValue(forKey: partition)?.position { positions[partition] = position }
            }
            state.ready.removeAll { partitions.contains($0) }
            return positions
        }
    }

    /// The positions of the assigned partitions that have one.
    func currentPositions() -> [TopicAndPartition: Int64] {
        state.withLock { state in state.partitions.compactMapValues(\.position) }
    }
}
