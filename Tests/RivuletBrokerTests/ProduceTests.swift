import NIOCore
import RivuletBroker
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Testing

@Suite("Produce")
struct ProduceTests {
    @Test("produce then fetch returns the same batch bytes, for every acks", arguments: StorageKind.allCases, [Int16(0), 1, -1])
    func produceFetch_roundTrip(kind: StorageKind, acks: Int16) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("orders", partitions: 2)
            let batch = try makeBatch(count: 3, prefix: "acks\(acks)")
            if acks == 0 {
                try await fixture.connection.sendWithoutResponse(ProduceRequest(acks: 0, timeoutMs: 1000, topicData: [
                    .init(name: "orders", partitionData: [.init(index: 1, records: batch)]),
                ]), version: 9)
            } else {
                let produced = try await fixture.produce("orders", partition: 1, records: batch, acks: acks)
                #expect(produced.errorCode == 0)
                #expect(produced.baseOffset == 0)
                #expect(produced.logStartOffset == 0)
                #expect(produced.logAppendTimeMs == -1)
            }
            // A second batch gets the next offsets (the connection keeps order, acks=0 included).
            let second = try await fixture.produce("orders", partition: 1, records: try makeBatch(count: 2, prefix: "second"), acks: 1)
            #expect(second.baseOffset == 3)
            let fetched = try await fixture.fetch("orders", partition: 1, offset: 0)
            #expect(fetched.errorCode == 0)
            #expect(fetched.highWatermark == 5)
            #expect(fetched.lastStableOffset == 5)
            #expect(fetched.logStartOffset == 0)
            let records = try decodeRecords(fetched.records)
            #expect(records.map(\.offset) == [0, 1, 2, 3, 4])
            #expect(records.map(\.value) == ["acks\(acks)-0", "acks\(acks)-1", "acks\(acks)-2", "second-0", "second-1"])
            // Stored bytes are the producer's bytes, with base offset and leader epoch stamped.
            let stored = try #require(fetched.records)
            let firstBatch = try #require(stored.getSlice(at: stored.readerIndex, length: batch.readableBytes))
            #expect(firstBatch.getBytes(at: firstBatch.readerIndex + 17, length: batch.readableBytes - 17)
                == batch.getBytes(at: batch.readerIndex + 17, length: batch.readableBytes - 17))
            let header = try #require(batchHeaders(fetched.records).first)
            #expect(header.partitionLeaderEpoch == (try fixture.partition("orders", 1)).leaderEpoch)
            // The other partition is untouched.
            let other = try await fixture.fetch("orders", partition: 0, offset: 0)
            #expect(other.highWatermark == 0)
            #expect(try decodeRecords(other.records).isEmpty)
        }
    }

    @Test("a batch with a bad CRC is CORRUPT_MESSAGE and nothing is stored", arguments: StorageKind.allCases)
    func produce_badCRC_isCorruptMessage(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("t")
            var batch = try makeBatch(count: 2)
            // Flip a byte of the last record's value (covered by the CRC).
            let last = batch.writerIndex - 1
            batch.setInteger(batch.getInteger(at: last, as: UInt8.self).map { $0 ^ 0xFF } ?? 0, at: last)
            let produced = try await fixture.produce("t", records: batch)
            #expect(produced.errorCode == KafkaErrorCode.corruptMessage.code16)
            #expect(produced.baseOffset == -1)
            let fetched = try await fixture.fetch("t", offset: 0)
            #expect(fetched.highWatermark == 0)
            #expect(try fixture.partition("t").logEndOffset == 0)
        }
    }

    @Test("a batch with an inconsistent header is CORRUPT_MESSAGE and nothing is stored", arguments: StorageKind.allCases)
    func produce_badHeader_isCorruptMessage(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("t")
            var batch = try makeBatch(count: 3)
            // lastOffsetDelta 5 with 3 records (the CRC is recomputed so only the header is wrong).
            batch.setInteger(Int32(5), at: batch.readerIndex + RecordBatchLayout.lastOffsetDelta)
            let crc = CRC32C.checksum(batch, at: batch.readerIndex + RecordBatchLayout.crcCoverageStart,
                                      length: batch.readableBytes - RecordBatchLayout.crcCoverageStart)
            batch.setInteger(crc, at: batch.readerIndex + RecordBatchLayout.crc)
            #expect(try await fixture.produce("t", records: batch).errorCode == KafkaErrorCode.corruptMessage.code16)
            // A truncated batch (length field larger than the bytes) too.
            let whole = try makeBatch(count: 3)
            let truncated = whole.getSlice(at: whole.readerIndex, length: whole.readableBytes - 4)
            #expect(try await fixture.produce("t", records: truncated).errorCode == KafkaErrorCode.corruptMessage.code16)
            #expect(try fixture.partition("t").logEndOffset == 0)
        }
    }

    @Test("a batch over max.message.bytes is MESSAGE_TOO_LARGE; other partitions of the request are stored", arguments: StorageKind.allCases)
    func produce_tooLarge_otherPartitionsUnaffected(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("big", partitions: 2, configs: ["max.message.bytes": "2000"])
            try await fixture.createTopic("small")
            let large = try makeBatch(count: 3, valueBytes: 1000)
            let ok = try makeBatch(count: 1)
            let response = try await fixture.send(ProduceRequest(acks: 1, timeoutMs: 1000, topicData: [
                .init(name: "big", partitionData: [.init(index: 0, records: large), .init(index: 1, records: ok)]),
                .init(name: "small", partitionData: [.init(index: 0, records: large)]),
            ]), version: 9)
            let big = try #require(response.responses.first { $0.name == "big" })
            #expect(big.partitionResponses.map(\.index) == [0, 1])
            #expect(big.partitionResponses[0].errorCode == KafkaErrorCode.messageTooLarge.code16)
            #expect(big.partitionResponses[0].errorMessage != nil)
            #expect(big.partitionResponses[1].errorCode == 0)
            #expect(big.partitionResponses[1].baseOffset == 0)
            let small = try #require(response.responses.first { $0.name == "small" })
            #expect(small.partitionResponses[0].errorCode == 0, "the broker default is 1 MiB")
            #expect(try fixture.partition("big", 0).logEndOffset == 0)
            #expect(try fixture.partition("big", 1).logEndOffset == 1)
        }
    }

    @Test("request-level and partition-level errors")
    func produce_errors() async throws {
        try await withBroker(.memory) { fixture in
            try await fixture.createTopic("t")
            let batch = try makeBatch(count: 1)
            // Bad acks.
            let badAcks = try await fixture.send(ProduceRequest(acks: 2, timeoutMs: 1000, topicData: [
                .init(name: "t", partitionData: [.init(index: 0, records: batch)]),
            ]), version: 9)
            #expect(badAcks.responses[0].partitionResponses[0].errorCode == KafkaErrorCode.invalidRequiredAcks.code16)
            // Unknown topic and unknown partition.
            #expect(try await fixture.produce("nope", records: batch).errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            #expect(try await fixture.produce("t", partition: 7, records: batch).errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            #expect(try await fixture.produce("t", partition: -1, records: batch).errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            // Null and empty records, two batches, old magic.
            #expect(try await fixture.produce("t", records: nil).errorCode == KafkaErrorCode.invalidRecord.code16)
            #expect(try await fixture.produce("t", records: ByteBuffer()).errorCode == KafkaErrorCode.invalidRecord.code16)
            var two = try makeBatch(count: 1)
            var other = try makeBatch(count: 1)
            two.writeBuffer(&other)
            #expect(try await fixture.produce("t", records: two).errorCode == KafkaErrorCode.invalidRecord.code16)
            var oldMagic = try makeBatch(count: 1)
            oldMagic.setInteger(Int8(1), at: oldMagic.readerIndex + RecordBatchLayout.magic)
            #expect(try await fixture.produce("t", records: oldMagic).errorCode == KafkaErrorCode.unsupportedForMessageFormat.code16)
            // Garbage bytes.
            #expect(try await fixture.produce("t", records: ByteBuffer(bytes: [1, 2, 3])).errorCode == KafkaErrorCode.corruptMessage.code16)
            // zstd needs Produce v7.
            var builder = RecordBatchBuilder(compression: .zstd)
            try builder.append(timestampMs: 1, key: nil, value: Array("zstd".utf8))
            let zstd = try builder.build().buffer
            #expect(try await fixture.produce("t", records: zstd, version: 6).errorCode == KafkaErrorCode.unsupportedCompressionType.code16)
            #expect(try await fixture.produce("t", records: zstd, version: 7).errorCode == 0)
            // Control and transactional batches from clients.
            #expect(try await fixture.produce("t", records: try makeBatch([TestRecord(value: "c")], isControl: true)).errorCode
                == KafkaErrorCode.invalidRecord.code16)
            #expect(try await fixture.produce("t", records: try makeBatch([TestRecord(value: "x")], producerId: 5, producerEpoch: 0,
                                                                           baseSequence: 0, isTransactional: true)).errorCode
                == KafkaErrorCode.invalidTxnState.code16)
            // A batch claiming more records than its bytes hold.
            var inflated = try makeBatch(count: 2)
            inflated.setInteger(Int32(1_000_000), at: inflated.readerIndex + RecordBatchLayout.recordCount)
            inflated.setInteger(Int32(999_999), at: inflated.readerIndex + RecordBatchLayout.lastOffsetDelta)
            let crc = CRC32C.checksum(inflated, at: inflated.readerIndex + RecordBatchLayout.crcCoverageStart,
                                      length: inflated.readableBytes - RecordBatchLayout.crcCoverageStart)
            inflated.setInteger(crc, at: inflated.readerIndex + RecordBatchLayout.crc)
            #expect(try await fixture.produce("t", records: inflated).errorCode == KafkaErrorCode.corruptMessage.code16)
            // Only the zstd batch was stored.
            #expect(try fixture.partition("t").logEndOffset == 1)
            // Whatever base offset and epoch a producer writes, the broker assigns its own.
            var hostile = try makeBatch(count: 2)
            hostile.setInteger(Int64.max, at: hostile.readerIndex + RecordBatchLayout.baseOffset)
            hostile.setInteger(Int32.max, at: hostile.readerIndex + RecordBatchLayout.partitionLeaderEpoch)
            let stored = try await fixture.produce("t", records: hostile)
            #expect(stored.errorCode == 0 && stored.baseOffset == 1)
            let header = try #require(batchHeaders(try await fixture.fetch("t", offset: 1).records).first)
            let epoch = try fixture.partition("t").leaderEpoch
            #expect(header.baseOffset == 1 && header.partitionLeaderEpoch == epoch)
        }
    }

    @Test("acks=all needs min.insync.replicas in-sync replicas")
    func produce_acksAll_notEnoughReplicas() async throws {
        try await withBroker(.memory) { fixture in
            try await fixture.createTopic("strict", configs: ["min.insync.replicas": "2"])
            let batch = try makeBatch(count: 1)
            #expect(try await fixture.produce("strict", records: batch, acks: -1).errorCode == KafkaErrorCode.notEnoughReplicas.code16)
            #expect(try await fixture.produce("strict", records: batch, acks: 1).errorCode == 0)
        }
    }

    @Test("LogAppendTime topics stamp the broker's clock into the batch")
    func produce_logAppendTime() async throws {
        let clock = ManualClock(wallMilliseconds: 1_800_000_000_000)
        try await withBroker(.memory, clock: clock) { fixture in
            try await fixture.createTopic("lat", configs: ["message.timestamp.type": "LogAppendTime"])
            let produced = try await fixture.produce("lat", records: try makeBatch(count: 2, timestampMs: 5))
            #expect(produced.logAppendTimeMs == 1_800_000_000_000)
            let fetched = try await fixture.fetch("lat", offset: 0)
            let header = try #require(batchHeaders(fetched.records).first)
            #expect(header.attributes.isLogAppendTime)
            #expect(header.maxTimestamp == 1_800_000_000_000)
            // The CRC was recomputed: the batch still validates.
            let batches = try RecordBatchSequence(try #require(fetched.records)).batches()
            #expect(batches.count == 1 && batches[0].isChecksumValid)
        }
    }

    @Test("pipelined requests on one connection take effect in order")
    func produce_pipelined_keepsOrder() async throws {
        try await withBroker(.memory) { fixture in
            try await fixture.createTopic("ordered")
            let count = 50
            var futures: [ResponseFuture<KafkaResponseBody?>] = []
            for index in 0 ..< count {
                let request = ProduceRequest(acks: index % 5 == 0 ? 0 : 1, timeoutMs: 1000, topicData: [
                    .init(name: "ordered", partitionData: [.init(index: 0, records: try makeBatch([TestRecord(value: "m\(index)")]))]),
                ])
                futures.append(fixture.connection.enqueue(request, version: 9, expectResponse: request.acks != 0))
            }
            var offsets: [Int64] = []
            for future in futures {
                if let body = try await future.value, let response = ProduceResponse(body: body) {
                    offsets.append(response.responses[0].partitionResponses[0].baseOffset)
                }
            }
            #expect(offsets == offsets.sorted())
            #expect(offsets.count == count - count / 5)
            let fetched = try await fixture.fetch("ordered", offset: 0)
            #expect(try decodeRecords(fetched.records).map(\.value) == (0 ..< count).map { "m\($0)" })
        }
    }
}
