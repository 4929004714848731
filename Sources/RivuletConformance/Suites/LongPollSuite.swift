import NIOCore
import RivuletClient

/// Long polling: a fetch with nothing to read waits at the broker (`fetch.max.wait.ms`) and is
/// answered as soon as a record is appended, not when the wait ends.
enum LongPollSuite {
    static let suite = ConformanceSuite(
        name: "long-poll",
        summary: "a waiting fetch wakes on append, long before fetch.max.wait.ms"
    ) { environment in
        let topic = environment.topicPrefix
        _ = try await environment.admin().createTopic(NewTopic(name: topic, partitions: 1))
        let consumer = try environment.consumer { $0.fetchMaxWaitMs = 20_000 }
        let partition = TopicAndPartition(topic: topic, partition: 0)
        consumer.assign([partition])
        _ = try await consumer.position(partition)
        let idle = try await consumer.poll(timeoutMs: 100) // a fetch is now parked at the broker
        let clock = ContinuousClock()
        let start = clock.now
        let polling = Task { try await consumer.poll(timeoutMs: 20_000) }
        try await Task.sleep(nanoseconds: 200_000_000)
        let producer = try environment.producer { $0.lingerMs = 0 }
        _ = try await producer.send(topic: topic, key: nil, value: SuiteSupport.encode(42))
        await producer.close()
        let records = try await polling.value
        let elapsed = clock.now - start
        let value = try records.records().first.flatMap { SuiteSupport.decode($0.value) }
        await consumer.close()
        let milliseconds = Int((elapsed / .milliseconds(1)).rounded())
        return [
            .check("long-poll.idle-fetch-empty", idle.isEmpty, "an idle poll returned \(idle.count) records"),
            .check("long-poll.wakes-on-append", value == 42 && elapsed < .seconds(5),
                   "record delivered \(milliseconds) ms after the poll began (append at 200 ms; broker wait 20000 ms)"),
        ]
    }
}
