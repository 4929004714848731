import NIOCore
import RivuletClient

/// The idempotent producer under injected retries: while the broker answers Produce later than
/// the client's `request.timeout.ms` (the append happens, the answer comes too late), the client
/// retries batches the broker already has. The broker must recognise them by producer id, epoch
/// and sequence: no duplicates, no reordering, nothing lost.
enum IdempotenceSuite {
    static let records = 300

    static let suite = ConformanceSuite(
        name: "idempotence",
        summary: "idempotent producer with injected retries: no duplicates, order kept",
        needsEmbeddedBroker: true
    ) { environment in
        guard let cluster = environment.cluster, let faults = cluster.faults(of: 0) else {
            return [ConformanceCheck(name: "idempotence", outcome: .skipped, detail: "needs an embedded broker")]
        }
        let topic = environment.topicPrefix
        _ = try await environment.admin().createTopic(NewTopic(name: topic, partitions: 1))
        let history = HistoryRecorder()
        let failures = Failures()
        let producer = try environment.producer({
            $0.lingerMs = 1
            $0.batchSizeBytes = 512
        }, client: { $0.requestTimeoutMs = 100 })
        let idempotent = producer.isIdempotent
        for sequence in 0 ..< records {
            // Answers of this window come after the client gave up: every batch in it is retried.
            if sequence == 100 { faults.setDelay(300, for: [.produce]) }
            if sequence == 140 { faults.clearDelays() }
            let value = SuiteSupport.value(process: 0, sequence: sequence)
            try await producer.send(topic: topic, key: nil, value: SuiteSupport.encode(value),
                                    completion: SuiteSupport.recordingCompletion(history: history, failures: failures, process: 0,
                                                                                 topic: topic, value: value))
            if sequence % 20 == 0 { try await Task.sleep(nanoseconds: 5_000_000) }
        }
        await producer.close()
        faults.clearDelays()

        let consumer = try environment.consumer()
        let partition = TopicAndPartition(topic: topic, partition: 0)
        consumer.assign([partition])
        let read = try await SuiteSupport.consume(consumer, process: 100, history: history, timeout: .seconds(20)) { $0.count >= records }
        // And nothing more arrives: a duplicate would be an extra record.
        let extra = try await SuiteSupport.consume(consumer, process: 100, history: history, timeout: .milliseconds(300)) { _ in false }
        let end = try await environment.admin().listOffsets([partition: .latest])[partition]?.get().offset
        await consumer.close()

        let report = HistoryChecker().check(history.history)
        let values = (read + extra).map(\.value)
        let expected = (0 ..< records).map { SuiteSupport.value(process: 0, sequence: $0) }
        return [
            .check("idempotence.enabled", idempotent, idempotent ? "InitProducerId and sequences in use" : "the producer is not idempotent"),
            .check("idempotence.no-failures", failures.count == 0,
                   failures.count == 0 ? "\(records) sends acknowledged despite retries" : "\(failures.count) failed: \(failures.all.prefix(3))"),
            .check("idempotence.no-duplicates", values.count == records && end == Int64(records) && report.duplicateCount == 0,
                   "\(values.count) records read, log end offset \(end.map(String.init) ?? "?") for \(records) sends"),
            .check("idempotence.order-kept", values == expected,
                   values == expected ? "read in send order" : "read order differs from send order"),
            SuiteSupport.historyCheck("idempotence.history", report),
        ]
    }
}
