import NIOCore
import RivuletCore
import RivuletWire
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The settings of log compaction (`cleanup.policy=compact`), with Kafka's names and defaults.
public struct LogCleanerConfig: Sendable, Hashable {
    /// `delete.retention.ms`: how long a tombstone (a record with a null value) is kept after the
    /// newest record of its segment, so that a consumer reading from the start sees the delete.
    /// Default 1 day.
    public var deleteRetentionMs: Int64
    /// `min.cleanable.dirty.ratio`: clean only when the bytes not yet cleaned make up at least this
    /// share of the cleanable bytes. Default 0.5.
    public var minCleanableDirtyRatio: Double
    /// The most distinct keys one pass remembers (Kafka sizes this map with
    /// `log.cleaner.dedupe.buffer.size`); a pass that meets more stops at a segment boundary and
    /// leaves the rest for the next pass. Default 1,000,000.
    public var offsetMapKeysMax: Int

    /// Kafka's defaults.
    public init(deleteRetentionMs: Int64 = 86_400_000, minCleanableDirtyRatio: Double = 0.5, offsetMapKeysMax: Int = 1_000_000) {
        self.deleteRetentionMs = deleteRetentionMs
        self.minCleanableDirtyRatio = minCleanableDirtyRatio
        self.offsetMapKeysMax = offsetMapKeysMax
    }
}

/// What one cleaning pass did.
public struct LogCleaningResult: Sendable, Hashable {
    /// Sealed segments examined and segments rewritten.
    public var segmentsExamined = 0
    public var segmentsRewritten = 0
    /// Records dropped because a later record has the same key, tombstones dropped after
    /// `delete.retention.ms`, and records dropped for having no key (as Kafka's cleaner does).
    public var recordsRemoved = 0
    public var tombstonesRemoved = 0
    public var keylessRecordsRemoved = 0
    /// Bytes of the examined segments before and after.
    public var bytesBefore: Int64 = 0
    public var bytesAfter: Int64 = 0
    /// Offsets below this have been cleaned: pass it as `firstDirtyOffset` next time (Kafka's
    /// cleaner checkpoint). Equals the first dirty offset given when nothing was cleanable.
    public var cleanedUpToOffset: Int64 = 0
    /// Why the pass did nothing, if it did nothing on purpose (no sealed segment, dirty ratio low).
    public var skippedReason: String?

    public init() {}
}

/// Kafka's log cleaner for compacted topics: keeps the latest record per key in the sealed
/// segments of a log, preserving every offset that stays.
///
/// **What is cleaned.** Only sealed segments (never the active one), and only those wholly below
/// `firstUncleanableOffset` (pass the high watermark, so that nothing a follower or a transaction may
/// still change is touched). A pass first builds a map key -> latest offset over those segments,
/// then rewrites each segment that has something to drop:
/// - a record is kept when it is the latest for its key; a keyless record is dropped (Kafka drops
///   them as invalid in a compacted log);
/// - a tombstone that is the latest for its key is kept until its segment's newest timestamp is
///   `delete.retention.ms` old (Kafka's pre-KIP-534 delete horizon), then dropped;
/// - records keep their offsets, so a batch may now have gaps (its `lastOffsetDelta` stays).
///
/// **Offsets stay contiguous.** The log's invariants (segments tile the offsets; batches within a
/// segment follow each other; recovery checks both) hold after cleaning: a batch left empty is
/// merged into the batch before it (which then ends where the emptied batch ended), and when there
/// is no plain batch before it (the segment's first batch, or one after an idempotent batch) it
/// keeps its last record. So at most one superseded record per segment survives, which compaction
/// allows (it promises *at least* the latest value per key). Batches of idempotent or transactional
/// producers and control batches keep their headers (producer id, epoch, base sequence, offset
/// range) so producer state rebuilt from them is unchanged; one with nothing left is kept whole.
///
/// **Crash safety.** A durable segment is rewritten into `<base>.log.cleaned.tmp`, synced, and
/// renamed over the segment file (atomic), then its indexes are rebuilt and synced. A crash before
/// the rename leaves the old segment and a `.tmp` that opening the log removes; after it, the
/// cleaned segment, whose stale indexes recovery detects and rebuilds. A failure after the old
/// file was closed turns the log failed (reopen it).
///
/// **Isolation**: call it from the log's owner (the partition), like any `LogStore` method.
public enum LogCleaner {
    /// Cleans `log` once. Throws `.invalidArgument` for a log that is not one of this module's
    /// (every engine's logs are), `.logClosed`/`.logFailed`, `.corruptLog` for a batch that cannot
    /// be decoded (nothing is rewritten then), `.io` for file errors.
    public static func clean(_ log: any LogStore, config: LogCleanerConfig, nowMs: Int64,
                             firstUncleanableOffset: Int64? = nil, firstDirtyOffset: Int64 = 0) throws(StorageError) -> LogCleaningResult {
        guard let log = log as? SegmentedLog else { throw .invalidArgument("log compaction needs a log from a StorageEngine") }
        switch log.state {
        case .open: break
        case .closed: throw .logClosed(partition: "\(log.topicPartition)")
        case let .failed(reason): throw .logFailed(partition: "\(log.topicPartition)", reason: reason)
        }
        var result = LogCleaningResult()
        result.cleanedUpToOffset = firstDirtyOffset

        // Sealed segments wholly below the uncleanable offset.
        var cleanable = 0
        while cleanable < log.segments.count - 1 {
            let segment = log.segments[cleanable]
            if let limit = firstUncleanableOffset, segment.nextOffset > limit { break }
            cleanable += 1
        }
        guard cleanable > 0 else {
            result.skippedReason = "no sealed segment below the first uncleanable offset"
            return result
        }
        let totalBytes = log.segments[0 ..< cleanable].reduce(Int64(0)) { $0 + Int64($1.sizeBytes) }
        let dirtyBytes = log.segments[0 ..< cleanable].reduce(Int64(0)) { sum, segment in
            segment.nextOffset > firstDirtyOffset ? sum + Int64(segment.sizeBytes) : sum
        }
        let ratio = totalBytes > 0 ? Double(dirtyBytes) / Double(totalBytes) : 0
        guard dirtyBytes > 0, ratio >= config.minCleanableDirtyRatio else {
            result.skippedReason = "dirty ratio \(ratio) is below min.cleanable.dirty.ratio \(config.minCleanableDirtyRatio)"
            return result
        }

        // The offset map over the cleanable segments, stopping at a segment boundary when full.
        var map = OffsetMap()
        var covered = 0
        for index in 0 ..< cleanable {
            let segment = log.segments[index]
            var candidate = map
            try forEachBatch(in: segment, log: log) { (batch: RecordBatch) throws(StorageError) in
                guard !batch.header.attributes.isControl else { return }
                try forEachRecord(of: batch, segment: segment, log: log) { record in
                    if let key = record.key { candidate.update(key: key, offset: record.offset) }
                }
            }
            if covered > 0, candidate.count > config.offsetMapKeysMax { break }
            map = candidate
            covered += 1
            if map.count >= config.offsetMapKeysMax { break }
        }

        for index in 0 ..< covered {
            let segment = log.segments[index]
            result.segmentsExamined += 1
            result.bytesBefore += Int64(segment.sizeBytes)
            let tombstonesExpire = nowMs &- segment.largestTimestampMs > config.deleteRetentionMs
            let plan = try planSegment(segment, log: log, map: map, tombstonesExpire: tombstonesExpire, result: &result)
            if let plan {
                try rewrite(segment, at: index, log: log, batches: plan, nowMs: nowMs)
                result.segmentsRewritten += 1
            }
            result.bytesAfter += Int64(log.segments[index].sizeBytes)
            result.cleanedUpToOffset = max(result.cleanedUpToOffset, log.segments[index].nextOffset)
        }
        if result.segmentsRewritten > 0 {
            log.logger.info("cleaned log", metadata: [
                "segments": "\(result.segmentsRewritten)/\(result.segmentsExamined)", "recordsRemoved": "\(result.recordsRemoved)",
                "tombstonesRemoved": "\(result.tombstonesRemoved)", "bytesBefore": "\(result.bytesBefore)",
                "bytesAfter": "\(result.bytesAfter)",
            ])
        }
        return result
    }

    // MARK: Planning

    /// Key -> offset of its latest record. Keys are copied (the cleaner is not a hot path).
    struct OffsetMap {
        private var latest: [[UInt8]: Int64] = [:]
        var count: Int { latest.count }

        mutating func update(key: ByteBuffer, offset: Int64) {
            let bytes = Array(key.readableBytesView)
            if let known = latest[bytes], known >= offset { return }
            latest[bytes] = offset
        }

        func latestOffset(for key: ByteBuffer) -> Int64? { latest[Array(key.readableBytesView)] }
    }

    enum RecordFate: Equatable {
        case kept
        case superseded
        case expiredTombstone
        case keyless
    }

    /// One batch of a cleaned segment: its original bytes when unchanged, else what to encode.
    struct PlannedBatch {
        var source: RecordBatch
        var baseOffset: Int64
        var lastOffset: Int64
        var records: [Record]
        var changed: Bool
        /// Plain batches (no producer id, not transactional, not control) can absorb emptied ones.
        var plain: Bool
    }

    /// The batches a segment becomes, or nil when nothing in it can be dropped.
    static func planSegment(_ segment: LogSegment, log: SegmentedLog, map: OffsetMap, tombstonesExpire: Bool,
                            result: inout LogCleaningResult) throws(StorageError) -> [PlannedBatch]? {
        var planned: [PlannedBatch] = []
        var anyChange = false
        try forEachBatch(in: segment, log: log) { (batch: RecordBatch) throws(StorageError) in
            let header = batch.header
            let plain = header.producerId < 0 && !header.attributes.isTransactional && !header.attributes.isControl
            var records: [Record] = []
            var fates: [RecordFate] = []
            if !header.attributes.isControl {
                try forEachRecord(of: batch, segment: segment, log: log) { record in
                    records.append(record)
                    if let key = record.key {
                        if let latest = map.latestOffset(for: key), latest > record.offset {
                            fates.append(.superseded)
                        } else {
                            fates.append(record.valueLength < 0 && tombstonesExpire ? .expiredTombstone : .kept)
                        }
                    } else {
                        fates.append(.keyless)
                    }
                }
            }
            let keptCount = fates.count(where: { $0 == .kept })
            if header.attributes.isControl || records.isEmpty || keptCount == records.count || (!plain && keptCount == 0) {
                // Kept whole: nothing to drop, an empty or control batch, or a producer batch that
                // would be emptied.
                planned.append(PlannedBatch(source: batch, baseOffset: header.baseOffset, lastOffset: header.lastOffset,
                                            records: records, changed: false, plain: plain))
                return
            }
            if keptCount == 0, let last = planned.last, last.plain {
                // Merge the emptied batch's offsets into the plain batch before it.
                planned[planned.count - 1].lastOffset = header.lastOffset
                planned[planned.count - 1].changed = true
            } else {
                if keptCount == 0 {
                    // Nothing to merge into: keep the last record so the offsets stay contiguous.
                    fates[fates.count - 1] = .kept
                }
                let retained = zip(records, fates).compactMap { $1 == .kept ? $0 : nil }
                let changed = retained.count != records.count
                planned.append(PlannedBatch(source: batch, baseOffset: header.baseOffset, lastOffset: header.lastOffset,
                                            records: changed ? retained : records, changed: changed, plain: plain))
                if !changed { return }
            }
            let removed = (superseded: fates.count(where: { $0 == .superseded }), tombstones: fates.count(where: { $0 == .expiredTombstone }),
                           keyless: fates.count(where: { $0 == .keyless }))
            result.recordsRemoved += removed.superseded
            result.tombstonesRemoved += removed.tombstones
            result.keylessRecordsRemoved += removed.keyless
            anyChange = true
        }
        return anyChange ? planned : nil
    }

    // MARK: Encoding

    /// The bytes of a planned batch: the source's when unchanged, else a new batch with the same
    /// attributes and producer fields, the planned offset range and the retained records.
    static func encode(_ plan: PlannedBatch, context: CompressionContext) throws(StorageError) -> ByteBuffer {
        guard plan.changed else { return plan.source.buffer }
        let source = plan.source.header
        guard let codec = source.attributes.compression else {
            throw .invalidBatch(.invalidHeader(position: 0, reason: "reserved compression codec"))
        }
        let logAppendTime = source.attributes.isLogAppendTime
        var baseTimestamp = source.baseTimestamp
        var maxTimestamp = source.maxTimestamp
        if !logAppendTime {
            baseTimestamp = plan.records.first?.timestampMs ?? source.baseTimestamp
            maxTimestamp = plan.records.map(\.timestampMs).max() ?? source.maxTimestamp
        }
        var records = ByteBuffer()
        for record in plan.records {
            let timestampDelta = logAppendTime ? 0 : record.timestampMs &- baseTimestamp
            writeRecord(record, offsetDelta: Int32(truncatingIfNeeded: record.offset - plan.baseOffset),
                        timestampDelta: timestampDelta, into: &records)
        }
        var batch = ByteBuffer()
        batch.reserveCapacity(RecordBatchLayout.headerSize + records.readableBytes)
        let header = RecordBatchHeader(baseOffset: plan.baseOffset, batchLength: 0, partitionLeaderEpoch: source.partitionLeaderEpoch,
                                       attributes: source.attributes,
                                       lastOffsetDelta: Int32(truncatingIfNeeded: plan.lastOffset - plan.baseOffset),
                                       baseTimestamp: baseTimestamp, maxTimestamp: maxTimestamp, producerId: source.producerId,
                                       producerEpoch: source.producerEpoch, baseSequence: source.baseSequence,
                                       recordCount: Int32(plan.records.count))
        header.write(to: &batch)
        codec.compress(records, into: &batch, context: context)
        let start = batch.readerIndex
        batch.setInteger(Int32(batch.readableBytes - RecordBatchLayout.logOverhead), at: start + RecordBatchLayout.batchLength)
        let crc = CRC32C.checksum(batch, at: start + RecordBatchLayout.crcCoverageStart,
                                  length: batch.readableBytes - RecordBatchLayout.crcCoverageStart)
        batch.setInteger(crc, at: start + RecordBatchLayout.crc)
        return batch
    }

    /// One record in Kafka's v2 layout (DefaultRecord.java).
    static func writeRecord(_ record: Record, offsetDelta: Int32, timestampDelta: Int64, into buffer: inout ByteBuffer) {
        var body = ByteBuffer()
        body.writeInteger(record.attributes)
        body.writeVarlong(timestampDelta)
        body.writeVarint(offsetDelta)
        writeVarBytes(record.key, into: &body)
        writeVarBytes(record.value, into: &body)
        body.writeVarint(Int32(truncatingIfNeeded: record.headerCount))
        for header in record.headers {
            writeVarBytes(header.keyBytes, into: &body)
            writeVarBytes(header.value, into: &body)
        }
        buffer.writeVarint(Int32(truncatingIfNeeded: body.readableBytes))
        buffer.writeImmutableBuffer(body)
    }

    private static func writeVarBytes(_ bytes: ByteBuffer?, into buffer: inout ByteBuffer) {
        guard let bytes else {
            buffer.writeVarint(-1)
            return
        }
        buffer.writeVarint(Int32(truncatingIfNeeded: bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
    }

    // MARK: Reading

    static func forEachBatch(in segment: LogSegment, log: SegmentedLog,
                             _ body: (RecordBatch) throws(StorageError) -> Void) throws(StorageError) {
        var position = 0
        while position < segment.sizeBytes {
            guard let header = try segment.storage.header(at: position), header.storageProblem == nil,
                  header.totalSize <= segment.sizeBytes - position
            else {
                throw .corruptLog(partition: "\(log.topicPartition)", segmentBaseOffset: segment.baseOffset, position: position,
                                  reason: "unreadable batch header during cleaning")
            }
            let bytes = try segment.storage.read(at: position, count: header.totalSize)
            let batch: RecordBatch
            do throws(RecordBatchError) {
                batch = try RecordBatch(bytes)
            } catch {
                throw .corruptLog(partition: "\(log.topicPartition)", segmentBaseOffset: segment.baseOffset, position: position,
                                  reason: error.description)
            }
            try body(batch)
            position += header.totalSize
        }
    }

    static func forEachRecord(of batch: RecordBatch, segment: LogSegment, log: SegmentedLog,
                              _ body: (Record) -> Void) throws(StorageError) {
        do throws(RecordBatchError) {
            var iterator = try batch.makeRecordIterator(verifyChecksum: true)
            while let record = try iterator.next() { body(record) }
        } catch {
            throw .corruptLog(partition: "\(log.topicPartition)", segmentBaseOffset: segment.baseOffset, position: 0,
                              reason: "batch at offset \(batch.header.baseOffset): \(error)")
        }
    }

    // MARK: Replacing a segment

    static func rewrite(_ segment: LogSegment, at index: Int, log: SegmentedLog, batches: [PlannedBatch],
                        nowMs: Int64) throws(StorageError) {
        let context = CompressionContext()
        var encoded: [ByteBuffer] = []
        encoded.reserveCapacity(batches.count)
        for plan in batches { encoded.append(try encode(plan, context: context)) }
        let storage: any SegmentStorage
        if let durable = log.backend as? any DurableLogBackend {
            storage = try replaceDurable(segment, backend: durable, log: log, with: encoded)
        } else {
            let fresh = try log.backend.createSegment(baseOffset: segment.baseOffset,
                                                      capacityBytes: encoded.reduce(0) { $0 + $1.readableBytes }, nowMs: nowMs)
            for batch in encoded {
                let base = batch.getInteger(at: batch.readerIndex, as: Int64.self) ?? segment.baseOffset
                try fresh.append(batch, stampingBaseOffset: base, partitionLeaderEpoch: nil)
            }
            try fresh.seal()
            storage = fresh
        }
        let cleaned = LogSegment(baseOffset: segment.baseOffset, storage: storage, nowMs: nowMs)
        cleaned.createdMs = segment.createdMs
        cleaned.lastModifiedMs = segment.lastModifiedMs
        cleaned.isSealed = true
        do throws(StorageError) {
            cleaned.resetForWalkFromStart()
            let walk = try walkSegment(cleaned, from: 0, expectedBaseOffset: segment.baseOffset, verifyChecksums: true,
                                       indexIntervalBytes: log.config.indexIntervalBytes)
            if let problem = walk.problem {
                throw StorageError.corruptLog(partition: "\(log.topicPartition)", segmentBaseOffset: segment.baseOffset,
                                              position: walk.validEnd, reason: "cleaned segment: \(problem)")
            }
            guard cleaned.nextOffset == segment.nextOffset else {
                throw StorageError.corruptLog(partition: "\(log.topicPartition)", segmentBaseOffset: segment.baseOffset, position: 0,
                                              reason: "cleaned segment ends at \(cleaned.nextOffset), not \(segment.nextOffset)")
            }
            cleaned.appendFinalTimeIndexEntry()
            try storage.persistIndexes(offsetIndex: &cleaned.offsetIndex, timeIndex: &cleaned.timeIndex)
            try storage.syncIndexes(log.config.flushSyscall)
            cleaned.indexFilesSynced = true
            cleaned.syncedBytes = cleaned.sizeBytes
        } catch {
            log.markFailed("cleaning segment \(segment.baseOffset) failed after the swap: \(error)")
            throw error
        }
        log.replaceSealedSegment(at: index, with: cleaned)
        if !(log.backend is any DurableLogBackend) { try segment.storage.delete() }
    }

    /// Writes `batches` to `<base>.log.cleaned.tmp`, syncs it, closes the old segment and renames the
    /// new file over it; returns the reopened (sealed) segment storage.
    static func replaceDurable(_ segment: LogSegment, backend: any DurableLogBackend, log: SegmentedLog,
                               with batches: [ByteBuffer]) throws(StorageError) -> any SegmentStorage {
        let directory = backend.directory.path
        let finalPath = FileSystem.join(directory, FileSystem.segmentFileName(baseOffset: segment.baseOffset, suffix: FileSystem.logSuffix))
        let temporaryPath = finalPath + ".cleaned.tmp"
        let fd = try FileSystem.openFile(temporaryPath, .readWrite, options: [.create, .truncate])
        do throws(StorageError) {
            var position = 0
            for batch in batches {
                try batch.withUnsafeReadableBytes { (bytes: UnsafeRawBufferPointer) throws(StorageError) in
                    try FileSystem.writeAll(fd, at: position, bytes, path: temporaryPath)
                }
                position += batch.readableBytes
            }
            try FileSystem.sync(fd, log.config.flushSyscall, path: temporaryPath)
            try FileSystem.io("close", temporaryPath) { try fd.close() }
        } catch {
            try? fd.close()
            try? FileSystem.removeFile(temporaryPath)
            throw error
        }
        do throws(StorageError) {
            try segment.storage.close()
            try FileSystem.renameItem(temporaryPath, to: finalPath)
            try backend.syncDirectory()
            return try backend.openSegment(baseOffset: segment.baseOffset)
        } catch {
            log.markFailed("cleaning segment \(segment.baseOffset) failed during the swap: \(error)")
            throw error
        }
    }
}
