import NIOCore
import RivuletClient

/// `max.message.bytes`: a record larger than the topic allows fails with MESSAGE_TOO_LARGE and
/// only that record fails; the records batched around it are stored, in order.
enum MessageSizeSuite {
    static let suite = ConformanceSuite(
        name: "message-size",
        summary: "a record over max.message.bytes is rejected alone; nothing else is lost"
    ) { environment in
        let topic = environment.topicPrefix
        _ = try await environment.admin().createTopic(NewTopic(name: topic, partitions: 1, configs: ["max.message.bytes": "10000"]))
        let history = HistoryRecorder()
        let failures = Failures()
        let producer = try environment.producer {
            $0.lingerMs = 50
            $0.batchSizeBytes = 1 << 20
        }
        func send(_ value: Int64, padding: Int) async throws {
            try await producer.send(topic: topic, key: nil, value: SuiteSupport.encode(value, padding: padding),
                                    completion: SuiteSupport.recordingCompletion(history: history, failures: failures, process: 0,
                                                                                 topic: topic, value: value))
        }
        for sequence in 0 ..< 100 { try await send(SuiteSupport.value(process: 0, sequence: sequence), padding: 10) }
        let large = SuiteSupport.value(process: 1, sequence: 0)
        try await send(large, padding: 20_000)
        for sequence in 100 ..< 200 { try await send(SuiteSupport.value(process: 0, sequence: sequence), padding: 10) }
        await producer.close()

        let consumer = try environment.consumer()
        consumer.assign([TopicAndPartition(topic: topic, partition: 0)])
        let read = try await SuiteSupport.consume(consumer, process: 100, history: history, timeout: .seconds(20)) { $0.count >= 200 }
        _ = try await SuiteSupport.consume(consumer, process: 100, history: history, timeout: .milliseconds(200)) { _ in false }
        await consumer.close()
        let codes = failures.all.map { $0.kafkaErrorCode?.name ?? "\($0)" }
        let expected = (0 ..< 200).map { SuiteSupport.value(process: 0, sequence: $0) }
        let report = HistoryChecker().check(history.history)
        return [
            .check("message-size.rejected-alone", codes == ["MESSAGE_TOO_LARGE"], "failures: \(codes.isEmpty ? "none" : codes.joined(separator: ", "))"),
            .check("message-size.others-stored-in-order", read.map(\.value) == expected,
                   "\(read.count) of 200 small records read\(read.map(\.value) == expected ? ", in order" : "")"),
            SuiteSupport.historyCheck("message-size.history", report),
        ]
    }
}
