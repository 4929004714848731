import NIOCore
import RivuletClient

/// Restart durability: every record acknowledged with `acks=all` is there after the broker is
/// replaced (durable storage: the whole embedded cluster stops and a new one reopens the same
/// directory; memory storage: the broker restarts inside the cluster), with its offset, the topic
/// keeps its partitions, and new appends continue after the recovered log end.
enum DurabilitySuite {
    static let records = 1200
    static let partitions: Int32 = 3

    static let suite = ConformanceSuite(
        name: "durability",
        summary: "acknowledged records survive a broker restart (file/mmap: reopened from disk)",
        needsEmbeddedBroker: true
    ) { environment in
        let topic = environment.topicPrefix
        _ = try await environment.admin().createTopic(NewTopic(name: topic, partitions: partitions))
        let history = HistoryRecorder()
        let failures = Failures()
        let producer = try environment.producer {
            $0.acks = .all
            $0.lingerMs = 2
        }
        for sequence in 0 ..< records {
            let value = SuiteSupport.value(process: 0, sequence: sequence)
            try await producer.send(topic: topic, key: ByteBuffer(string: "k\(sequence % 11)"), value: SuiteSupport.encode(value, padding: 100),
                                    completion: SuiteSupport.recordingCompletion(history: history, failures: failures, process: 0,
                                                                                 topic: topic, value: value))
        }
        await producer.close()
        var acked: [Int64: (HistoryPartition, Int64)] = [:]
        for case let .send(_, partition, value, .acknowledged(offset)) in history.history { acked[value] = (partition, offset) }

        try await environment.reopen()

        let metadata = try await environment.client().topicMetadata(topic, timeoutMs: 20_000, requireLeaders: true, allowAutoCreate: false)
        let consumer = try environment.consumer()
        consumer.assign((0 ..< partitions).map { TopicAndPartition(topic: topic, partition: $0) })
        let read = try await SuiteSupport.consume(consumer, process: 100, history: history, timeout: .seconds(30)) { $0.count >= acked.count }
        await consumer.close()
        let found = Dictionary(read.map { ($0.value, ($0.partition, $0.offset)) }, uniquingKeysWith: { first, _ in first })
        let lost = acked.filter { value, place in found[value].map { $0 != place } ?? true }

        // Appends continue after the recovered end.
        let ends = try await environment.admin().listOffsets(
            Dictionary(uniqueKeysWithValues: (0 ..< partitions).map { (TopicAndPartition(topic: topic, partition: $0), OffsetSpec.latest) }))
        let after = try environment.producer { $0.lingerMs = 0 }
        let next = try await after.send(topic: topic, partition: 0, key: nil, value: SuiteSupport.encode(SuiteSupport.value(process: 1, sequence: 0)))
        await after.close()
        let endBefore = try ends[TopicAndPartition(topic: topic, partition: 0)]?.get().offset
        let report = HistoryChecker().check(history.history)
        let how = environment.isDurable ? "cluster reopened from disk" : "broker restarted (memory engine kept)"
        return [
            .check("durability.all-acknowledged", failures.count == 0, "\(acked.count) of \(records) acknowledged before the restart"),
            .check("durability.topic-survives", metadata.partitionCount == Int(partitions), "\(how); topic has \(metadata.partitionCount) partitions"),
            .check("durability.acknowledged-records-survive", lost.isEmpty && acked.count == records,
                   lost.isEmpty ? "\(acked.count) acknowledged records read back at their offsets" : "\(lost.count) acknowledged records missing or moved"),
            .check("durability.appends-continue", endBefore != nil && next.offset == endBefore,
                   "next append at offset \(next.offset), recovered log end \(endBefore.map(String.init) ?? "?")"),
            SuiteSupport.historyCheck("durability.history", report),
        ]
    }
}
