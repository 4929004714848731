import NIOCore
import RivuletClient

/// Offsets: acknowledged offsets of one partition are 0, 1, 2... in send order (pipelined
/// requests included); ListOffsets reports the log start and end; a consumer reads them in order
/// and its position ends at the log end.
enum OffsetsSuite {
    static let records = 500

    static let suite = ConformanceSuite(
        name: "offsets",
        summary: "offsets contiguous and monotonic: acks, ListOffsets, consumer positions"
    ) { environment in
        let topic = environment.topicPrefix
        let admin = environment.admin()
        _ = try await admin.createTopic(NewTopic(name: topic, partitions: 1))
        let history = HistoryRecorder()
        let failures = Failures()
        let producer = try environment.producer {
            $0.lingerMs = 0
            $0.maxInFlightRequestsPerConnection = 5
        }
        for sequence in 0 ..< records {
            let value = SuiteSupport.value(process: 0, sequence: sequence)
            try await producer.send(topic: topic, key: nil, value: SuiteSupport.encode(value),
                                    completion: SuiteSupport.recordingCompletion(history: history, failures: failures, process: 0,
                                                                                 topic: topic, value: value))
        }
        await producer.close()
        var ackedOffsets: [Int64: Int64] = [:]
        for case let .send(_, _, value, .acknowledged(offset)) in history.history { ackedOffsets[value] = offset }
        let inSendOrder = (0 ..< records).map { ackedOffsets[SuiteSupport.value(process: 0, sequence: $0)] ?? -1 }
        let partition = TopicAndPartition(topic: topic, partition: 0)
        let listed = try await admin.listOffsets([partition: .earliest])[partition]?.get().offset
        let end = try await admin.listOffsets([partition: .latest])[partition]?.get().offset

        let consumer = try environment.consumer()
        consumer.assign([partition])
        let read = try await SuiteSupport.consume(consumer, process: 100, history: history, timeout: .seconds(20)) { $0.count >= records }
        let position = try await consumer.position(partition)
        await consumer.close()
        let report = HistoryChecker().check(history.history)
        return [
            .check("offsets.acknowledged-contiguous", failures.count == 0 && inSendOrder == (0 ..< Int64(records)).map { $0 },
                   failures.count == 0 ? "acknowledged offsets 0..<\(records) in send order" : "\(failures.count) sends failed"),
            .check("offsets.list-offsets", listed == 0 && end == Int64(records),
                   "earliest \(listed.map(String.init) ?? "?"), latest \(end.map(String.init) ?? "?") for \(records) records"),
            .check("offsets.consumed-in-order", read.map(\.offset) == (0 ..< Int64(records)).map { $0 } && position == Int64(records),
                   "read offsets 0..<\(read.count), position \(position)"),
            SuiteSupport.historyCheck("offsets.history", report),
        ]
    }
}
