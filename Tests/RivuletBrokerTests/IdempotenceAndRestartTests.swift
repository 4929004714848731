import NIOCore
import RivuletBroker
import RivuletCore
import RivuletStorage
import RivuletWire
import Testing

@Suite("Idempotent producers and restarts")
struct IdempotenceAndRestartTests {
    @Test("InitProducerId hands out distinct ids; transactional ids are refused")
    func initProducerId() async throws {
        try await withBroker(.memory) { fixture in
            var ids = Set<Int64>()
            for version in Int16(0) ... 5 {
                let response = try await fixture.send(InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000), version: version)
                #expect(response.errorCode == 0)
                #expect(response.producerEpoch == 0)
                ids.insert(response.producerId)
            }
            #expect(ids.count == 6)
            let transactional = try await fixture.send(InitProducerIdRequest(transactionalId: "tx", transactionTimeoutMs: 60000), version: 4)
            #expect(transactional.errorCode == KafkaErrorCode.coordinatorNotAvailable.code16)
            let empty = try await fixture.send(InitProducerIdRequest(transactionalId: "", transactionTimeoutMs: 60000), version: 4)
            #expect(empty.errorCode == KafkaErrorCode.invalidRequest.code16)
        }
    }

    @Test("a retried batch is answered with its original offsets and stored once; gaps and old epochs are refused", arguments: StorageKind.allCases)
    func idempotentProduce_dedupe(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("idem")
            let producerId = try await fixture.send(InitProducerIdRequest(transactionalId: nil), version: 4).producerId
            let first = try makeBatch(count: 3, producerId: producerId, producerEpoch: 0, baseSequence: 0)
            let second = try makeBatch(count: 2, producerId: producerId, producerEpoch: 0, baseSequence: 3)
            #expect(try await fixture.produce("idem", records: first).baseOffset == 0)
            #expect(try await fixture.produce("idem", records: second).baseOffset == 3)
            // Retries of both are duplicates.
            let retry = try await fixture.produce("idem", records: first)
            #expect(retry.errorCode == 0 && retry.baseOffset == 0)
            #expect(try await fixture.produce("idem", records: second).baseOffset == 3)
            #expect(try fixture.partition("idem").logEndOffset == 5)
            // A gap in the sequence.
            let gap = try makeBatch(count: 1, producerId: producerId, producerEpoch: 0, baseSequence: 7)
            #expect(try await fixture.produce("idem", records: gap).errorCode == KafkaErrorCode.outOfOrderSequenceNumber.code16)
            // A new epoch must start at 0; then the old epoch is fenced.
            let newEpochBad = try makeBatch(count: 1, producerId: producerId, producerEpoch: 1, baseSequence: 5)
            #expect(try await fixture.produce("idem", records: newEpochBad).errorCode == KafkaErrorCode.outOfOrderSequenceNumber.code16)
            let newEpoch = try makeBatch(count: 1, producerId: producerId, producerEpoch: 1, baseSequence: 0)
            #expect(try await fixture.produce("idem", records: newEpoch).baseOffset == 5)
            let oldEpoch = try makeBatch(count: 1, producerId: producerId, producerEpoch: 0, baseSequence: 5)
            #expect(try await fixture.produce("idem", records: oldEpoch).errorCode == KafkaErrorCode.invalidProducerEpoch.code16)
            // Only a duplicate of the last five batches is recognised; older ones are out of order.
            var sequence: Int32 = 1
            for _ in 0 ..< 5 {
                _ = try await fixture.produce("idem", records: try makeBatch(count: 1, producerId: producerId, producerEpoch: 1, baseSequence: sequence))
                sequence += 1
            }
            #expect(try await fixture.produce("idem", records: newEpoch).errorCode == KafkaErrorCode.outOfOrderSequenceNumber.code16)
            #expect(try fixture.partition("idem").logEndOffset == 11)
            // Batches without a producer id are never deduplicated.
            let plain = try makeBatch(count: 1)
            #expect(try await fixture.produce("idem", records: plain).baseOffset == 11)
            #expect(try await fixture.produce("idem", records: plain).baseOffset == 12)
        }
    }

    @Test("a restarted file or mmap broker keeps topics, ids, configs, data and producer state", arguments: StorageKind.durable)
    func restart_keepsEverything(kind: StorageKind) async throws {
        let fixture = try await BrokerFixture.start(kind)
        do {
            let created = try await fixture.createTopic("durable", partitions: 3, configs: ["retention.bytes": "999999"])
            let producerId = try await fixture.send(InitProducerIdRequest(transactionalId: nil), version: 4).producerId
            let batch = try makeBatch(count: 4, producerId: producerId, producerEpoch: 0, baseSequence: 0)
            #expect(try await fixture.produce("durable", partition: 2, records: batch).baseOffset == 0)
            _ = try await fixture.produce("durable", partition: 0, records: try makeBatch(count: 2))
            let clusterId = try await fixture.send(MetadataRequest(topics: nil), version: 12).clusterId
            let epochBefore = try fixture.partition("durable", 2).leaderEpoch

            try await fixture.restart()

            let metadata = try await fixture.send(MetadataRequest(topics: nil), version: 12)
            #expect(metadata.clusterId == clusterId)
            let topic = try #require(metadata.topics.first)
            #expect(topic.name == "durable" && topic.topicId == created.topicId && topic.partitions.count == 3)
            #expect(topic.partitions[2].leaderEpoch == epochBefore + 1, "a restart starts a new leader epoch")
            let configs = try await fixture.send(DescribeConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "durable", configurationKeys: ["retention.bytes"]),
            ]), version: 2)
            #expect(configs.results[0].configs.first?.value == "999999")
            let fetched = try await fixture.fetch("durable", partition: 2, offset: 0)
            #expect(fetched.highWatermark == 4)
            #expect(try decodeRecords(fetched.records).map(\.value) == (0 ..< 4).map { "v-\($0)" })
            #expect(try await fixture.fetch("durable", partition: 0, offset: 0).highWatermark == 2)
            // The producer's retry is still recognised (state snapshot), and its next batch continues.
            #expect(try await fixture.produce("durable", partition: 2, records: batch).baseOffset == 0)
            let next = try makeBatch(count: 1, producerId: producerId, producerEpoch: 0, baseSequence: 4)
            let appended = try await fixture.produce("durable", partition: 2, records: next)
            #expect(appended.baseOffset == 4)
            // New batches carry the new epoch; ListOffsets reports it.
            let latest = try await fixture.listOffset("durable", partition: 2, timestamp: -1)
            #expect(latest.leaderEpoch == epochBefore + 1)
            // Producer ids keep growing across restarts.
            let newId = try await fixture.send(InitProducerIdRequest(transactionalId: nil), version: 4).producerId
            #expect(newId > producerId)
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    @Test("producer state is rebuilt from the log when there is no snapshot", arguments: StorageKind.durable)
    func restart_withoutSnapshot_rebuildsProducerState(kind: StorageKind) async throws {
        let fixture = try await BrokerFixture.start(kind)
        do {
            let created = try await fixture.createTopic("rebuild")
            let batch = try makeBatch(count: 2, producerId: 77, producerEpoch: 3, baseSequence: 10)
            #expect(try await fixture.produce("rebuild", records: batch).errorCode == 0)
            // Stop cleanly (which writes the state snapshot), drop the snapshot, start again.
            try await fixture.restart { url in
                let engine = try StorageEngines.open(url: url)
                #expect(try engine.loadDocument(named: "partition-state-\(created.topicId)-0")?.isEmpty == false)
                try engine.storeDocument(named: "partition-state-\(created.topicId)-0", bytes: [])
                try engine.close()
            }
            #expect(try fixture.partition("rebuild").producerState.producers[77]?.epoch == 3)
            #expect(try await fixture.produce("rebuild", records: batch).baseOffset == 0, "recognised as a duplicate")
            #expect(try fixture.partition("rebuild").logEndOffset == 2)
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    @Test("a memory broker restarted in its cluster keeps its data")
    func restart_memory() async throws {
        try await withBroker(.memory) { fixture in
            try await fixture.createTopic("kept")
            _ = try await fixture.produce("kept", records: try makeBatch(count: 3))
            try await fixture.restart()
            #expect(try await fixture.fetch("kept", offset: 0).highWatermark == 3)
        }
    }

    @Test("logs that belong to no topic are deleted at start")
    func restart_deletesOrphanLogs() async throws {
        let fixture = try await BrokerFixture.start(.file)
        do {
            try await fixture.createTopic("real")
            let storage = try fixture.broker.storage
            let orphan = try storage.openLog(TopicPartition(topic: "ghost", partition: 0), config: LogConfig())
            try orphan.close()
            #expect(try storage.partitions().contains(TopicPartition(topic: "ghost", partition: 0)))
            try await fixture.restart()
            #expect(try fixture.broker.storage.partitions() == [TopicPartition(topic: "real", partition: 0)])
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }
}
