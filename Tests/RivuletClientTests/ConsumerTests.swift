import NIOCore
@testable import RivuletClient
import RivuletCore
import RivuletTransport
import RivuletWire
import Testing

/// Consumer behaviour against a scripted in-process broker (`FakeBroker`).
@Suite(.timeLimit(.minutes(1))) struct ConsumerTests {
    private let partition0 = TopicAndPartition(topic: "t", partition: 0)

    private func produce(_ cluster: FakeCluster, count: Int, topic: String = "t", partition: Int32 = 0, batchSizeBytes: Int = 16384) async throws {
        var config = ProducerConfig()
        config.batchSizeBytes = batchSizeBytes
        config.lingerMs = 100
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        for index in 0 ..< count {
            try await producer.send(topic: topic, partition: partition, key: bytes("k\(index)"), value: bytes("v\(index)"), completion: nil)
        }
        await producer.close()
    }

    private func consumer(_ cluster: FakeCluster, reset: AutoOffsetReset = .earliest, configure: (inout ConsumerConfig) -> Void = { _ in })
        throws -> Consumer {
        var config = ConsumerConfig()
        config.autoOffsetReset = reset
        config.fetchMaxWaitMs = 50
        configure(&config)
        return try Consumer(cluster: cluster.clusterClient(), config: config)
    }

    /// Polls until `count` records arrived or 30 s passed.
    private func pollAll(_ consumer: Consumer, count: Int) async throws -> [ConsumerRecord] {
        var result: [ConsumerRecord] = []
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while result.count < count, clock.now < deadline {
            result += try await consumer.poll(timeoutMs: 100).records()
        }
        return result
    }

    @Test func poll_fromEarliest_returnsEveryRecordInOrder() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        try await produce(cluster, count: 100, batchSizeBytes: 300)
        let consumer = try consumer(cluster)
        consumer.assign([partition0])
        let records = try await pollAll(consumer, count: 100)
        #expect(records.map(\.offset) == (0 ..< 100).map(Int64.init))
        #expect(records.map { $0.value?.text } == (0 ..< 100).map { "v\($0)" })
        #expect(records.map { $0.key?.text } == (0 ..< 100).map { "k\($0)" })
        #expect(try await consumer.position(partition0) == 100)
        #expect(consumer.highWatermark(partition0) == 100)
        await consumer.close()
    }

    @Test func seek_startsAtTheGivenOffsetEvenInsideABatch() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        try await produce(cluster, count: 50)
        let consumer = try consumer(cluster)
        consumer.assign([partition0])
        try consumer.seek(partition0, to: 37)
        let records = try await pollAll(consumer, count: 13)
        #expect(records.map(\.offset) == (37 ..< 50).map(Int64.init))
        await consumer.close()
    }

    @Test func autoOffsetResetLatest_skipsOldRecords() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        try await produce(cluster, count: 10)
        let consumer = try consumer(cluster, reset: .latest)
        consumer.assign([partition0])
        #expect(try await consumer.position(partition0) == 10)
        #expect(try await consumer.poll(timeoutMs: 50).isEmpty)
        try await produce(cluster, count: 3)
        let records = try await pollAll(consumer, count: 3)
        #expect(records.map(\.offset) == [10, 11, 12])
        await consumer.close()
    }

    @Test func autoOffsetResetNone_withoutSeek_throws() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        let consumer = try consumer(cluster, reset: .none)
        consumer.assign([partition0])
        await #expect(throws: ClientError.noOffsetForPartition(partition0)) { _ = try await consumer.poll(timeoutMs: 50) }
        try consumer.seek(partition0, to: 0)
        #expect(try await consumer.poll(timeoutMs: 20).isEmpty)
        await consumer.close()
    }

    @Test func offsetOutOfRange_resetsToEarliest() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        try await produce(cluster, count: 30, batchSizeBytes: 200)
        let start = try #require(cluster.broker.batches(topic: "t", partition: 0).dropFirst(2).first?.header.baseOffset)
        cluster.broker.deleteRecords(topic: "t", partition: 0, before: start)
        let consumer = try consumer(cluster)
        consumer.assign([partition0])
        try consumer.seek(partition0, to: 0)
        let records = try await pollAll(consumer, count: Int(30 - start))
        #expect(records.first?.offset == start)
        #expect(records.map(\.offset) == (start ..< 30).map { $0 })
        await consumer.close()
    }

    @Test func offsetOutOfRange_withResetNone_throws() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        try await produce(cluster, count: 30, batchSizeBytes: 200)
        cluster.broker.deleteRecords(topic: "t", partition: 0, before: 10)
        let consumer = try consumer(cluster, reset: .none)
        consumer.assign([partition0])
        try consumer.seek(partition0, to: 0)
        var thrown: ClientError?
        for _ in 0 ..< 50 where thrown == nil {
            do { _ = try await consumer.poll(timeoutMs: 50) } catch { thrown = error }
        }
        #expect(thrown == .offsetOutOfRange(partition0, offset: 0))
        // After seeking to a valid offset the consumer continues.
        try consumer.seekToBeginning()
        #expect(try await consumer.position(partition0) == 10)
        await consumer.close()
    }

    @Test func longPoll_wakesWhenDataIsAppended() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        let consumer = try consumer(cluster) { $0.fetchMaxWaitMs = 60_000 }
        consumer.assign([partition0])
        try consumer.seek(partition0, to: 0)
        let start = ContinuousClock().now
        let polling = Task { try await consumer.poll(timeoutMs: 60_000) }
        try await Task.sleep(nanoseconds: 100_000_000)
        try await produce(cluster, count: 1)
        let records = try await polling.value
        let elapsed = ContinuousClock().now - start
        #expect(records.count == 1)
        #expect(elapsed < .seconds(30), "the poll waited for fetch.max.wait.ms instead of waking on the append")
        await consumer.close()
    }

    @Test func maxPollRecords_returnsWholeBatchesUpToTheLimit() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        try await produce(cluster, count: 100, batchSizeBytes: 200)
        let perBatch = Int(try #require(cluster.broker.batches(topic: "t", partition: 0).first?.header.recordCount))
        let consumer = try consumer(cluster) { $0.maxPollRecords = 10 }
        consumer.assign([partition0])
        var polls: [Int] = []
        var total = 0
        for _ in 0 ..< 100 where total < 100 {
            let records = try await consumer.poll(timeoutMs: 100)
            if !records.isEmpty { polls.append(records.count) }
            total += records.count
        }
        #expect(total == 100)
        #expect(polls.dropLast().allSatisfy { $0 >= 10 && $0 < 10 + perBatch })
        await consumer.close()
    }

    @Test func recordSequence_yieldsRecordsAcrossPolls() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 2)
        try await produce(cluster, count: 20, partition: 0)
        try await produce(cluster, count: 20, partition: 1)
        let consumer = try consumer(cluster) { $0.maxPollRecords = 7 }
        consumer.assign([partition0, TopicAndPartition(topic: "t", partition: 1)])
        var seen: [Int32: [Int64]] = [:]
        var count = 0
        for try await record in consumer.records(pollTimeoutMs: 100) {
            seen[record.partition, default: []].append(record.offset)
            count += 1
            if count == 40 { break }
        }
        #expect(seen[0] == (0 ..< 20).map(Int64.init))
        #expect(seen[1] == (0 ..< 20).map(Int64.init))
        await consumer.close()
    }

    @Test func seek_onUnassignedPartition_throws() throws {
        let cluster = FakeCluster()
        let consumer = try consumer(cluster)
        #expect(throws: ClientError.notAssigned(partition0)) { try consumer.seek(partition0, to: 0) }
    }

    @Test func corruptBatch_isReported() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        try await produce(cluster, count: 5)
        cluster.broker.state.withLock { state in
            let key = FakeBroker.TopicAndPartitionKey(topic: "t", partition: 0)
            guard var batch = state.logs[key]?.batches.first else { return }
            // Flip a byte inside the CRC-covered region.
            let index = batch.buffer.readerIndex + RecordBatchLayout.headerSize + 2
            let byte = batch.buffer.getInteger(at: index, as: UInt8.self) ?? 0
            batch.buffer.setInteger(byte ^ 0xFF, at: index)
            state.logs[key]?.batches[0] = batch
        }
        let consumer = try consumer(cluster)
        consumer.assign([partition0])
        var thrown: ClientError?
        for _ in 0 ..< 50 where thrown == nil {
            do { _ = try await consumer.poll(timeoutMs: 50) } catch { thrown = error }
        }
        guard case .corruptRecords(partition0, _)? = thrown else {
            Issue.record("expected corruptRecords, got \(String(describing: thrown))")
            return
        }
        await consumer.close()
    }
}
