import NIOCore
@testable import RivuletClient
import RivuletCore
import RivuletTransport
import RivuletWire
import Testing

/// Producer behaviour against a scripted in-process broker (`FakeBroker`).
@Suite(.timeLimit(.minutes(1))) struct ProducerTests {
    /// The index a `value(_:size:)` was made from (so failures print numbers, not payloads).
    private func index(_ record: Record) -> Int {
        record.value.flatMap { Int($0.text.dropFirst().prefix { $0 != "-" }) } ?? -1
    }

    private func value(_ index: Int, size: Int = 100) -> ByteBuffer {
        var buffer = ByteBuffer(string: "v\(index)-")
        buffer.writeRepeatingByte(UInt8(ascii: "x"), count: max(size - buffer.readableBytes, 0))
        return buffer
    }

    @Test func send_awaitingForm_returnsOffsetsInOrder() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        var config = ProducerConfig()
        config.lingerMs = 0
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        for index in 0 ..< 5 {
            let metadata = try await producer.send(topic: "t", key: nil, value: value(index))
            #expect(metadata.offset == Int64(index))
            #expect(metadata.partition == 0)
        }
        await producer.close()
        #expect(cluster.broker.records(topic: "t", partition: 0).map(index) == [0, 1, 2, 3, 4])
    }

    @Test("records without a timestamp get the clock's now (system clock: through the cycle-counter cache); explicit ones are kept")
    func timestamps_areTheClocksNowOrTheGivenOne() async throws {
        // The system clock: 300 records over at least 30 ms, so the cache's rate is known for the later ones.
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        var config = ProducerConfig()
        config.lingerMs = 0
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        var bounds: [(before: Int64, after: Int64)] = []
        for index in 0 ..< 300 {
            let before = SystemClock().wallMilliseconds()
            try await producer.send(topic: "t", key: nil, value: value(index), completion: nil)
            bounds.append((before, SystemClock().wallMilliseconds()))
            if index % 10 == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        }
        try await producer.send(topic: "t", key: nil, value: value(300), timestampMs: 1_234_567, completion: nil)
        await producer.flush()
        let records = cluster.broker.records(topic: "t", partition: 0)
        #expect(records.count == 301)
        for (record, bound) in zip(records, bounds) where !(bound.before ... bound.after).contains(record.timestampMs) {
            Issue.record("record \(index(record)) has timestamp \(record.timestampMs), sent between \(bound.before) and \(bound.after)")
        }
        #expect(records.last?.timestampMs == 1_234_567)
        await producer.close()

        // A manual clock is read as it stands.
        let clock = ManualClock(wallMilliseconds: 5_000)
        let manualCluster = FakeCluster(clock: clock)
        manualCluster.broker.createTopic("t", partitions: 1)
        let manualProducer = try Producer(cluster: manualCluster.clusterClient(), config: config)
        try await manualProducer.send(topic: "t", key: nil, value: value(0), completion: nil)
        clock.advance(by: .milliseconds(7))
        try await manualProducer.send(topic: "t", key: nil, value: value(1), completion: nil)
        #expect(await eventually { manualCluster.broker.records(topic: "t", partition: 0).count == 2 })
        #expect(manualCluster.broker.records(topic: "t", partition: 0).map(\.timestampMs) == [5_000, 5_007])
        await manualProducer.close(timeoutMs: 0)
    }

    @Test func linger_holdsRecordsUntilItPasses() async throws {
        let clock = ManualClock()
        let cluster = FakeCluster(clock: clock)
        cluster.broker.createTopic("t", partitions: 1)
        var config = ProducerConfig()
        config.lingerMs = 100
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        let outcomes = Outcomes()
        for index in 0 ..< 10 { try await producer.send(topic: "t", key: nil, value: value(index), completion: outcomes.completion) }
        try await Task.sleep(nanoseconds: 30_000_000)
        #expect(cluster.broker.produceRequests.isEmpty)
        clock.advance(by: .milliseconds(99))
        try await Task.sleep(nanoseconds: 20_000_000)
        #expect(cluster.broker.produceRequests.isEmpty)
        clock.advance(by: .milliseconds(1))
        #expect(await eventually { outcomes.count == 10 })
        let requests = cluster.broker.produceRequests
        #expect(requests.count == 1)
        #expect(requests.first?.topicData.first?.partitionData.count == 1)
        #expect(cluster.broker.batches(topic: "t", partition: 0).map(\.header.recordCount) == [10])
        await producer.close(timeoutMs: 0)
    }

    @Test func batchSize_sendsFullBatchesWithoutWaitingForLinger() async throws {
        let clock = ManualClock()
        let cluster = FakeCluster(clock: clock)
        cluster.broker.createTopic("t", partitions: 1)
        var config = ProducerConfig()
        config.lingerMs = 60_000
        config.batchSizeBytes = 1000
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        let outcomes = Outcomes()
        for index in 0 ..< 50 { try await producer.send(topic: "t", key: nil, value: value(index), completion: outcomes.completion) }
        // Full batches go at once; the last, partial one waits for linger (or flush).
        #expect(await eventually { outcomes.count >= 40 })
        try await Task.sleep(nanoseconds: 20_000_000)
        #expect(outcomes.count < 50)
        let batches = cluster.broker.batches(topic: "t", partition: 0)
        #expect(batches.allSatisfy { $0.buffer.readableBytes <= 1000 })
        #expect(batches.allSatisfy { $0.header.recordCount >= 7 })
        await producer.flush()
        #expect(outcomes.count == 50)
        #expect(outcomes.successes.map(\.offset) == (0 ..< 50).map(Int64.init))
        await producer.close()
    }

    @Test func stickyPartitioner_fillsOneBatchThenMovesToAnotherPartition() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 4)
        var config = ProducerConfig()
        config.lingerMs = 60_000
        config.batchSizeBytes = 1100
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        let outcomes = Outcomes()
        for index in 0 ..< 200 { try await producer.send(topic: "t", key: nil, value: value(index), completion: outcomes.completion) }
        await producer.flush()
        #expect(outcomes.successes.count == 200)
        // Each stored batch holds a contiguous run of the send order, and the next run (the next
        // batch by first index) is on another partition: KIP-480's sticky behaviour.
        var runs: [(partition: Int32, first: Int, count: Int)] = []
        for partition in Int32(0) ..< 4 {
            for batch in cluster.broker.batches(topic: "t", partition: partition) {
                let indices = try batch.records().compactMap { record in
                    record.value.flatMap { Int($0.text.dropFirst().prefix { $0 != "-" }) }
                }
                #expect(indices == Array((indices.first ?? 0) ..< (indices.first ?? 0) + indices.count))
                runs.append((partition, indices.first ?? -1, indices.count))
            }
        }
        runs.sort { $0.first < $1.first }
        #expect(runs.reduce(0) { $0 + $1.count } == 200)
        #expect(runs.count >= 15)
        #expect(runs.dropLast().allSatisfy { $0.count >= 8 })
        #expect(zip(runs, runs.dropFirst()).allSatisfy { $0.partition != $1.partition })
        #expect(Set(runs.map(\.partition)).count == 4)
        await producer.close()
    }

    @Test func keyedRecords_goToTheirMurmur2Partition() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 8)
        let producer = try Producer(cluster: cluster.clusterClient())
        let outcomes = Outcomes()
        for index in 0 ..< 100 {
            try await producer.send(topic: "t", key: bytes("key-\(index)"), value: value(index), completion: outcomes.completion)
        }
        await producer.flush()
        for partition in Int32(0) ..< 8 {
            for record in cluster.broker.records(topic: "t", partition: partition) {
                let key = try #require(record.keyBytes)
                #expect(key.withUnsafeBytes { Partitioner.partition(forKey: $0, partitionCount: 8) } == partition)
            }
        }
        #expect(outcomes.successes.count == 100)
        await producer.close()
    }

    @Test func explicitPartition_isUsedAndValidated() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 3)
        let producer = try Producer(cluster: cluster.clusterClient())
        let metadata = try await producer.send(topic: "t", partition: 2, key: bytes("k"), value: bytes("v"))
        #expect(metadata.partition == 2)
        await #expect(throws: ClientError.invalidPartition(topic: "t", partition: 3, partitionCount: 3)) {
            _ = try await producer.send(topic: "t", partition: 3, key: nil, value: bytes("v"))
        }
        await producer.close()
    }

    @Test func retriableErrors_areRetriedAndEachRecordStoredOnce() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        cluster.broker.injectProduceErrors([.notLeaderOrFollower, .requestTimedOut], topic: "t", partition: 0)
        let producer = try Producer(cluster: cluster.clusterClient())
        let metadata = try await producer.send(topic: "t", key: nil, value: bytes("once"))
        #expect(metadata.offset == 0)
        #expect(cluster.broker.records(topic: "t", partition: 0).count == 1)
        #expect(cluster.broker.produceRequests.count == 3)
        await producer.close()
    }

    @Test func retries_whenUsedUp_failWithTheBrokersError() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        cluster.broker.injectProduceErrors(Array(repeating: .notLeaderOrFollower, count: 5), topic: "t", partition: 0)
        var config = ProducerConfig()
        config.retries = 2
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        await #expect(throws: ClientError.broker(errorCode: KafkaErrorCode.notLeaderOrFollower.rawValue, topic: "t", partition: 0, message: nil)) {
            _ = try await producer.send(topic: "t", key: nil, value: bytes("x"))
        }
        #expect(cluster.broker.produceRequests.count == 3)
        await producer.close()
    }

    @Test func nonRetriableError_failsAtOnce() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        cluster.broker.injectProduceErrors([.invalidRecord], topic: "t", partition: 0)
        let producer = try Producer(cluster: cluster.clusterClient())
        do {
            _ = try await producer.send(topic: "t", key: nil, value: bytes("x"))
            Issue.record("expected INVALID_RECORD")
        } catch {
            #expect(error.kafkaErrorCode == .invalidRecord)
        }
        #expect(cluster.broker.produceRequests.count == 1)
        // The producer recovers: a new producer id, and the next record goes through.
        let next = try await producer.send(topic: "t", key: nil, value: bytes("y"))
        #expect(next.offset == 0)
        await producer.close()
    }

    @Test func idempotence_keepsOrderAcrossRetriesWithManyInFlight() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 2)
        var config = ProducerConfig()
        config.batchSizeBytes = 400
        config.lingerMs = 0
        config.maxInFlightRequestsPerConnection = 5
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        #expect(producer.isIdempotent)
        cluster.broker.injectProduceErrors([.notLeaderOrFollower, .notLeaderOrFollower, .requestTimedOut], topic: "t", partition: 0)
        let outcomes = Outcomes()
        for index in 0 ..< 300 {
            try await producer.send(topic: "t", partition: Int32(index % 2), key: nil, value: value(index, size: 50),
                                    completion: outcomes.completion)
        }
        await producer.flush()
        #expect(outcomes.failures.isEmpty)
        for partition in Int32(0) ..< 2 {
            let stored = cluster.broker.records(topic: "t", partition: partition).map(index)
            #expect(stored == (0 ..< 300).filter { $0 % 2 == Int(partition) })
        }
        let batches = cluster.broker.batches(topic: "t", partition: 0)
        #expect(batches.allSatisfy { $0.header.producerId >= 0 && $0.header.baseSequence >= 0 })
        await producer.close()
    }

    @Test func messageTooLarge_failsOnlyTheOversizedRecord() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        cluster.broker.state.withLock { $0.maxMessageBytes = 3000 }
        var config = ProducerConfig()
        config.batchSizeBytes = 1_000_000
        config.lingerMs = 60_000
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        let outcomes = Outcomes()
        for index in 0 ..< 20 { try await producer.send(topic: "t", key: nil, value: value(index), completion: outcomes.completion) }
        try await producer.send(topic: "t", key: nil, value: value(999, size: 5000), completion: outcomes.completion)
        for index in 20 ..< 40 { try await producer.send(topic: "t", key: nil, value: value(index), completion: outcomes.completion) }
        await producer.flush()
        #expect(outcomes.count == 41)
        #expect(outcomes.failures.map(\.kafkaErrorCode) == [.messageTooLarge])
        #expect(cluster.broker.records(topic: "t", partition: 0).map(index) == Array(0 ..< 40))
        await producer.close()
    }

    @Test(arguments: [Acks.none, .leader, .all])
    func acks_areSentAndOffsetsReportedAsKafkaDoes(acks: Acks) async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        var config = ProducerConfig()
        config.acks = acks
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        #expect(producer.isIdempotent == (acks == .all))
        var offsets: [Int64] = []
        for index in 0 ..< 3 { offsets.append(try await producer.send(topic: "t", key: nil, value: value(index)).offset) }
        #expect(offsets == (acks == .none ? [-1, -1, -1] : [0, 1, 2]))
        #expect(cluster.broker.produceRequests.allSatisfy { $0.acks == acks.rawValue })
        #expect(await eventually { cluster.broker.records(topic: "t", partition: 0).count == 3 })
        await producer.close()
    }

    @Test(arguments: CompressionCodec.allCases)
    func compression_batchesCarryTheCodecAndDecode(codec: CompressionCodec) async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        var config = ProducerConfig()
        config.compression = codec
        config.lingerMs = 20
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        let outcomes = Outcomes()
        for index in 0 ..< 500 {
            try await producer.send(topic: "t", key: bytes("k\(index)"), value: value(index), headers: [RecordHeader(key: "h", value: [UInt8(index & 0xFF)])],
                                    completion: outcomes.completion)
        }
        await producer.flush()
        #expect(outcomes.successes.count == 500)
        let batches = cluster.broker.batches(topic: "t", partition: 0)
        #expect(batches.allSatisfy { $0.header.attributes.compression == codec })
        let records = batches.flatMap { (try? $0.records()) ?? [] }
        #expect(records.map(index) == Array(0 ..< 500))
        #expect(records.map { $0.headers.first { _ in true }?.value.map { Array($0.readableBytesView) } } == (0 ..< 500).map { [UInt8($0 & 0xFF)] })
        await producer.close()
    }

    @Test func recordLargerThanMaxRequestSize_isRefusedBeforeBuffering() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        var config = ProducerConfig()
        config.maxRequestSizeBytes = 1000
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        await #expect(throws: ClientError.self) { _ = try await producer.send(topic: "t", key: nil, value: value(0, size: 2000)) }
        #expect(cluster.broker.produceRequests.isEmpty)
        await producer.close()
    }

    @Test func bufferMemory_whenFull_sendWaitsThenTimesOut() async throws {
        let networkClock = ManualClock()
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        // Requests to the broker hang (delayed on a clock nobody advances), so memory stays used.
        let network = InProcessNetwork(clock: networkClock)
        network.register(cluster.broker, at: cluster.broker.address)
        let client = ClusterClient(config: cluster.clientConfig(), transport: InProcessTransport(network: network))
        var config = ProducerConfig()
        config.bufferMemoryBytes = 2000
        config.maxBlockMs = 100
        config.lingerMs = 0
        let producer = try Producer(cluster: client, config: config)
        _ = try await client.topicMetadata("t", timeoutMs: 1000)
        network.setFault(.delay(nanoseconds: 3_600_000_000_000), for: cluster.broker.address)
        let outcomes = Outcomes()
        var refused: ClientError?
        for index in 0 ..< 100 {
            do { try await producer.send(topic: "t", key: nil, value: value(index), completion: outcomes.completion) } catch {
                refused = error
                break
            }
        }
        guard case .timedOut(_, "max.block.ms", 100)? = refused else {
            Issue.record("expected a max.block.ms timeout, got \(String(describing: refused))")
            return
        }
        network.setFault(.none, for: cluster.broker.address)
        networkClock.advance(by: .seconds(3600))
        await producer.close(timeoutMs: 5000)
        #expect(outcomes.failures.isEmpty)
        #expect(outcomes.count == cluster.broker.records(topic: "t", partition: 0).count)
    }

    @Test func deliveryTimeout_failsRecordsThatCannotBeSent() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        var config = ProducerConfig()
        config.deliveryTimeoutMs = 150
        let client = cluster.clusterClient()
        let producer = try Producer(cluster: client, config: config)
        _ = try await client.topicMetadata("t", timeoutMs: 1000)
        cluster.network.setFault(.isolated, for: cluster.broker.address)
        do {
            _ = try await producer.send(topic: "t", key: nil, value: bytes("lost"))
            Issue.record("expected a delivery timeout")
        } catch {
            guard case .timedOut(_, "delivery.timeout.ms", 150) = error else {
                Issue.record("expected delivery.timeout.ms, got \(error)")
                return
            }
        }
        await producer.close(timeoutMs: 0)
    }

    @Test func close_sendsWhatIsBufferedAndRefusesLaterSends() async throws {
        let cluster = FakeCluster()
        cluster.broker.createTopic("t", partitions: 1)
        var config = ProducerConfig()
        config.lingerMs = 60_000
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        let outcomes = Outcomes()
        for index in 0 ..< 10 { try await producer.send(topic: "t", key: nil, value: value(index), completion: outcomes.completion) }
        await producer.close()
        #expect(outcomes.successes.count == 10)
        await #expect(throws: ClientError.closed) { try await producer.send(topic: "t", key: nil, value: bytes("late"), completion: nil) }
    }

    @Test func unknownTopic_withoutAutoCreate_timesOutAfterMaxBlock() async throws {
        let cluster = FakeCluster()
        cluster.broker.state.withLock { $0.autoCreate = false }
        var config = ProducerConfig()
        config.maxBlockMs = 50
        let producer = try Producer(cluster: cluster.clusterClient(), config: config)
        await #expect(throws: ClientError.self) { try await producer.send(topic: "missing", key: nil, value: bytes("x"), completion: nil) }
        await producer.close()
    }

    @Test func config_rejectsIdempotenceWithAcksOne() {
        var config = ProducerConfig()
        config.acks = .leader
        config.enableIdempotence = true
        #expect(throws: ClientError.self) { try config.validate() }
        config.enableIdempotence = nil
        #expect(throws: Never.self) { try config.validate() }
        #expect((try? config.idempotenceEnabled()) == false)
    }

    @Test func config_parsesKafkaPropertyNames() throws {
        var config = ProducerConfig()
        #expect(try config.set("linger.ms", "7"))
        #expect(try config.set("compression.type", "zstd"))
        #expect(try config.set("acks", "1"))
        #expect(try config.set("batch.size", "65536"))
        #expect(try config.set("unknown.property", "1") == false)
        #expect(config.lingerMs == 7 && config.compression == .zstd && config.acks == .leader && config.batchSizeBytes == 65536)
        #expect(throws: ClientError.self) { try config.set("linger.ms", "soon") }
        var consumer = ConsumerConfig()
        #expect(try consumer.set("auto.offset.reset", "earliest"))
        #expect(throws: ClientError.self) { try consumer.set("auto.offset.reset", "sometime") }
    }
}
