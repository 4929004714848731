import NIOCore
import RivuletClient
import RivuletConformance
import RivuletCore

/// What `FailoverTrackingDriver` needs from the driver it wraps beyond `WorkloadDriver`: the
/// partitions' replicas and leaders at a fault (embedded clusters only), and a read-back of every
/// record after the run.
protocol FailoverObservableDriver: WorkloadDriver {
    /// The replicas and current leader of every partition of `topics`; empty when the driver cannot
    /// see the cluster (an external one).
    func partitionSnapshot(topics: [String]) -> [FailoverPartitionState]
    /// The current leader of `topic`-`partition` among running, connected brokers (nil: none, or unknown).
    func currentLeader(topic: String, partition: Int32) -> Int32?
    /// Reads every partition of `topics` from its log start to its end offset at the time of the
    /// call, through a fresh client; `complete` is false when `timeout` ran out first.
    func readBack(topics: [String], partitions: Int, timeout: Duration) async -> FailoverReadBack
}

/// The records read back after a run.
struct FailoverReadBack: Sendable {
    /// The records, one poll's worth per element, with their record ids (bytes 8...15 of the value).
    var polls: [[PolledRecord]]
    /// Each partition's end offset when the read-back began.
    var endOffsets: [HistoryPartition: Int64]
    /// Whether every partition was read to its end offset.
    var complete: Bool
    /// Why the read-back stopped early, if it did.
    var problem: String?
}

extension KafkaWorkloadDriver: FailoverObservableDriver {
    func partitionSnapshot(topics: [String]) -> [FailoverPartitionState] {
        target.embedded?.partitionSnapshot(topics: topics) ?? []
    }

    func currentLeader(topic: String, partition: Int32) -> Int32? {
        target.embedded?.leader(of: topic, partition: partition)
    }

    func readBack(topics: [String], partitions: Int, timeout: Duration) async -> FailoverReadBack {
        let cluster = ClusterClient(config: target.clientConfig(clientId: "rivulet-workload-readback", clock: clock, seed: seed &+ 0xBAC),
                                    transport: target.transport)
        var config = ConsumerConfig()
        config.autoOffsetReset = .earliest
        config.fetchMaxWaitMs = 50
        config.maxPollRecords = 10_000
        let all = topics.flatMap { topic in (0 ..< Int32(clamping: partitions)).map { TopicAndPartition(topic: topic, partition: $0) } }
        var result = FailoverReadBack(polls: [], endOffsets: [:], complete: false, problem: nil)
        let consumer: Consumer
        do {
            consumer = try Consumer(cluster: cluster, config: config)
        } catch {
            result.problem = "cannot create the read-back consumer: \(error)"
            await cluster.close()
            return result
        }
        let deadline = clock.monotonicNanoseconds() &+ timeout.nanosecondsClamped
        // The end offsets (high watermarks) once the cluster answers for every partition.
        var ends: [TopicAndPartition: Int64] = [:]
        while ends.count < all.count, clock.monotonicNanoseconds() < deadline {
            do {
                ends = try await consumer.endOffsets(all)
            } catch {
                result.problem = "end offsets: \(error)"
                try? await clock.sleep(nanoseconds: 100_000_000)
            }
        }
        if ends.count == all.count {
            result.problem = nil
            consumer.assign(all)
            do {
                try consumer.seekToBeginning(all)
            } catch {
                result.problem = "seek: \(error)"
            }
            var next: [TopicAndPartition: Int64] = [:]
            func done() -> Bool { all.allSatisfy { (next[$0] ?? 0) >= (ends[$0] ?? 0) } }
            while !done(), clock.monotonicNanoseconds() < deadline, result.problem == nil {
                do {
                    let records = try await consumer.poll(timeoutMs: 200)
                    var polled: [PolledRecord] = []
                    polled.reserveCapacity(records.count)
                    try records.forEach { record in
                        polled.append(PolledRecord(partition: HistoryPartition(record.topic, record.partition), offset: record.offset,
                                                   value: FailoverRecordId.read(record.value) ?? -1))
                    }
                    for chunk in records.partitions { next[chunk.partition] = max(next[chunk.partition] ?? 0, chunk.nextOffset) }
                    if !polled.isEmpty { result.polls.append(polled) }
                } catch {
                    // Retriable trouble (a leader moving after the last fault was undone): try again.
                    try? await clock.sleep(nanoseconds: 50_000_000)
                }
            }
            result.complete = done()
            if !result.complete, result.problem == nil { result.problem = "the read-back did not reach every log end in time" }
        } else if result.problem == nil {
            result.problem = "end offsets did not arrive in time"
        }
        for (partition, end) in ends { result.endOffsets[HistoryPartition(partition.topic, partition.partition)] = end }
        await consumer.close()
        await cluster.close()
        return result
    }
}

/// A record's id for the history: bytes 8...15 of its value, big-endian (bytes 0...7 carry the
/// intended send time). `FailoverTrackingProducer` writes them; ids are unique in a run.
enum FailoverRecordId {
    /// The byte offset of the id in a value.
    static let offset = 8
    /// The smallest value that can carry an id.
    static let valueBytesMin = 16

    /// The id of producer `producer`'s send number `sequence`: the producer index + 1 in the high
    /// bits, the sequence in the low 40 bits.
    static func make(producer: Int, sequence: Int64) -> Int64 {
        (Int64(producer & 0x7F_FFFF) + 1) << 40 | (sequence & 0xFF_FFFF_FFFF)
    }

    /// The id a value carries, nil when it is too short.
    static func read(_ value: ByteBuffer?) -> Int64? {
        guard let value, value.readableBytes >= valueBytesMin else { return nil }
        return value.getInteger(at: value.readerIndex + offset, as: Int64.self)
    }
}
