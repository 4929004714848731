import NIOCore
import RivuletCore
import RivuletWire
import Testing
@testable import RivuletStorage

/// Log compaction on every backend: latest value per key, offsets preserved, segments still tile
/// the log, tombstones expire after delete.retention.ms, durable logs reopen cleaned.
@Suite struct LogCleanerTests {
    static let t0: Int64 = 1_700_000_000_000
    static let small = LogConfig(segmentBytes: 1024, indexIntervalBytes: 128)
    static let cleanAll = LogCleanerConfig(deleteRetentionMs: 60_000, minCleanableDirtyRatio: 0)

    /// One record per (key, value) pair; a nil value is a tombstone.
    static func keyedBatch(_ entries: [(key: String?, value: String?)], timestampMs: Int64,
                           compression: CompressionCodec = .none, producerId: Int64 = -1) throws -> RecordBatch {
        var builder = RecordBatchBuilder(compression: compression, producerId: producerId, producerEpoch: producerId >= 0 ? 0 : -1,
                                         baseSequence: producerId >= 0 ? 0 : -1)
        for (index, entry) in entries.enumerated() {
            try builder.append(timestampMs: timestampMs + Int64(index), key: entry.key.map { Array($0.utf8) },
                               value: entry.value.map { Array($0.utf8) }, headers: [RecordHeader(key: "h", value: [1, 2])])
        }
        return try builder.build()
    }

    /// Every record in the log from its start: offset, key, value (nil = tombstone).
    static func records(_ log: any LogStore) throws -> [(offset: Int64, key: String?, value: String?)] {
        var result: [(offset: Int64, key: String?, value: String?)] = []
        for stored in try readAll(log) {
            let batch = try RecordBatch(ByteBuffer(bytes: stored.bytes))
            try batch.forEachRecord { record in
                result.append((record.offset, record.key.map { String(buffer: $0) }, record.value.map { String(buffer: $0) }))
                #expect(record.headerCount == 1)
            }
        }
        return result
    }

    /// Appends `rounds` updates of keys k0..k(keys-1), one batch per update, and returns what the
    /// latest value of each key is and where it is.
    static func writeUpdates(_ log: any LogStore, keys: Int, rounds: Int, compression: CompressionCodec = .none,
                             startMs: Int64 = t0) throws -> [String: (offset: Int64, value: String)] {
        var latest: [String: (offset: Int64, value: String)] = [:]
        var time = startMs
        for round in 0 ..< rounds {
            for key in 0 ..< keys {
                let value = "value-\(round)-\(key)-" + String(repeating: "x", count: 40)
                let info = try log.append(keyedBatch([("k\(key)", value)], timestampMs: time, compression: compression),
                                          assignOffsets: true)
                latest["k\(key)"] = (info.firstOffset, value)
                time += 1
            }
        }
        return latest
    }

    static func checkTiling(_ log: any LogStore) {
        let segments = log.internals.segmentSummaries
        for (previous, next) in zip(segments, segments.dropFirst()) {
            #expect(previous.nextOffset == next.baseOffset, "segments \(segments)")
        }
        #expect(segments.last?.nextOffset == log.logEndOffset)
        #expect(Int64(segments.reduce(0) { $0 + $1.sizeBytes }) == log.sizeBytes)
        // Batches within the log follow each other (gaps only inside batches).
        if let stored = try? readAll(log) {
            for (previous, next) in zip(stored, stored.dropFirst()) {
                #expect(previous.lastOffset + 1 == next.baseOffset)
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func clean_keepsTheLatestValuePerKey_andPreservesOffsets(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        let latest = try Self.writeUpdates(log, keys: 5, rounds: 12)
        let before = try Self.records(log)
        let endBefore = log.logEndOffset
        #expect(log.internals.segmentSummaries.count > 3)

        let result = try LogCleaner.clean(log, config: Self.cleanAll, nowMs: Self.t0, firstUncleanableOffset: log.logEndOffset)
        #expect(result.segmentsRewritten > 0)
        #expect(result.recordsRemoved > 0)
        #expect(result.bytesAfter < result.bytesBefore)
        #expect(log.logEndOffset == endBefore)
        let after = try Self.records(log)
        #expect(after.count < before.count)
        // Every surviving record is an original record at its original offset.
        let original = Dictionary(uniqueKeysWithValues: before.map { ($0.offset, $0) })
        for record in after {
            #expect(original[record.offset]?.key == record.key && original[record.offset]?.value == record.value)
        }
        // The latest value of every key survives, and replaying gives the latest values.
        var replayed: [String: String] = [:]
        for record in after { if let key = record.key { replayed[key] = record.value } }
        for (key, entry) in latest {
            #expect(after.contains { $0.offset == entry.offset && $0.value == entry.value }, "\(key)")
            #expect(replayed[key] == entry.value)
        }
        // Below the active segment, a record superseded there survives only as the one record a
        // segment may keep to stay contiguous.
        let activeBase = log.internals.segmentSummaries.last?.baseOffset ?? 0
        var latestSealed: [String: Int64] = [:]
        for record in before where record.offset < activeBase { if let key = record.key { latestSealed[key] = record.offset } }
        let sealedStale = after.filter { record in
            guard let key = record.key, record.offset < activeBase else { return false }
            return latestSealed[key] != record.offset
        }
        #expect(sealedStale.count <= log.internals.segmentSummaries.count - 1)
        Self.checkTiling(log)
        // Reading from any offset, removed ones included, returns records at or after it.
        for offset in 0 ..< log.logEndOffset {
            let read = try log.read(from: offset, maxBytes: 1, maxOffset: nil)
            #expect(read.batchCount == 1 && read.nextOffset > offset)
        }
        // A second pass finds nothing more to drop in what it already cleaned.
        let again = try LogCleaner.clean(log, config: Self.cleanAll, nowMs: Self.t0, firstUncleanableOffset: log.logEndOffset)
        #expect(again.recordsRemoved == 0 && again.segmentsRewritten == 0)
        // Appends continue at the log end.
        let next = try log.append(Self.keyedBatch([("k0", "new")], timestampMs: Self.t0 + 1000), assignOffsets: true)
        #expect(next.firstOffset == endBefore)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func clean_neverTouchesTheActiveSegment_norSegmentsReachingTheUncleanableOffset(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        _ = try Self.writeUpdates(log, keys: 2, rounds: 30)
        let segments = log.internals.segmentSummaries
        #expect(segments.count >= 4)
        let limit = segments[2].nextOffset  // Segments 0-2 are cleanable.
        let untouched = Array(segments[3...])
        let before = try Self.records(log)
        let result = try LogCleaner.clean(log, config: Self.cleanAll, nowMs: Self.t0, firstUncleanableOffset: limit)
        #expect(result.segmentsExamined == 3)
        #expect(result.cleanedUpToOffset == limit)
        let after = try Self.records(log)
        #expect(after.filter { $0.offset >= limit }.map(\.offset) == before.filter { $0.offset >= limit }.map(\.offset))
        #expect(Array(log.internals.segmentSummaries[3...]).map(\.sizeBytes) == untouched.map(\.sizeBytes))
        // A log of one (active) segment has nothing to clean.
        let single = try harness.open(Self.small, partition: TopicPartition(topic: "single", partition: 0))
        _ = try Self.writeUpdates(single, keys: 1, rounds: 3)
        let skipped = try LogCleaner.clean(single, config: Self.cleanAll, nowMs: Self.t0)
        #expect(skipped.skippedReason != nil && skipped.segmentsExamined == 0)
        try single.close()
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func tombstones_stayUntilDeleteRetention_thenGo(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        _ = try Self.writeUpdates(log, keys: 3, rounds: 4)
        // Delete k1, then enough traffic on other keys to seal the tombstone's segment.
        // The tombstone shares its batch with a key never written again, so the batch (and the
        // segment's contiguity) never depends on keeping the tombstone.
        let tombstone = try log.append(Self.keyedBatch([("k1", nil), ("z", "stays")], timestampMs: Self.t0 + 100), assignOffsets: true)
        _ = try Self.writeUpdates(log, keys: 1, rounds: 20, startMs: Self.t0 + 200)
        #expect(log.internals.segmentSummaries.last.map { $0.baseOffset > tombstone.firstOffset } == true)

        let early = try LogCleaner.clean(log, config: Self.cleanAll, nowMs: Self.t0 + 1000, firstUncleanableOffset: log.logEndOffset)
        #expect(early.tombstonesRemoved == 0)
        var records = try Self.records(log)
        #expect(records.contains { $0.offset == tombstone.firstOffset && $0.key == "k1" && $0.value == nil })
        #expect(!records.contains { $0.key == "k1" && $0.value != nil }, "older values of a deleted key are gone")

        let late = try LogCleaner.clean(log, config: Self.cleanAll, nowMs: Self.t0 + 1000 + Self.cleanAll.deleteRetentionMs,
                                        firstUncleanableOffset: log.logEndOffset)
        records = try Self.records(log)
        #expect(late.tombstonesRemoved == 1)
        #expect(!records.contains { $0.key == "k1" })
        #expect(records.contains { $0.offset == tombstone.lastOffset && $0.key == "z" && $0.value == "stays" })
        Self.checkTiling(log)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func compressedBatches_areRewrittenWithTheirCodec(backend: Backend) throws {
        for codec in [CompressionCodec.gzip, .lz4, .zstd, .snappy] {
            let harness = try Harness(backend)
            let log = try harness.open(Self.small)
            let latest = try Self.writeUpdates(log, keys: 3, rounds: 10, compression: codec)
            _ = try LogCleaner.clean(log, config: Self.cleanAll, nowMs: Self.t0, firstUncleanableOffset: log.logEndOffset)
            for stored in try readAll(log) {
                let batch = try RecordBatch(ByteBuffer(bytes: stored.bytes))
                #expect(batch.header.attributes.compression == codec)
                try batch.validate()
            }
            var replayed: [String: String] = [:]
            for record in try Self.records(log) { if let key = record.key { replayed[key] = record.value } }
            #expect(replayed == latest.mapValues(\.value), "\(codec)")
            try log.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func producerBatches_keepTheirHeaders_andEmptiedOnesStayWhole(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        let idempotent = try log.append(Self.keyedBatch([("a", "1"), ("b", "1")], timestampMs: Self.t0, producerId: 7),
                                        assignOffsets: true)
        let mixed = try log.append(Self.keyedBatch([("a", "2"), ("c", "1")], timestampMs: Self.t0 + 10, producerId: 7),
                                   assignOffsets: true)
        _ = try log.append(Self.keyedBatch([("a", "3"), ("b", "2"), ("c", "2")], timestampMs: Self.t0 + 20), assignOffsets: true)
        _ = try Self.writeUpdates(log, keys: 1, rounds: 20, startMs: Self.t0 + 100)
        _ = try LogCleaner.clean(log, config: Self.cleanAll, nowMs: Self.t0, firstUncleanableOffset: log.logEndOffset)
        let stored = try readAll(log)
        let first = try #require(stored.first)
        #expect(first.baseOffset == idempotent.firstOffset && first.lastOffset == idempotent.lastOffset)
        let firstBatch = try RecordBatch(ByteBuffer(bytes: first.bytes))
        #expect(firstBatch.header.producerId == 7 && firstBatch.header.recordCount == 2, "an emptied producer batch stays whole")
        let second = try RecordBatch(ByteBuffer(bytes: stored[1].bytes))
        #expect(second.header.baseOffset == mixed.firstOffset && second.header.lastOffset == mixed.lastOffset)
        #expect(second.header.producerId == 7 && second.header.baseSequence == 0)
        #expect(second.header.recordCount == 2, "both a=2 and c=1 are superseded, but the batch keeps its last record")
        Self.checkTiling(log)
        try log.close()
    }

    @Test(arguments: Backend.durable)
    func cleanedLog_reopensWithTheSameRecords_andWithoutRecoveryTruncation(backend: Backend) throws {
        let harness = try Harness(backend)
        var log = try harness.open(Self.small)
        let latest = try Self.writeUpdates(log, keys: 4, rounds: 10)
        _ = try LogCleaner.clean(log, config: Self.cleanAll, nowMs: Self.t0, firstUncleanableOffset: log.logEndOffset)
        let cleaned = try Self.records(log)
        let end = log.logEndOffset
        try log.close()
        try harness.restartEngine()
        log = try harness.openFullRecovery(Self.small)
        #expect(log.recoveryReport.truncations.isEmpty)
        #expect(log.logEndOffset == end)
        let reopened = try Self.records(log)
        #expect(reopened.map(\.offset) == cleaned.map(\.offset))
        var replayed: [String: String] = [:]
        for record in reopened { if let key = record.key { replayed[key] = record.value } }
        #expect(replayed == latest.mapValues(\.value))
        Self.checkTiling(log)
        try log.close()
    }

    @Test(arguments: Backend.durable)
    func crashBeforeTheSwap_leavesTheOldSegment_andItsLeftoverIsRemoved(backend: Backend) throws {
        let harness = try Harness(backend)
        var log = try harness.open(Self.small)
        _ = try Self.writeUpdates(log, keys: 2, rounds: 10)
        let before = try Self.records(log)
        try log.close()
        // A cleaner that died after writing its temporary file.
        let first = try #require(try harness.segmentFiles().first)
        try writeFile(first + ".cleaned.tmp", [1, 2, 3])
        log = try harness.open(Self.small)
        #expect(try Self.records(log).map(\.offset) == before.map(\.offset))
        #expect(try FileSystem.list(harness.partitionPath).allSatisfy { !$0.hasSuffix(".tmp") })
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func dirtyRatio_belowTheMinimum_skipsThePass(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        _ = try Self.writeUpdates(log, keys: 2, rounds: 20)
        let first = try LogCleaner.clean(log, config: LogCleanerConfig(minCleanableDirtyRatio: 0.5), nowMs: Self.t0,
                                         firstUncleanableOffset: log.logEndOffset)
        #expect(first.segmentsExamined > 0)
        let second = try LogCleaner.clean(log, config: LogCleanerConfig(minCleanableDirtyRatio: 0.5), nowMs: Self.t0,
                                          firstUncleanableOffset: log.logEndOffset, firstDirtyOffset: first.cleanedUpToOffset)
        #expect(second.skippedReason != nil && second.segmentsExamined == 0)
        try log.close()
    }

    @Test func keylessRecords_areDropped_asKafkasCleanerDoes() throws {
        let harness = try Harness(.memory)
        let log = try harness.open(Self.small)
        _ = try log.append(Self.keyedBatch([("a", "1"), (nil, "orphan"), ("a", "2")], timestampMs: Self.t0), assignOffsets: true)
        _ = try Self.writeUpdates(log, keys: 1, rounds: 20, startMs: Self.t0 + 10)
        let result = try LogCleaner.clean(log, config: Self.cleanAll, nowMs: Self.t0, firstUncleanableOffset: log.logEndOffset)
        #expect(result.keylessRecordsRemoved == 1)
        let records = try Self.records(log)
        #expect(!records.contains { $0.key == nil })
        #expect(records.first.map { $0.offset == 2 && $0.value == "2" } == true)
        try log.close()
    }
}
