import Logging
import NIOCore
import RivuletCore
import RivuletWire

/// Counters of what a log did, for tests and benchmarks.
struct LogStatistics: Sendable {
    /// Flushes (explicit, by policy, on close).
    var flushes = 0
    /// Data syncs issued, by system call (memory counts the syncs it would issue).
    var dataSyncs: [FlushSyscall: Int] = [:]
    /// Segments rolled.
    var rolls = 0
    /// Indexes rebuilt because an entry did not match the bytes.
    var indexRebuilds = 0
}

/// The one implementation of `LogStore`: segments, indexes, rolling, retention, flushing and reads,
/// over any backend's segment bytes. The backends differ only in `SegmentStorage` and `LogBackend`,
/// so memory, file and mmap logs roll, index, retain and answer identically.
///
/// Invariants: `segments` is never empty, its last element is the active segment, segments are
/// contiguous (`segments[i].nextOffset == segments[i + 1].baseOffset`), and every segment but the
/// active one is sealed. `recoveryPoint <= logEndOffset`.
final class SegmentedLog: LogStore {
    typealias Segment = LogSegment

    enum State {
        case open
        case closed
        case failed(String)
    }

    let topicPartition: TopicPartition
    let config: LogConfig
    let backend: any LogBackend
    let clock: any EngineClock
    let logger: Logger
    let recoveryReport: RecoveryReport

    private(set) var segments: [Segment]
    private(set) var logStartOffset: Int64
    private(set) var recoveryPoint: Int64
    private(set) var sizeBytes: Int64
    private(set) var state: State = .open
    var statistics = LogStatistics()
    private var lastFlushMs: Int64
    private var lastCheckpointMs: Int64
    private var directoryNeedsSync = false

    /// Wraps segments that are already consistent (new, adopted from memory, or recovered).
    init(topicPartition: TopicPartition, config: LogConfig, backend: any LogBackend, clock: any EngineClock, logger: Logger,
         segments: [Segment], logStartOffset: Int64, recoveryPoint: Int64, recoveryReport: RecoveryReport) {
        precondition(!segments.isEmpty, "a log has at least its active segment")
        self.topicPartition = topicPartition
        self.config = config
        self.backend = backend
        self.clock = clock
        var logger = logger
        logger[metadataKey: "partition"] = "\(topicPartition)"
        self.logger = logger
        self.segments = segments
        self.logStartOffset = logStartOffset
        self.recoveryPoint = recoveryPoint
        self.recoveryReport = recoveryReport
        sizeBytes = segments.reduce(0) { $0 + Int64($1.sizeBytes) }
        let now = clock.wallMilliseconds()
        lastFlushMs = now
        lastCheckpointMs = now
    }

    deinit {
        if case .closed = state { return }
        // Dropped without close: release files like a crash would (no flush, no checkpoint).
        for segment in segments { segment.storage.abandon() }
        backend.didClose(segments: segments, logStartOffset: logStartOffset)
    }

    // MARK: Offsets

    /// The segment taking appends. Only used while the log is open, when `segments` is not empty.
    var active: Segment { segments[segments.count - 1] }
    var logEndOffset: Int64 { segments.last?.nextOffset ?? logStartOffset }

    // MARK: Append

    func append(_ batch: RecordBatch, assignOffsets: Bool, partitionLeaderEpoch: Int32?,
                checksumVerified: Bool) throws(StorageError) -> LogAppendInfo {
        try checkWritable()
        let baseOffset = try validate(batch, assignOffsets: assignOffsets, expectedBaseOffset: logEndOffset,
                                      checksumVerified: checksumVerified)
        let now = clock.wallMilliseconds()
        var info = try appendValidated(batch, baseOffset: baseOffset, partitionLeaderEpoch: partitionLeaderEpoch, nowMs: now)
        info.isFlushed = try maybeFlush(nowMs: now)
        info.logEndOffset = logEndOffset
        return info
    }

    func append(records: ByteBuffer, assignOffsets: Bool) throws(StorageError) -> LogAppendInfo {
        try checkWritable()
        // Validate every batch before writing any.
        var expected = logEndOffset
        var count = 0
        var iterator = RecordBatchSequence(records, mode: .strict).makeIterator()
        while let batch = iterator.next() {
            let baseOffset = try validate(batch, assignOffsets: assignOffsets, expectedBaseOffset: expected)
            expected = baseOffset + Int64(batch.header.lastOffsetDelta) + 1
            count += 1
        }
        if let failure = iterator.failure { throw .invalidBatch(failure) }
        guard count > 0 else { throw .invalidArgument("records holds no batch") }

        let now = clock.wallMilliseconds()
        var info: LogAppendInfo?
        iterator = RecordBatchSequence(records, mode: .strict).makeIterator()
        while let batch = iterator.next() {
            let baseOffset = assignOffsets ? logEndOffset : batch.header.baseOffset
            let one = try appendValidated(batch, baseOffset: baseOffset, partitionLeaderEpoch: nil, nowMs: now)
            if var combined = info {
                combined.lastOffset = one.lastOffset
                if one.maxTimestampMs > combined.maxTimestampMs {
                    combined.maxTimestampMs = one.maxTimestampMs
                    combined.offsetOfMaxTimestamp = one.offsetOfMaxTimestamp
                }
                combined.recordCount += one.recordCount
                combined.batchCount += 1
                combined.sizeBytes += one.sizeBytes
                info = combined
            } else {
                info = one
            }
        }
        guard var result = info else { throw .invalidArgument("records holds no batch") }
        result.isFlushed = try maybeFlush(nowMs: now)
        result.logEndOffset = logEndOffset
        result.logStartOffset = logStartOffset
        return result
    }

    /// Checks a batch before anything is written and returns the base offset it will be stored with.
    /// `checksumVerified`: the caller has just checked the CRC, so only the header is checked here.
    private func validate(_ batch: RecordBatch, assignOffsets: Bool, expectedBaseOffset: Int64,
                          checksumVerified: Bool = false) throws(StorageError) -> Int64 {
        let size = batch.buffer.readableBytes
        guard size <= config.maxMessageBytes else { throw .batchTooLarge(sizeBytes: size, limitBytes: config.maxMessageBytes) }
        if checksumVerified {
            let header = batch.header
            let position = batch.buffer.readerIndex
            guard header.attributes.compression != nil else {
                throw .invalidBatch(.invalidHeader(position: position, reason: "reserved compression codec \(header.attributes.rawValue & 7)"))
            }
            guard header.recordCount >= 0, header.lastOffsetDelta >= 0 else {
                throw .invalidBatch(.invalidHeader(position: position, reason: "negative record count or last offset delta"))
            }
        } else {
            do throws(RecordBatchError) {
                try batch.validate()
            } catch {
                throw .invalidBatch(error)
            }
        }
        let baseOffset = assignOffsets ? expectedBaseOffset : batch.header.baseOffset
        if !assignOffsets, baseOffset != expectedBaseOffset {
            throw .unexpectedBaseOffset(expected: expectedBaseOffset, actual: baseOffset)
        }
        guard baseOffset <= Int64.max - Int64(batch.header.lastOffsetDelta) - 1 else {
            throw .invalidArgument("offsets of a batch at \(baseOffset) would overflow")
        }
        return baseOffset
    }

    private func appendValidated(_ batch: RecordBatch, baseOffset: Int64, partitionLeaderEpoch: Int32?,
                                 nowMs: Int64) throws(StorageError) -> LogAppendInfo {
        var header = batch.header
        header.baseOffset = baseOffset
        if let partitionLeaderEpoch { header.partitionLeaderEpoch = partitionLeaderEpoch }
        let size = header.totalSize
        try maybeRoll(for: header, sizeBytes: size, nowMs: nowMs)
        let segment = active
        let position = segment.sizeBytes
        do throws(StorageError) {
            try segment.storage.append(batch.buffer, stampingBaseOffset: baseOffset, partitionLeaderEpoch: partitionLeaderEpoch)
        } catch {
            // Put the segment back as it was; if even that fails, the log's state is unknown.
            do throws(StorageError) {
                try segment.storage.truncate(toSizeBytes: position)
            } catch let undo {
                state = .failed("append failed (\(error)) and could not be undone (\(undo))")
            }
            throw error
        }
        segment.account(position: position, header: header, indexIntervalBytes: config.indexIntervalBytes)
        segment.lastModifiedMs = nowMs
        sizeBytes += Int64(size)
        return LogAppendInfo(firstOffset: baseOffset, lastOffset: header.lastOffset, maxTimestampMs: header.maxTimestamp,
                             offsetOfMaxTimestamp: header.maxTimestamp >= 0 ? header.lastOffset : -1,
                             recordCount: Int(header.recordCount), batchCount: 1, sizeBytes: size,
                             segmentBaseOffset: segment.baseOffset, position: position, logStartOffset: logStartOffset,
                             logEndOffset: header.lastOffset + 1, isFlushed: false)
    }

    // MARK: Rolling

    /// Kafka's `LogSegment.shouldRoll`: the batch would overflow `segment.bytes`, `segment.ms` has
    /// passed since the first batch, an index is full, or relative offsets would overflow.
    private func maybeRoll(for header: RecordBatchHeader, sizeBytes: Int, nowMs: Int64) throws(StorageError) {
        let segment = active
        guard !segment.isEmpty else { return }
        let full = segment.sizeBytes > config.segmentBytes - sizeBytes
        let waitedMs: Int64
        if let first = segment.firstBatchMaxTimestampMs, first >= 0 {
            waitedMs = header.maxTimestamp &- first
        } else {
            waitedMs = nowMs &- segment.createdMs
        }
        let tooOld = waitedMs > config.segmentMs
        let indexFull = segment.offsetIndex.count >= config.offsetIndexEntriesMax
            || segment.timeIndex.count >= config.timeIndexEntriesMax
        let offsetsOverflow = !segment.canHold(lastOffset: header.lastOffset)
        if full || tooOld || indexFull || offsetsOverflow {
            try roll(nowMs: nowMs, capacityBytes: max(config.segmentBytes, sizeBytes))
        }
    }

    /// Seals the active segment and starts a new one at the log end offset. The sealed segment is
    /// made durable by the next flush (`flushIfDue` does it without waiting for `flush.ms`).
    private func roll(nowMs: Int64, capacityBytes: Int) throws(StorageError) {
        let old = active
        let newBase = logEndOffset
        try failOnError { () throws(StorageError) in
            try seal(old)
            try old.storage.persistIndexes(offsetIndex: &old.offsetIndex, timeIndex: &old.timeIndex)
            let storage = try backend.createSegment(baseOffset: newBase, capacityBytes: capacityBytes, nowMs: nowMs)
            segments.append(Segment(baseOffset: newBase, storage: storage, nowMs: nowMs))
        }
        directoryNeedsSync = true
        statistics.rolls += 1
        logger.debug("rolled segment", metadata: ["segment": "\(newBase)", "previous": "\(old.baseOffset)",
                                                  "previousBytes": "\(old.sizeBytes)"])
    }

    private func seal(_ segment: Segment) throws(StorageError) {
        guard !segment.isSealed else { return }
        segment.appendFinalTimeIndexEntry()
        try segment.storage.seal()
        segment.isSealed = true
        segment.indexFilesSynced = false
    }

    // MARK: Read

    func read(from offset: Int64, maxBytes: Int, maxOffset: Int64?) throws(StorageError) -> LogReadResult {
        try checkReadable()
        guard maxBytes >= 0 else { throw .invalidArgument("maxBytes \(maxBytes) is negative") }
        let end = logEndOffset
        guard offset >= logStartOffset, offset <= end else {
            throw .offsetOutOfRange(requested: offset, logStart: logStartOffset, logEnd: end)
        }
        var empty: LogReadResult {
            LogReadResult(records: ByteBuffer(), batchCount: 0, firstOffset: nil, nextOffset: offset,
                          logStartOffset: logStartOffset, logEndOffset: end)
        }
        if offset == end { return empty }
        if let maxOffset, offset >= maxOffset { return empty }

        let segment = segments[segmentIndex(containing: offset)]
        guard let (start, first) = try locate(offset, in: segment) else { return empty }
        let limit = segment.sizeBytes
        var header = first
        var position = start
        var count = 0
        var nextOffset = offset
        while true {
            if let maxOffset, header.lastOffset >= maxOffset { break }
            let size = header.totalSize
            if count > 0, position - start + size > maxBytes { break }
            position += size
            count += 1
            nextOffset = header.lastOffset + 1
            if position - start >= maxBytes || position >= limit { break }
            guard let next = try storedHeader(at: position, in: segment, strict: false) else { break }
            header = next
        }
        guard count > 0 else { return empty }
        let records = try segment.storage.read(at: start, count: position - start)
        return LogReadResult(records: records, batchCount: count, firstOffset: first.baseOffset, nextOffset: nextOffset,
                             logStartOffset: logStartOffset, logEndOffset: end)
    }

    /// The index of the segment whose range holds `offset` (the last one starting at or before it).
    func segmentIndex(containing offset: Int64) -> Int {
        var low = 0
        var high = segments.count
        while low < high {
            let middle = (low + high) / 2
            if segments[middle].baseOffset <= offset { low = middle + 1 } else { high = middle }
        }
        return max(0, low - 1)
    }

    /// The stored header at `position`, checked (magic, length, within the segment). A bad header is
    /// `.corruptLog` when `strict`, else nil (the caller stops there; the next read reports it).
    private func storedHeader(at position: Int, in segment: Segment, strict: Bool) throws(StorageError) -> RecordBatchHeader? {
        let header = try segment.storage.header(at: position)
        if let header, header.storageProblem == nil, header.totalSize <= segment.sizeBytes - position,
           header.baseOffset >= segment.baseOffset {
            return header
        }
        guard strict else { return nil }
        let reason = header.map { $0.storageProblem?.description ?? "batch of \($0.totalSize) bytes overruns the segment" }
            ?? "fewer than \(RecordBatchLayout.headerSize) bytes"
        throw .corruptLog(partition: "\(topicPartition)", segmentBaseOffset: segment.baseOffset, position: position, reason: reason)
    }

    /// The position and header of the first batch in `segment` whose last offset is at least `offset`,
    /// or nil when the segment ends first. Starts from the offset index entry for `offset`, after
    /// checking that the entry matches the bytes; a mismatch rebuilds the segment's indexes.
    func locate(_ offset: Int64, in segment: Segment) throws(StorageError) -> (Int, RecordBatchHeader)? {
        var start = 0
        if let entry = segment.offsetIndex.lookup(relativeOffset: offset - segment.baseOffset) {
            if try entryMatches(entry, in: segment) {
                start = Int(entry.position)
            } else {
                try rebuildIndexes(segment, reason: "offset index entry \(entry) does not match the batch there")
                if let rebuilt = segment.offsetIndex.lookup(relativeOffset: offset - segment.baseOffset) {
                    start = Int(rebuilt.position)
                }
            }
        }
        var position = start
        while position < segment.sizeBytes {
            guard let header = try storedHeader(at: position, in: segment, strict: true) else { return nil }
            if header.lastOffset >= offset { return (position, header) }
            position += header.totalSize
        }
        return nil
    }

    /// Whether an offset index entry points at the start of a batch ending at the entry's offset.
    func entryMatches(_ entry: OffsetIndexEntry, in segment: Segment) throws(StorageError) -> Bool {
        let position = Int(entry.position)
        guard position < segment.sizeBytes, let header = try segment.storage.header(at: position) else { return false }
        return header.storageProblem == nil && header.lastOffset == segment.baseOffset + Int64(entry.relativeOffset)
            && header.totalSize <= segment.sizeBytes - position
    }

    /// Rebuilds a segment's indexes from its batches (headers only: the bytes were checked when they
    /// were appended or recovered), after an index entry was found not to match them.
    func rebuildIndexes(_ segment: Segment, reason: String) throws(StorageError) {
        logger.warning("rebuilding segment indexes", metadata: ["segment": "\(segment.baseOffset)", "reason": "\(reason)"])
        segment.resetForWalkFromStart()
        let walk = try walkSegment(segment, from: 0, expectedBaseOffset: segment.baseOffset, verifyChecksums: false,
                                   indexIntervalBytes: config.indexIntervalBytes)
        if segment.isSealed { segment.appendFinalTimeIndexEntry() }
        segment.indexFilesSynced = false
        statistics.indexRebuilds += 1
        if let problem = walk.problem {
            throw .corruptLog(partition: "\(topicPartition)", segmentBaseOffset: segment.baseOffset, position: walk.validEnd,
                              reason: problem.description)
        }
    }

    // MARK: Truncation and deletion

    @discardableResult
    func truncate(to offset: Int64) throws(StorageError) -> Int64 {
        try checkWritable()
        guard offset < logEndOffset else { return logEndOffset }
        let now = clock.wallMilliseconds()
        if offset <= logStartOffset {
            try truncateFully(startingAt: max(0, offset), nowMs: now)
        } else {
            try failOnError { () throws(StorageError) in
                while segments.count > 1, active.baseOffset > offset {
                    try deleteSegment(at: segments.count - 1)
                }
                let segment = active
                if let (position, _) = try locate(offset, in: segment) {
                    try cut(segment, at: position)
                }
                if segment.isSealed {
                    try segment.storage.reactivate(capacityBytes: max(config.segmentBytes, segment.sizeBytes))
                    segment.isSealed = false
                }
                // A batch holding the cut may have started below the log start offset.
                logStartOffset = min(logStartOffset, logEndOffset)
                try flushAll(nowMs: now, forceCheckpoint: true)
            }
        }
        logger.info("truncated log", metadata: ["offset": "\(offset)", "logEndOffset": "\(logEndOffset)"])
        return logEndOffset
    }

    /// Cuts `segment` at `position` and recomputes its state from its remaining index entries.
    private func cut(_ segment: Segment, at position: Int) throws(StorageError) {
        let before = segment.sizeBytes
        try segment.storage.truncate(toSizeBytes: position)
        sizeBytes -= Int64(before - position)
        segment.syncedBytes = min(segment.syncedBytes, position)
        segment.offsetIndex.truncate(toPosition: position)
        if let last = segment.offsetIndex.last, try !entryMatches(last, in: segment) {
            segment.offsetIndex.removeAll()
        }
        if segment.offsetIndex.count > 0 {
            let entryIndex = segment.offsetIndex.count - 1
            var first: Int64?
            if position > 0 { first = try segment.storage.header(at: 0)?.maxTimestamp }
            segment.resetForWalk(fromEntry: entryIndex, firstBatchMaxTimestampMs: first)
            let walk = try walkSegment(segment, from: Int(segment.offsetIndex.entries[entryIndex].position), expectedBaseOffset: nil,
                                       verifyChecksums: false, indexIntervalBytes: config.indexIntervalBytes)
            if walk.problem != nil || walk.validEnd != position {
                try rebuildIndexes(segment, reason: "state after truncation did not match the bytes")
            }
        } else {
            segment.resetForWalkFromStart()
            let walk = try walkSegment(segment, from: 0, expectedBaseOffset: segment.baseOffset, verifyChecksums: false,
                                       indexIntervalBytes: config.indexIntervalBytes)
            if let problem = walk.problem {
                throw .corruptLog(partition: "\(topicPartition)", segmentBaseOffset: segment.baseOffset,
                                  position: walk.validEnd, reason: problem.description)
            }
        }
        if segment.isEmpty { segment.createdMs = clock.wallMilliseconds() }
    }

    /// Deletes every segment and starts an empty log at `offset` (Kafka's `truncateFullyAndStartAt`).
    private func truncateFully(startingAt offset: Int64, nowMs: Int64) throws(StorageError) {
        try failOnError { () throws(StorageError) in
            while !segments.isEmpty {
                let segment = segments.removeLast()
                sizeBytes -= Int64(segment.sizeBytes)
                try segment.storage.delete()
            }
            let storage = try backend.createSegment(baseOffset: offset, capacityBytes: config.segmentBytes, nowMs: nowMs)
            segments = [Segment(baseOffset: offset, storage: storage, nowMs: nowMs)]
            directoryNeedsSync = true
            logStartOffset = offset
            recoveryPoint = offset
            try flushAll(nowMs: nowMs, forceCheckpoint: true)
        }
    }

    func truncateFullyAndStartAt(_ offset: Int64) throws(StorageError) {
        try checkWritable()
        guard offset >= 0 else { throw .offsetOutOfRange(requested: offset, logStart: logStartOffset, logEnd: logEndOffset) }
        let previousEnd = logEndOffset
        try truncateFully(startingAt: offset, nowMs: clock.wallMilliseconds())
        logger.info("truncated the whole log and restarted it", metadata: ["offset": "\(offset)", "previousLogEndOffset": "\(previousEnd)"])
    }

    @discardableResult
    func deleteRecords(before offset: Int64) throws(StorageError) -> Int64 {
        try checkWritable()
        guard offset <= logEndOffset else {
            throw .offsetOutOfRange(requested: offset, logStart: logStartOffset, logEnd: logEndOffset)
        }
        guard offset > logStartOffset else { return logStartOffset }
        logStartOffset = offset
        var deleted: [DeletedSegment] = []
        try deleteOldestSegments(reason: .logStartOffset, highWatermark: nil, into: &deleted) { _, next in
            next.baseOffset <= offset
        }
        try failOnError { () throws(StorageError) in try writeCheckpoint(clean: false, nowMs: clock.wallMilliseconds()) }
        return logStartOffset
    }

    func enforceRetention(nowMs: Int64, highWatermark: Int64?) throws(StorageError) -> RetentionResult {
        try checkWritable()
        var deleted: [DeletedSegment] = []
        if config.retentionMs >= 0 {
            let retentionMs = config.retentionMs
            try deleteOldestSegments(reason: .retentionMs, highWatermark: highWatermark, into: &deleted) { segment, _ in
                nowMs &- segment.largestTimestampMs > retentionMs
            }
        }
        if config.retentionBytes >= 0 {
            var excess = sizeBytes - config.retentionBytes
            try deleteOldestSegments(reason: .retentionBytes, highWatermark: highWatermark, into: &deleted) { segment, _ in
                guard excess - Int64(segment.sizeBytes) >= 0 else { return false }
                excess -= Int64(segment.sizeBytes)
                return true
            }
        }
        let logStart = logStartOffset
        try deleteOldestSegments(reason: .logStartOffset, highWatermark: highWatermark, into: &deleted) { _, next in
            next.baseOffset <= logStart
        }
        if !deleted.isEmpty {
            logger.info("retention deleted segments", metadata: [
                "segments": "\(deleted.map(\.baseOffset))", "bytes": "\(deleted.reduce(0) { $0 + $1.sizeBytes })",
                "logStartOffset": "\(logStartOffset)",
            ])
        }
        return RetentionResult(deletedSegments: deleted, logStartOffset: logStartOffset)
    }

    /// Deletes segments from the oldest while `predicate(segment, nextSegment)` holds, never the
    /// active one, nor one reaching `highWatermark`. Advances the log start offset.
    private func deleteOldestSegments(reason: RetentionReason, highWatermark: Int64?, into deleted: inout [DeletedSegment],
                                      while predicate: (Segment, Segment) -> Bool) throws(StorageError) {
        while segments.count > 1 {
            let segment = segments[0]
            let next = segments[1]
            if let highWatermark, next.baseOffset > highWatermark { break }
            guard predicate(segment, next) else { break }
            // Described before the delete: a deleted segment's storage reports 0 bytes.
            let described = DeletedSegment(baseOffset: segment.baseOffset, nextOffset: segment.nextOffset,
                                           sizeBytes: segment.sizeBytes, reason: reason)
            try failOnError { () throws(StorageError) in try deleteSegment(at: 0) }
            deleted.append(described)
        }
        if let first = segments.first {
            logStartOffset = max(logStartOffset, first.baseOffset)
            recoveryPoint = max(recoveryPoint, min(first.baseOffset, logEndOffset))
        }
    }

    private func deleteSegment(at index: Int) throws(StorageError) {
        let segment = segments.remove(at: index)
        sizeBytes -= Int64(segment.sizeBytes)
        directoryNeedsSync = true
        try segment.storage.delete()
    }

    // MARK: Timestamps

    func offset(forTimestamp timestampMs: Int64) throws(StorageError) -> TimestampAndOffset? {
        try checkReadable()
        switch timestampMs {
        case TimestampAndOffset.Special.earliestTimestamp:
            return TimestampAndOffset(timestampMs: -1, offset: logStartOffset)
        case TimestampAndOffset.Special.latestTimestamp:
            return TimestampAndOffset(timestampMs: -1, offset: logEndOffset)
        case TimestampAndOffset.Special.maxTimestamp:
            var best: Segment?
            for segment in segments where segment.nextOffset > logStartOffset && segment.maxTimestampMs > (best?.maxTimestampMs ?? -1) {
                best = segment
            }
            guard let best, let (position, header) = try locate(max(best.offsetOfMaxTimestamp, logStartOffset), in: best) else { return nil }
            if let exact = try firstRecord(atOrAfter: header.maxTimestamp, inBatchAt: position, header: header, in: best) {
                return exact
            }
            return TimestampAndOffset(timestampMs: header.maxTimestamp, offset: max(header.baseOffset, logStartOffset))
        case ..<0:
            throw .invalidArgument("timestamp \(timestampMs) is neither a time nor one of -1, -2, -3")
        default:
            for segment in segments where segment.nextOffset > logStartOffset && segment.maxTimestampMs >= timestampMs {
                if let found = try find(timestampMs, in: segment) { return found }
            }
            return nil
        }
    }

    /// Kafka's `LogSegment.findOffsetByTimestamp`: start at the time index entry for the target
    /// (checked against the bytes), then scan for the first batch whose max timestamp reaches it.
    private func find(_ target: Int64, in segment: Segment) throws(StorageError) -> TimestampAndOffset? {
        var startOffset = max(segment.baseOffset, logStartOffset)
        for attempt in 0 ..< 2 {
            guard let entry = segment.timeIndex.lookup(timestampMs: target) else { break }
            let entryOffset = segment.baseOffset + Int64(entry.relativeOffset)
            if let (_, header) = try locate(entryOffset, in: segment), header.lastOffset == entryOffset,
               header.maxTimestamp == entry.timestampMs {
                startOffset = max(startOffset, entryOffset)
                break
            }
            if attempt == 0 {
                try rebuildIndexes(segment, reason: "time index entry \(entry) does not match the batch there")
            }
        }
        guard var (position, header) = try locate(startOffset, in: segment) else { return nil }
        while true {
            if header.maxTimestamp >= target, header.lastOffset >= logStartOffset {
                if let exact = try firstRecord(atOrAfter: target, inBatchAt: position, header: header, in: segment) {
                    return exact
                }
                return TimestampAndOffset(timestampMs: header.maxTimestamp, offset: max(header.baseOffset, logStartOffset))
            }
            position += header.totalSize
            guard position < segment.sizeBytes, let next = try storedHeader(at: position, in: segment, strict: true) else {
                return nil
            }
            header = next
        }
    }

    /// The first record of the batch at `position` whose timestamp reaches `target` (Kafka answers
    /// ListOffsets with the exact record, not the batch). Nil when the batch cannot be decoded, in
    /// which case the caller answers with the batch's base offset.
    private func firstRecord(atOrAfter target: Int64, inBatchAt position: Int, header: RecordBatchHeader,
                             in segment: Segment) throws(StorageError) -> TimestampAndOffset? {
        let bytes = try segment.storage.read(at: position, count: header.totalSize)
        guard let batch = try? RecordBatch(bytes) else { return nil }
        var found: TimestampAndOffset?
        do {
            var iterator = try batch.makeRecordIterator(verifyChecksum: false)
            while let record = try iterator.next() {
                if record.offset >= logStartOffset, batch.header.attributes.isLogAppendTime || record.timestampMs >= target {
                    let timestampMs = batch.header.attributes.isLogAppendTime ? header.maxTimestamp : record.timestampMs
                    found = TimestampAndOffset(timestampMs: timestampMs, offset: record.offset)
                    break
                }
            }
        } catch {
            return nil
        }
        return found
    }

    // MARK: Flushing

    func flush() throws(StorageError) {
        try checkWritable()
        try failOnError { () throws(StorageError) in try flushAll(nowMs: clock.wallMilliseconds(), forceCheckpoint: false) }
    }

    @discardableResult
    func flushIfDue(nowMs: Int64) throws(StorageError) -> Bool {
        try checkWritable()
        if nowMs &- lastFlushMs >= config.flushMs {
            try failOnError { () throws(StorageError) in try flushAll(nowMs: nowMs, forceCheckpoint: false) }
            return true
        }
        // Sealed segments are flushed soon after they roll (Kafka flushes them in the background).
        guard segments.dropLast().contains(where: { $0.syncedBytes < $0.sizeBytes || !$0.indexFilesSynced }) else { return false }
        try failOnError { () throws(StorageError) in
            for segment in segments.dropLast() { try flush(segment) }
            try syncDirectoryIfNeeded()
        }
        recoveryPoint = max(recoveryPoint, active.baseOffset)
        return true
    }

    /// Flushes as `flush.messages` and `flush.ms` say. Returns whether it flushed.
    private func maybeFlush(nowMs: Int64) throws(StorageError) -> Bool {
        guard logEndOffset - recoveryPoint >= config.flushMessages || nowMs &- lastFlushMs >= config.flushMs else {
            return false
        }
        try failOnError { () throws(StorageError) in try flushAll(nowMs: nowMs, forceCheckpoint: false) }
        return true
    }

    private func flushAll(nowMs: Int64, forceCheckpoint: Bool) throws(StorageError) {
        for segment in segments { try flush(segment) }
        try syncDirectoryIfNeeded()
        recoveryPoint = logEndOffset
        lastFlushMs = nowMs
        statistics.flushes += 1
        if forceCheckpoint || nowMs &- lastCheckpointMs >= config.recoveryPointCheckpointIntervalMs {
            try writeCheckpoint(clean: false, nowMs: nowMs)
        }
    }

    private func flush(_ segment: Segment) throws(StorageError) {
        if segment.indexesNeedPersisting {
            try segment.storage.persistIndexes(offsetIndex: &segment.offsetIndex, timeIndex: &segment.timeIndex)
            segment.indexFilesSynced = false
        }
        if segment.syncedBytes < segment.sizeBytes {
            try segment.storage.sync(config.flushSyscall)
            segment.syncedBytes = segment.sizeBytes
            statistics.dataSyncs[config.flushSyscall, default: 0] += 1
        }
        // Index files are rebuilt when they are stale, so only sealed segments' are synced (once).
        if segment.isSealed, !segment.indexFilesSynced {
            try segment.storage.syncIndexes(config.flushSyscall)
            segment.indexFilesSynced = true
        }
    }

    private func syncDirectoryIfNeeded() throws(StorageError) {
        guard directoryNeedsSync else { return }
        try backend.syncDirectory()
        directoryNeedsSync = false
    }

    func writeCheckpoint(clean: Bool, nowMs: Int64) throws(StorageError) {
        try backend.writeCheckpoint(PartitionCheckpoint(recoveryPoint: recoveryPoint, logStartOffset: logStartOffset,
                                                        cleanShutdown: clean))
        lastCheckpointMs = nowMs
    }

    /// Ends opening a recovered log: syncs what recovery kept and writes a checkpoint saying the log
    /// is open (so a crash from now on is not mistaken for a clean shutdown).
    func completeOpening() throws(StorageError) {
        try failOnError { () throws(StorageError) in try flushAll(nowMs: clock.wallMilliseconds(), forceCheckpoint: true) }
    }

    // MARK: Closing

    func close() throws(StorageError) {
        switch state {
        case .closed:
            return
        case .failed:
            for segment in segments { segment.storage.abandon() }
        case .open:
            var firstError: StorageError?
            do throws(StorageError) {
                try seal(active)
                try flushAll(nowMs: clock.wallMilliseconds(), forceCheckpoint: false)
                try writeCheckpoint(clean: true, nowMs: clock.wallMilliseconds())
            } catch {
                firstError = error
            }
            for segment in segments {
                do throws(StorageError) { try segment.storage.close() } catch { firstError = firstError ?? error }
            }
            state = .closed
            backend.didClose(segments: segments, logStartOffset: logStartOffset)
            if let firstError { throw firstError }
            return
        }
        state = .closed
        backend.didClose(segments: segments, logStartOffset: logStartOffset)
    }

    /// Releases files and mappings without flushing, trimming or checkpointing, as a crash would
    /// leave them. For crash tests.
    func abandonForCrashTest() {
        guard case .open = state else { return }
        for segment in segments { segment.storage.abandon() }
        state = .closed
        backend.didClose(segments: segments, logStartOffset: logStartOffset)
    }

    // MARK: Compaction (LogCleaner.swift)

    /// Puts `cleaned` in place of the sealed segment at `index`: same base offset and next offset,
    /// fewer bytes. For the log cleaner, which has already made `cleaned` durable with its indexes.
    func replaceSealedSegment(at index: Int, with cleaned: Segment) {
        precondition(index >= 0 && index < segments.count - 1, "only sealed segments are cleaned")
        let old = segments[index]
        precondition(old.baseOffset == cleaned.baseOffset && old.nextOffset == cleaned.nextOffset,
                     "a cleaned segment keeps its offset range")
        sizeBytes += Int64(cleaned.sizeBytes - old.sizeBytes)
        segments[index] = cleaned
    }

    /// Turns the log failed after a multi-step change by the cleaner went wrong part-way.
    func markFailed(_ reason: String) {
        if case .open = state { state = .failed(reason) }
        logger.error("log failed", metadata: ["error": "\(reason)"])
    }

    // MARK: State checks

    private func checkReadable() throws(StorageError) {
        try checkWritable()
    }

    private func checkWritable() throws(StorageError) {
        switch state {
        case .open: return
        case .closed: throw .logClosed(partition: "\(topicPartition)")
        case let .failed(reason): throw .logFailed(partition: "\(topicPartition)", reason: reason)
        }
    }

    /// Runs a multi-step change; a failure part-way leaves the log failed (reopen to recover).
    private func failOnError<T>(_ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        do throws(StorageError) {
            return try body()
        } catch {
            if case .open = state { state = .failed(error.description) }
            logger.error("log failed", metadata: ["error": "\(error)"])
            throw error
        }
    }
}

/// A log's internals, for this module's tests, benchmarks and tools.
protocol LogStoreInternals: AnyObject {
    var config: LogConfig { get }
    var statistics: LogStatistics { get }
    /// Base offset, next offset and size of each segment, oldest first.
    var segmentSummaries: [(baseOffset: Int64, nextOffset: Int64, sizeBytes: Int)] { get }
    /// Releases the log as a crash would.
    func abandonForCrashTest()
}

extension SegmentedLog: LogStoreInternals {
    var segmentSummaries: [(baseOffset: Int64, nextOffset: Int64, sizeBytes: Int)] {
        segments.map { ($0.baseOffset, $0.nextOffset, $0.sizeBytes) }
    }
}
