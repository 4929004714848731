import NIOCore
import RivuletBroker
@testable import RivuletClient
import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization
import Testing

/// The client against a real embedded broker, on every storage backend (one parameterized suite).
@Suite(.timeLimit(.minutes(2))) struct EndToEndTests {
    /// Runs `body` with a started harness and always stops it.
    private func withHarness(_ backend: Backend, customize: @escaping @Sendable (inout BrokerConfig) -> Void = { _ in },
                             _ body: (ClusterHarness) async throws -> Void) async throws {
        let harness = try await ClusterHarness.start(backend, customize: customize)
        do {
            try await body(harness)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    /// Polls until `count` records arrived (or 30 s passed), handing each to `body`.
    private func consume(_ consumer: Consumer, count: Int, _ body: (ConsumerRecord) -> Void) async throws -> Int {
        var received = 0
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while received < count, clock.now < deadline {
            let records = try await consumer.poll(timeoutMs: 200)
            try records.forEach { (record: ConsumerRecord) in
                received += 1
                body(record)
            }
        }
        return received
    }

    @Test(arguments: Backend.allCases)
    func millionRecords_arriveExactlyOnceInOrder_onTheirMurmur2Partition(backend: Backend) async throws {
        try await withHarness(backend) { harness in
            let partitions = 8
            _ = try await harness.admin.createTopic(NewTopic(name: "million", partitions: Int32(partitions)))
            let producer = try harness.producer {
                $0.lingerMs = 5
                $0.batchSizeBytes = 1 << 20
                $0.maxRequestSizeBytes = 8 << 20
                $0.bufferMemoryBytes = 64 << 20
            }
            let total = 1_000_000
            // Keys cycle through 10007 values; their partitions are computed once, independently
            // of the producer (Kafka's toPositive(murmur2(key)) % partitions).
            let keyCount = 10007
            let keys = (0 ..< keyCount).map { index -> ByteBuffer in
                var buffer = ByteBufferAllocator().buffer(capacity: 4)
                buffer.writeInteger(UInt32(index))
                return buffer
            }
            let expectedPartition = keys.map { key in
                key.withUnsafeReadableBytes { Int32((Int(Partitioner.murmur2($0)) & 0x7FFF_FFFF) % partitions) }
            }
            var value = ByteBufferAllocator().buffer(capacity: 8)
            value.writeInteger(UInt64(0))
            for index in 0 ..< total {
                value.setInteger(UInt64(index), at: 0)
                try await producer.send(topic: "million", key: keys[index % keyCount], value: value, completion: nil)
            }
            await producer.close()

            let consumer = try harness.consumer { $0.maxPollRecords = 1 << 20 }
            consumer.assign((0 ..< Int32(partitions)).map { TopicAndPartition(topic: "million", partition: $0) })
            var seen = [UInt8](repeating: 0, count: total)
            var last = [Int](repeating: -1, count: partitions)
            var duplicates = 0, outOfOrder = 0, wrongPartition = 0, malformed = 0
            let received = try await consume(consumer, count: total) { record in
                let index = record.record.withUnsafeValue { bytes -> Int in
                    guard let bytes, bytes.count == 8 else { return -1 }
                    return Int(UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)))
                }
                guard index >= 0, index < total else {
                    malformed += 1
                    return
                }
                if seen[index] != 0 { duplicates += 1 }
                seen[index] = 1
                let partition = Int(record.partition)
                if index <= last[partition] { outOfOrder += 1 }
                last[partition] = index
                let key = record.record.withUnsafeKey { bytes -> Int in
                    guard let bytes, bytes.count == 4 else { return -1 }
                    return Int(UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self)))
                }
                if key != index % keyCount || expectedPartition[index % keyCount] != record.partition { wrongPartition += 1 }
            }
            #expect(received == total)
            #expect(seen.allSatisfy { $0 == 1 })
            #expect(duplicates == 0)
            #expect(outOfOrder == 0)
            #expect(wrongPartition == 0)
            #expect(malformed == 0)
            await consumer.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func longPollingFetch_wakesWhenDataIsAppended(backend: Backend) async throws {
        try await withHarness(backend) { harness in
            _ = try await harness.admin.createTopic(NewTopic(name: "poll", partitions: 1))
            let consumer = try harness.consumer { $0.fetchMaxWaitMs = 60_000 }
            let partition = TopicAndPartition(topic: "poll", partition: 0)
            consumer.assign([partition])
            #expect(try await consumer.position(partition) == 0)
            #expect(try await consumer.poll(timeoutMs: 50).isEmpty) // a fetch is now parked at the broker
            let start = ContinuousClock().now
            let polling = Task { try await consumer.poll(timeoutMs: 60_000) }
            try await Task.sleep(nanoseconds: 200_000_000)
            let producer = try harness.producer { $0.lingerMs = 0 }
            _ = try await producer.send(topic: "poll", key: nil, value: bytes("wake up"))
            let records = try await polling.value
            let elapsed = ContinuousClock().now - start
            #expect(records.count == 1)
            #expect(try records.records().first?.value?.text == "wake up")
            #expect(elapsed < .seconds(30), "the fetch waited for fetch.max.wait.ms instead of waking on the append")
            await producer.close()
            await consumer.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func retention_deletesOldSegments_andConsumersReset(backend: Backend) async throws {
        try await withHarness(backend) { harness in
            _ = try await harness.admin.createTopic(NewTopic(name: "retained", partitions: 1,
                                                             configs: ["segment.bytes": "1500", "retention.ms": "1"]))
            let producer = try harness.producer { $0.lingerMs = 0 }
            for index in 0 ..< 60 { _ = try await producer.send(topic: "retained", key: nil, value: bytes("record-\(index)-" + String(repeating: "x", count: 80))) }
            await producer.close()
            try await Task.sleep(nanoseconds: 20_000_000)
            let broker = try #require(harness.cluster.broker(0))
            #expect(broker.runMaintenance().deletedSegments > 0)
            let partition = TopicAndPartition(topic: "retained", partition: 0)
            let listed = try await harness.admin.listOffsets([partition: .earliest])
            let logStart = try #require(try listed[partition]?.get().offset)
            #expect(logStart > 0)

            // earliest: the consumer at a deleted offset gets OFFSET_OUT_OF_RANGE and resets to the log start.
            let resetting = try harness.consumer { $0.autoOffsetReset = .earliest }
            resetting.assign([partition])
            try resetting.seek(partition, to: 0)
            var offsets: [Int64] = []
            _ = try await consume(resetting, count: Int(60 - logStart)) { offsets.append($0.offset) }
            #expect(offsets.first == logStart)
            #expect(offsets == Array(logStart ..< 60))
            await resetting.close()

            // latest: it resets to the end.
            let latest = try harness.consumer { $0.autoOffsetReset = .latest }
            latest.assign([partition])
            try latest.seek(partition, to: 0)
            _ = try await latest.poll(timeoutMs: 300)
            #expect(try await latest.position(partition) == 60)
            await latest.close()

            // none: the error reaches the application.
            let strict = try harness.consumer { $0.autoOffsetReset = .none }
            strict.assign([partition])
            try strict.seek(partition, to: 0)
            var thrown: ClientError?
            for _ in 0 ..< 50 where thrown == nil {
                do throws(ClientError) { _ = try await strict.poll(timeoutMs: 100) } catch { thrown = error }
            }
            #expect(thrown == .offsetOutOfRange(partition, offset: 0))
            await strict.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func recordLargerThanMaxMessageBytes_getsMessageTooLarge_andNothingElseIsLost(backend: Backend) async throws {
        try await withHarness(backend) { harness in
            _ = try await harness.admin.createTopic(NewTopic(name: "limits", partitions: 1, configs: ["max.message.bytes": "10000"]))
            let producer = try harness.producer {
                $0.lingerMs = 50
                $0.batchSizeBytes = 1 << 20
            }
            let outcomes = Outcomes()
            for index in 0 ..< 100 { try await producer.send(topic: "limits", key: nil, value: bytes("small-\(index)"), completion: outcomes.completion) }
            try await producer.send(topic: "limits", key: nil, value: ByteBuffer(repeating: 0x42, count: 20000), completion: outcomes.completion)
            for index in 100 ..< 200 { try await producer.send(topic: "limits", key: nil, value: bytes("small-\(index)"), completion: outcomes.completion) }
            await producer.close()
            #expect(outcomes.count == 201)
            #expect(outcomes.failures.map(\.kafkaErrorCode) == [.messageTooLarge])
            let consumer = try harness.consumer()
            consumer.assign([TopicAndPartition(topic: "limits", partition: 0)])
            var values: [String] = []
            _ = try await consume(consumer, count: 200) { values.append($0.value?.text ?? "") }
            #expect(values == (0 ..< 200).map { "small-\($0)" })
            await consumer.close()
        }
    }

    @Test(arguments: Backend.allCases, [Acks.none, .leader, .all])
    func acks_deliverAndReportOffsets(backend: Backend, acks: Acks) async throws {
        try await withHarness(backend) { harness in
            _ = try await harness.admin.createTopic(NewTopic(name: "acks", partitions: 1))
            let producer = try harness.producer { $0.acks = acks }
            var offsets: [Int64] = []
            for index in 0 ..< 5 { offsets.append(try await producer.send(topic: "acks", key: nil, value: bytes("a\(index)")).offset) }
            await producer.close()
            #expect(offsets == (acks == .none ? [-1, -1, -1, -1, -1] : [0, 1, 2, 3, 4]))
            let consumer = try harness.consumer()
            consumer.assign([TopicAndPartition(topic: "acks", partition: 0)])
            var values: [String] = []
            _ = try await consume(consumer, count: 5) { values.append($0.value?.text ?? "") }
            #expect(values == ["a0", "a1", "a2", "a3", "a4"])
            await consumer.close()
        }
    }

    @Test(arguments: Backend.allCases, CompressionCodec.allCases)
    func compression_eachCodec_roundTripsThroughTheBroker(backend: Backend, codec: CompressionCodec) async throws {
        try await withHarness(backend) { harness in
            _ = try await harness.admin.createTopic(NewTopic(name: "codec", partitions: 2))
            let producer = try harness.producer {
                $0.compression = codec
                $0.lingerMs = 10
            }
            for index in 0 ..< 2000 {
                try await producer.send(topic: "codec", key: bytes("key-\(index % 50)"), value: bytes("value-\(index)-abcabcabcabc"),
                                        headers: [RecordHeader(key: "n", value: Array("\(index)".utf8))], completion: nil)
            }
            await producer.close()
            let consumer = try harness.consumer()
            consumer.assign([TopicAndPartition(topic: "codec", partition: 0), TopicAndPartition(topic: "codec", partition: 1)])
            var received: [Int: Int] = [:]
            var badHeaders = 0
            _ = try await consume(consumer, count: 2000) { record in
                let index = Int(record.value?.text.split(separator: "-")[1] ?? "") ?? -1
                received[index, default: 0] += 1
                let header = record.headers.first { _ in true }
                if header?.key != "n" || header?.value.map({ String(buffer: $0) }) != "\(index)" { badHeaders += 1 }
            }
            #expect(received.count == 2000 && received.values.allSatisfy { $0 == 1 })
            #expect(badHeaders == 0)
            await consumer.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func idempotentProducer_retriesAfterTimeouts_keepOrderWithoutDuplicates(backend: Backend) async throws {
        try await withHarness(backend) { harness in
            _ = try await harness.admin.createTopic(NewTopic(name: "retry", partitions: 1))
            var config = harness.client.config
            config.requestTimeoutMs = 100
            let client = ClusterClient(config: config, transport: harness.cluster.transport)
            var producerConfig = ProducerConfig()
            producerConfig.lingerMs = 1
            producerConfig.batchSizeBytes = 512
            let producer = try Producer(cluster: client, config: producerConfig)
            #expect(producer.isIdempotent)
            let faults = try #require(harness.cluster.faults(of: 0))
            let outcomes = Outcomes()
            for index in 0 ..< 300 {
                if index == 100 { faults.setDelay(300, for: [.produce]) } // appended at once, answered after the client gave up
                if index == 140 { faults.clearDelays() }
                try await producer.send(topic: "retry", key: nil, value: bytes("r\(index)"), completion: outcomes.completion)
                if index % 20 == 0 { try await Task.sleep(nanoseconds: 5_000_000) }
            }
            await producer.close()
            await client.close()
            #expect(outcomes.failures.isEmpty)
            let consumer = try harness.consumer()
            consumer.assign([TopicAndPartition(topic: "retry", partition: 0)])
            var values: [String] = []
            _ = try await consume(consumer, count: 300) { values.append($0.value?.text ?? "") }
            #expect(values == (0 ..< 300).map { "r\($0)" })
            #expect(try await consumer.poll(timeoutMs: 200).isEmpty) // and nothing more: no duplicates
            await consumer.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func seekAndReset_noneWithoutPosition_throws(backend: Backend) async throws {
        try await withHarness(backend) { harness in
            _ = try await harness.admin.createTopic(NewTopic(name: "seek", partitions: 1))
            let producer = try harness.producer()
            for index in 0 ..< 20 { try await producer.send(topic: "seek", key: nil, value: bytes("s\(index)"), completion: nil) }
            await producer.close()
            let partition = TopicAndPartition(topic: "seek", partition: 0)
            let consumer = try harness.consumer { $0.autoOffsetReset = .none }
            consumer.assign([partition])
            await #expect(throws: ClientError.noOffsetForPartition(partition)) { _ = try await consumer.poll(timeoutMs: 50) }
            try consumer.seek(partition, to: 15)
            var offsets: [Int64] = []
            _ = try await consume(consumer, count: 5) { offsets.append($0.offset) }
            #expect(offsets == [15, 16, 17, 18, 19])
            try consumer.seekToBeginning()
            #expect(try await consumer.position(partition) == 0)
            try consumer.seekToEnd()
            #expect(try await consumer.position(partition) == 20)
            await consumer.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func admin_topicLifecycle_offsets_configs_andRecordDeletion(backend: Backend) async throws {
        try await withHarness(backend) { harness in
            let admin = harness.admin
            let created = try await admin.createTopic(NewTopic(name: "admin", partitions: 2, configs: ["retention.ms": "3600000"]))
            #expect(created.error == nil)
            await #expect(throws: ClientError.self) { _ = try await admin.createTopic(NewTopic(name: "admin", partitions: 2)) }
            do throws(ClientError) {
                _ = try await admin.createTopic(NewTopic(name: "admin", partitions: 2))
                Issue.record("creating an existing topic should fail")
            } catch {
                #expect(error.kafkaErrorCode == .topicAlreadyExists)
            }
            #expect(try await admin.listTopics().contains("admin"))
            let described = try #require(try await admin.describeTopics(["admin"]).first)
            #expect(described.partitionCount == 2)
            #expect(described.partitions.allSatisfy { $0.leaderId == 0 && $0.isr == [0] })
            let configs = try await admin.describeConfigs(.topic("admin"))
            let retention = try #require(configs.first { $0.name == "retention.ms" })
            #expect(retention.value == "3600000" && retention.source == .dynamicTopicConfig)
            #expect(configs.first { $0.name == "segment.bytes" }?.isDefault == true)

            let raised = try await admin.createPartitions(["admin": 4])
            #expect(raised.first?.error == nil)
            #expect(try await admin.describeTopics(["admin"]).first?.partitionCount == 4)

            let producer = try harness.producer()
            for index in 0 ..< 10 { try await producer.send(topic: "admin", partition: 3, key: nil, value: bytes("d\(index)"), completion: nil) }
            await producer.close()
            let partition = TopicAndPartition(topic: "admin", partition: 3)
            let before = try await admin.listOffsets([partition: .earliest, TopicAndPartition(topic: "admin", partition: 0): .latest])
            #expect(try before[partition]?.get().offset == 0)
            #expect(try before[TopicAndPartition(topic: "admin", partition: 0)]?.get().offset == 0)
            #expect(try await admin.listOffsets([partition: .latest])[partition]?.get().offset == 10)
            let deleted = try await admin.deleteRecords(before: [partition: 4])
            #expect(try deleted[partition]?.get() == 4)
            #expect(try await admin.listOffsets([partition: .earliest])[partition]?.get().offset == 4)

            try await admin.deleteTopic("admin")
            #expect(try await admin.listTopics().contains("admin") == false)
            do throws(ClientError) {
                try await admin.deleteTopic("admin")
                Issue.record("deleting a missing topic should fail")
            } catch {
                #expect(error.kafkaErrorCode == .unknownTopicOrPartition)
            }
            let cluster = try await admin.describeCluster()
            #expect(cluster.brokers.map(\.nodeId) == [0])
        }
    }
}
