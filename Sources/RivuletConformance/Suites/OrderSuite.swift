import NIOCore
import RivuletClient

/// Produce and consume with `acks=all`: three producers write keyed records to four partitions
/// while a consumer reads them; every acknowledged record is read exactly once, at its
/// acknowledged offset, and each producer's records of a partition are read in send order.
enum OrderSuite {
    static let producers = 3
    static let recordsPerProducer = 1500
    static let partitions: Int32 = 4

    static let suite = ConformanceSuite(
        name: "order",
        summary: "acks=all produce/consume: exactly once, in order per partition (history checker)"
    ) { environment in
        let topic = environment.topicPrefix
        _ = try await environment.admin().createTopic(NewTopic(name: topic, partitions: partitions))
        let history = HistoryRecorder()
        let failures = Failures()
        let expected = producers * recordsPerProducer
        let consumer = try environment.consumer()
        consumer.assign((0 ..< partitions).map { TopicAndPartition(topic: topic, partition: $0) })
        // Read while the producers write.
        let reading = Task {
            try await SuiteSupport.consume(consumer, process: 100, history: history, timeout: .seconds(60)) { $0.count >= expected }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for process in 0 ..< producers {
                let producer = try environment.producer {
                    $0.acks = .all
                    $0.lingerMs = 2
                    $0.batchSizeBytes = 4096
                }
                group.addTask {
                    for sequence in 0 ..< recordsPerProducer {
                        let value = SuiteSupport.value(process: process, sequence: sequence)
                        try await producer.send(topic: topic, key: ByteBuffer(string: "key-\(sequence % 37)"),
                                                value: SuiteSupport.encode(value, padding: 40),
                                                completion: SuiteSupport.recordingCompletion(
                                                    history: history, failures: failures, process: process, topic: topic, value: value))
                    }
                    await producer.close()
                }
            }
            try await group.waitForAll()
        }
        let read = try await reading.value
        await consumer.close()

        let report = HistoryChecker().check(history.history)
        var checks: [ConformanceCheck] = []
        checks.append(.check("order.all-acknowledged", failures.count == 0,
                             failures.count == 0 ? "\(expected) sends acknowledged" : "\(failures.count) sends failed: \(failures.all.prefix(3))"))
        checks.append(SuiteSupport.historyCheck("order.history", report))
        let counts = Dictionary(grouping: read, by: \.value).mapValues(\.count)
        let missing = report.acknowledgedCount - counts.count
        let repeated = counts.values.filter { $0 > 1 }.count
        checks.append(.check("order.exactly-once", missing == 0 && repeated == 0 && report.unseenCount == 0,
                             "\(counts.count) distinct values read of \(report.acknowledgedCount) acknowledged; \(repeated) read twice"))
        // Per producer and partition, read order must be send order.
        var lastSequence: [HistoryPartition: [Int64: Int64]] = [:]
        var outOfOrder = 0
        for record in read {
            let process = record.value >> 32
            let sequence = record.value & 0xFFFF_FFFF
            if let previous = lastSequence[record.partition]?[process], sequence <= previous { outOfOrder += 1 }
            lastSequence[record.partition, default: [:]][process] = sequence
        }
        checks.append(.check("order.in-order-per-partition", outOfOrder == 0 && !read.isEmpty,
                             outOfOrder == 0 ? "\(read.count) records in send order on \(partitions) partitions"
                                 : "\(outOfOrder) records read before an earlier send of the same producer"))
        return checks
    }
}
