import NIOCore
import RivuletBroker
import RivuletCore
import RivuletStorage
import RivuletWire
import Testing

@Suite("ListOffsets, retention, DeleteRecords")
struct OffsetsAndRetentionTests {
    @Test("ListOffsets earliest, latest, by timestamp and max timestamp", arguments: StorageKind.allCases)
    func listOffsets(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("times")
            // Batches at t=1000 (offsets 0-1), t=2000/2500 (2-3), t=3000 (4).
            _ = try await fixture.produce("times", records: try makeBatch([TestRecord(key: nil, value: "a", timestampMs: 1000),
                                                                           TestRecord(key: nil, value: "b", timestampMs: 1000)]))
            _ = try await fixture.produce("times", records: try makeBatch([TestRecord(key: nil, value: "c", timestampMs: 2000),
                                                                           TestRecord(key: nil, value: "d", timestampMs: 2500)]))
            _ = try await fixture.produce("times", records: try makeBatch([TestRecord(key: nil, value: "e", timestampMs: 3000)]))
            let earliest = try await fixture.listOffset("times", timestamp: -2)
            #expect(earliest.errorCode == 0 && earliest.offset == 0 && earliest.timestamp == -1)
            let latest = try await fixture.listOffset("times", timestamp: -1)
            #expect(latest.offset == 5 && latest.timestamp == -1)
            #expect(latest.leaderEpoch == (try fixture.partition("times").leaderEpoch))
            // The first record at or after the timestamp, inside its batch.
            let at2200 = try await fixture.listOffset("times", timestamp: 2200)
            #expect(at2200.offset == 3 && at2200.timestamp == 2500)
            let at1500 = try await fixture.listOffset("times", timestamp: 1500)
            #expect(at1500.offset == 2 && at1500.timestamp == 2000)
            let at0 = try await fixture.listOffset("times", timestamp: 0)
            #expect(at0.offset == 0 && at0.timestamp == 1000)
            let tooLate = try await fixture.listOffset("times", timestamp: 9999)
            #expect(tooLate.errorCode == 0 && tooLate.offset == -1 && tooLate.timestamp == -1)
            let maxTimestamp = try await fixture.listOffset("times", timestamp: -3)
            #expect(maxTimestamp.offset == 4 && maxTimestamp.timestamp == 3000)
            // v0: the old offsets array.
            let v0 = try await fixture.send(ListOffsetsRequest(replicaId: -1, topics: [
                .init(name: "times", partitions: [.init(partitionIndex: 0, timestamp: -1, maxNumOffsets: 1)]),
            ]), version: 0)
            #expect(v0.topics[0].partitions[0].oldStyleOffsets == [5])
            // Unknown partitions and duplicates.
            #expect(try await fixture.listOffset("times", partition: 3, timestamp: -1).errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            #expect(try await fixture.listOffset("nope", timestamp: -1).errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            let duplicate = try await fixture.send(ListOffsetsRequest(replicaId: -1, topics: [
                .init(name: "times", partitions: [.init(partitionIndex: 0, timestamp: -1), .init(partitionIndex: 0, timestamp: -2)]),
            ]), version: 5)
            #expect(duplicate.topics[0].partitions.map(\.errorCode) == [KafkaErrorCode.invalidRequest.code16, KafkaErrorCode.invalidRequest.code16])
            // Every version answers.
            for version in Int16(1) ... 10 {
                #expect(try await fixture.listOffset("times", timestamp: -1, version: version).offset == 5, "v\(version)")
            }
        }
    }

    @Test("retention deletes old segments; a fetch at a deleted offset is OFFSET_OUT_OF_RANGE", arguments: StorageKind.allCases)
    func retention_bySize(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            let batch = try makeBatch(count: 2, valueBytes: 500)
            // Each segment holds about two batches; keep about three batches.
            try await fixture.createTopic("r", configs: ["segment.bytes": "\(batch.readableBytes * 2 + 10)",
                                                         "retention.bytes": "\(batch.readableBytes * 3)"])
            for _ in 0 ..< 10 { #expect(try await fixture.produce("r", records: batch).errorCode == 0) }
            let deleted = try fixture.broker.runMaintenance()
            #expect(deleted.deletedSegments > 0)
            let start = try #require(try fixture.partition("r").logStartOffset)
            #expect(start > 0)
            let gone = try await fixture.fetch("r", offset: 0)
            #expect(gone.errorCode == KafkaErrorCode.offsetOutOfRange.code16)
            let kept = try await fixture.fetch("r", offset: start)
            #expect(kept.errorCode == 0)
            #expect(kept.logStartOffset == start)
            #expect(try decodeRecords(kept.records).first?.offset == start)
            #expect(try await fixture.listOffset("r", timestamp: -2).offset == start)
        }
    }

    @Test("retention.ms deletes segments whose records are older than the limit")
    func retention_byTime() async throws {
        let clock = ManualClock(wallMilliseconds: 1_000_000)
        try await withBroker(.file, clock: clock) { fixture in
            let old = try makeBatch(count: 1, valueBytes: 200, timestampMs: 1_000_000)
            try await fixture.createTopic("aged", configs: ["segment.bytes": "\(old.readableBytes + 10)", "retention.ms": "60000"])
            for _ in 0 ..< 3 { _ = try await fixture.produce("aged", records: old) }
            #expect(try fixture.broker.runMaintenance().deletedSegments == 0, "nothing is old yet")
            clock.advance(by: .seconds(120))
            #expect(try fixture.broker.runMaintenance().deletedSegments == 2)
            #expect(try fixture.partition("aged").logStartOffset == 2, "the active segment stays")
        }
    }

    @Test("DeleteRecords moves the log start offset; errors per partition", arguments: StorageKind.allCases)
    func deleteRecords(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("d", partitions: 2)
            for _ in 0 ..< 3 { _ = try await fixture.produce("d", records: try makeBatch(count: 2)) }
            let response = try await fixture.send(DeleteRecordsRequest(topics: [
                .init(name: "d", partitions: [.init(partitionIndex: 0, offset: 3), .init(partitionIndex: 1, offset: 1),
                                              .init(partitionIndex: 5, offset: 0)]),
                .init(name: "missing", partitions: [.init(partitionIndex: 0, offset: 0)]),
            ], timeoutMs: 1000), version: 2)
            let results = response.topics[0].partitions
            #expect(results[0].errorCode == 0 && results[0].lowWatermark == 3)
            #expect(results[1].errorCode == KafkaErrorCode.offsetOutOfRange.code16, "partition 1 is empty")
            #expect(results[2].errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            #expect(response.topics[1].partitions[0].errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            let fetched = try await fixture.fetch("d", offset: 3)
            #expect(fetched.logStartOffset == 3)
            #expect(try decodeRecords(fetched.records).map(\.offset).contains(3))
            #expect(try await fixture.fetch("d", offset: 1).errorCode == KafkaErrorCode.offsetOutOfRange.code16)
            // -1 deletes up to the high watermark; lower offsets change nothing.
            let all = try await fixture.send(DeleteRecordsRequest(topics: [
                .init(name: "d", partitions: [.init(partitionIndex: 0, offset: -1)]),
            ]), version: 1)
            #expect(all.topics[0].partitions[0].lowWatermark == 6)
            let lower = try await fixture.send(DeleteRecordsRequest(topics: [
                .init(name: "d", partitions: [.init(partitionIndex: 0, offset: 2)]),
            ]), version: 0)
            #expect(lower.topics[0].partitions[0].lowWatermark == 6)
            let tooFar = try await fixture.send(DeleteRecordsRequest(topics: [
                .init(name: "d", partitions: [.init(partitionIndex: 0, offset: 7)]),
            ]), version: 2)
            #expect(tooFar.topics[0].partitions[0].errorCode == KafkaErrorCode.offsetOutOfRange.code16)
        }
    }
}
