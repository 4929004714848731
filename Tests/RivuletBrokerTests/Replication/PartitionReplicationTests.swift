import Logging
import NIOCore
import RivuletBroker
import RivuletCore
import RivuletStorage
import RivuletWire
import Testing

/// Kafka's replication rules on one `Partition`, on a `ManualClock`: no network, no timing.
@Suite("Partition replication state (ManualClock)")
struct PartitionReplicationTests {
    private func openLeader(clock: ManualClock, replicas: [Int32] = [0, 1, 2]) throws -> Partition {
        let storage = try StorageEngines.open(url: "memory://", clock: clock)
        var config = BrokerConfig(nodeId: 0, clock: clock, randomSeed: 1)
        config.replicaLagTimeMaxMs = 1000
        let metadata = PartitionMetadata(partition: 0, leader: 0, leaderEpoch: 3, replicas: replicas, isr: replicas, partitionEpoch: 0)
        return try Partition.open(topicPartition: TopicPartition(topic: "t", partition: 0), topicId: KafkaUUID(mostSignificantBits: 1, leastSignificantBits: 2),
                                  metadata: metadata, config: TopicConfig().resolved(with: config), storage: storage,
                                  localBrokerId: 0, clock: clock, logger: Logger(label: "test"), recoveryOffsetsMax: 1000)
    }

    private func batch(_ records: Int) throws -> RecordBatch {
        var builder = RecordBatchBuilder()
        for index in 0 ..< records { try builder.append(timestampMs: 1, key: nil, value: [UInt8(index)]) }
        return try builder.build()
    }

    @Test("the high watermark is the smallest log end over the ISR; a lagging follower is proposed out after replica.lag.time.max.ms and back in once caught up")
    func isrRules() throws {
        let clock = ManualClock()
        let partition = try openLeader(clock: clock)
        _ = try partition.appendAsLeader(try batch(5), requiredAcks: 1)
        #expect(partition.logEndOffset == 5)
        #expect(partition.highWatermark == 0, "followers have not fetched yet")
        #expect(partition.epochCache.latestEpoch == 3)
        let now = clock.wallMilliseconds()
        partition.updateFollowerFetchState(replicaId: 1, fetchOffset: 5, fetchTimeMs: now)
        #expect(partition.highWatermark == 0, "follower 2 is in the ISR and unknown")
        partition.updateFollowerFetchState(replicaId: 2, fetchOffset: 3, fetchTimeMs: now)
        #expect(partition.highWatermark == 3)
        #expect(partition.replicationOutcome(requiredOffset: 3, appendEpoch: 3, minInsyncReplicas: 2) == .replicated)
        #expect(partition.replicationOutcome(requiredOffset: 5, appendEpoch: 3, minInsyncReplicas: 2) == .pending)
        #expect(partition.replicationOutcome(requiredOffset: 3, appendEpoch: 2, minInsyncReplicas: 2) == .leadershipLost)

        // Follower 1 keeps up, follower 2 stays behind for longer than the lag time.
        clock.advance(by: .milliseconds(600))
        partition.updateFollowerFetchState(replicaId: 1, fetchOffset: 5, fetchTimeMs: clock.wallMilliseconds())
        #expect(partition.proposeIsrShrink(nowMs: clock.wallMilliseconds(), lagTimeMaxMs: 1000) == nil)
        clock.advance(by: .milliseconds(600))
        partition.updateFollowerFetchState(replicaId: 1, fetchOffset: 5, fetchTimeMs: clock.wallMilliseconds())
        let shrink = try #require(partition.proposeIsrShrink(nowMs: clock.wallMilliseconds(), lagTimeMaxMs: 1000))
        #expect(shrink.isr == [0, 1])
        #expect(shrink.leaderEpoch == 3 && shrink.partitionEpoch == 0)
        // While the shrink is pending, the high watermark still waits for follower 2; no second proposal.
        #expect(partition.highWatermark == 3)
        #expect(partition.proposeIsrShrink(nowMs: clock.wallMilliseconds(), lagTimeMaxMs: 1000) == nil)
        partition.completeIsrChange(shrink, newPartitionEpoch: 1)
        #expect(partition.isr == [0, 1])
        #expect(partition.highWatermark == 5)
        #expect(partition.replicationOutcome(requiredOffset: 5, appendEpoch: 3, minInsyncReplicas: 3) == .replicatedBelowMinIsr)

        // Follower 2 catches up to the high watermark: it is proposed back.
        let expansion = try #require(partition.updateFollowerFetchState(replicaId: 2, fetchOffset: 5, fetchTimeMs: clock.wallMilliseconds()))
        #expect(expansion.isr == [0, 1, 2])
        #expect(expansion.partitionEpoch == 1)
        partition.completeIsrChange(expansion, newPartitionEpoch: 2)
        #expect(partition.isr == [0, 1, 2])
        #expect(partition.partitionEpoch == 2)
    }

    @Test("an older state is ignored; a new leader epoch starts at the log end; a follower truncates and appends the leader's batches")
    func leadershipAndFollowing() throws {
        let clock = ManualClock()
        let partition = try openLeader(clock: clock)
        _ = try partition.appendAsLeader(try batch(4), requiredAcks: 1)
        // A stale state (older epoch) changes nothing.
        partition.applyLeadership(PartitionMetadata(partition: 0, leader: 1, leaderEpoch: 2, replicas: [0, 1, 2], isr: [1], partitionEpoch: 9))
        #expect(partition.isLeader)
        // Becoming a follower in epoch 4: appends as leader are refused.
        partition.applyLeadership(PartitionMetadata(partition: 0, leader: 1, leaderEpoch: 4, replicas: [0, 1, 2], isr: [0, 1, 2], partitionEpoch: 3))
        #expect(!partition.isLeader)
        #expect(throws: KafkaApiError.self) { _ = try partition.appendAsLeader(try batch(1), requiredAcks: 1) }
        // The new leader's log diverges at offset 2: truncate there, then append its batches.
        try partition.truncate(to: 2, recoveryOffsetsMax: 1000)
        #expect(partition.logEndOffset == 0 || partition.logEndOffset == 2)
        let end = try #require(partition.logEndOffset)
        var leaderBatch = try batch(3)
        leaderBatch.setPartitionLeaderEpoch(4)
        var bytes = leaderBatch.buffer
        bytes.setInteger(end, at: bytes.readerIndex)
        try partition.appendAsFollower(bytes, leaderHighWatermark: end + 1)
        #expect(partition.logEndOffset == end + 3)
        #expect(partition.highWatermark == end + 1)
        #expect(partition.epochCache.latestEpoch == 4)
        #expect(partition.localEndOffset(forEpoch: 3).endOffset == end)
        // Leading again in epoch 5: the epoch starts at the log end.
        partition.applyLeadership(PartitionMetadata(partition: 0, leader: 0, leaderEpoch: 5, replicas: [0, 1, 2], isr: [0], partitionEpoch: 4))
        #expect(partition.isLeader)
        #expect(partition.epochCache.entries.last == LeaderEpochCache.Entry(epoch: 5, startOffset: end + 3))
    }
}
