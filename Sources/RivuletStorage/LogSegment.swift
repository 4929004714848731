import RivuletWire

/// One segment of a log: its bytes (through a backend's `SegmentStorage`), its sparse offset and time
/// indexes, and what the log needs to know about it without reading it (offsets, timestamps, sizes).
final class LogSegment {
    /// The offset of the segment's first batch, and its file name.
    let baseOffset: Int64
    let storage: any SegmentStorage
    var offsetIndex = OffsetIndex()
    var timeIndex = TimeIndex()
    /// The offset after the segment's last batch (`baseOffset` when empty).
    var nextOffset: Int64
    /// Bytes appended since the last index entry (Kafka's `bytesSinceLastIndexEntry`).
    var bytesSinceLastIndexEntry = 0
    /// The largest batch `maxTimestamp` in the segment, -1 when none.
    var maxTimestampMs: Int64 = -1
    /// The last offset of the batch holding `maxTimestampMs`, -1 when none.
    var offsetOfMaxTimestamp: Int64 = -1
    /// The first batch's `maxTimestamp`, which `segment.ms` is measured from (nil when empty).
    var firstBatchMaxTimestampMs: Int64?
    /// When the segment object was created (the fallback for `segment.ms` without timestamps).
    var createdMs: Int64
    /// When the segment was last appended to (the fallback for `retention.ms` without timestamps).
    var lastModifiedMs: Int64
    /// Bytes known durable.
    var syncedBytes: Int
    /// Whether the index files have been synced since the segment was sealed.
    var indexFilesSynced = false
    /// Whether the segment takes no more appends.
    var isSealed = false

    init(baseOffset: Int64, storage: any SegmentStorage, nowMs: Int64) {
        self.baseOffset = baseOffset
        self.storage = storage
        nextOffset = baseOffset
        createdMs = nowMs
        lastModifiedMs = nowMs
        syncedBytes = 0
    }

    var sizeBytes: Int { storage.sizeBytes }
    var isEmpty: Bool { storage.sizeBytes == 0 }

    /// `offset` relative to the base offset; callers keep offsets within the segment's range.
    @inline(__always)
    func relative(_ offset: Int64) -> Int32 {
        Int32(truncatingIfNeeded: offset - baseOffset)
    }

    /// Whether the segment can hold a batch ending at `lastOffset` (relative offsets are 32-bit).
    func canHold(lastOffset: Int64) -> Bool { lastOffset - baseOffset <= Int64(Int32.max) }

    /// The largest timestamp for retention: the newest batch timestamp, or the last write time.
    var largestTimestampMs: Int64 { maxTimestampMs >= 0 ? maxTimestampMs : lastModifiedMs }

    /// Whether the indexes have entries (or cuts) their files lack.
    var indexesNeedPersisting: Bool {
        offsetIndex.unpersistedCount > 0 || timeIndex.unpersistedCount > 0
            || offsetIndex.fileNeedsTruncation || timeIndex.fileNeedsTruncation
    }

    /// Records a batch stored at `position` (on append, recovery and index rebuilds alike, so that an
    /// index rebuilt from the bytes equals the one built by appends). `header.baseOffset` is the
    /// stored one. Kafka's `LogSegment.append`: the index entry goes in before the batch's bytes are
    /// counted, and the time index gets the largest timestamp so far.
    @inline(__always)
    func account(position: Int, header: RecordBatchHeader, indexIntervalBytes: Int) {
        let lastOffset = header.lastOffset
        if header.maxTimestamp > maxTimestampMs {
            maxTimestampMs = header.maxTimestamp
            offsetOfMaxTimestamp = lastOffset
        }
        if position == 0 { firstBatchMaxTimestampMs = header.maxTimestamp }
        if bytesSinceLastIndexEntry > indexIntervalBytes {
            offsetIndex.append(relativeOffset: relative(lastOffset), position: Int32(truncatingIfNeeded: position))
            timeIndex.maybeAppend(timestampMs: maxTimestampMs, relativeOffset: relative(offsetOfMaxTimestamp))
            bytesSinceLastIndexEntry = 0
        }
        bytesSinceLastIndexEntry += header.totalSize
        nextOffset = lastOffset + 1
    }

    /// Puts the segment's largest timestamp in the time index, as Kafka does when a segment stops
    /// being active, so that a reopened log knows it without reading the segment.
    func appendFinalTimeIndexEntry() {
        guard maxTimestampMs >= 0 else { return }
        timeIndex.maybeAppend(timestampMs: maxTimestampMs, relativeOffset: relative(offsetOfMaxTimestamp))
    }

    /// Forgets the in-memory state derived from the bytes, before a walk from position 0.
    func resetForWalkFromStart() {
        offsetIndex.removeAll()
        timeIndex.removeAll()
        nextOffset = baseOffset
        bytesSinceLastIndexEntry = 0
        maxTimestampMs = -1
        offsetOfMaxTimestamp = -1
        firstBatchMaxTimestampMs = nil
    }

    /// Keeps offset index entries up to `entryIndex` (the batch a walk restarts at) and the time
    /// entries up to it, and restores the running state that held just after that batch was indexed.
    func resetForWalk(fromEntry entryIndex: Int, firstBatchMaxTimestampMs: Int64?) {
        let entry = offsetIndex.entries[entryIndex]
        offsetIndex.truncate(toCount: entryIndex + 1)
        timeIndex.truncate(keepingRelativeOffsetsAtMost: Int64(entry.relativeOffset))
        bytesSinceLastIndexEntry = 0
        if let last = timeIndex.last {
            maxTimestampMs = last.timestampMs
            offsetOfMaxTimestamp = baseOffset + Int64(last.relativeOffset)
        } else {
            maxTimestampMs = -1
            offsetOfMaxTimestamp = -1
        }
        self.firstBatchMaxTimestampMs = firstBatchMaxTimestampMs
    }
}
