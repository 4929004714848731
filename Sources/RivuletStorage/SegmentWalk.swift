import RivuletWire

/// What a walk over a segment's batches found.
struct SegmentWalkResult {
    /// The position just after the last good batch.
    var validEnd: Int
    /// Why the walk stopped before the end of the bytes, or nil (end of data or a zero-filled tail).
    var problem: RecoveryReason?
    /// Whether the bytes after `validEnd` are a zero-filled, never written tail (only for storage that
    /// preallocates; elsewhere any bytes after the data are a torn write).
    var zeroFilledTail: Bool
    /// Batches and bytes walked.
    var batches: Int
    var bytes: Int
}

/// Walks the batches of `segment` from `start` to the end of its bytes, checking each one (framing,
/// magic, header fields, contiguous offsets and, when asked, the CRC) and recording it in the
/// segment's state and indexes through `LogSegment.account`, exactly as appends do.
///
/// The caller prepares the segment's state for `start` (`resetForWalkFromStart` or
/// `resetForWalk(fromEntry:)`). `expectedBaseOffset` is the offset the first batch must start at
/// (nil when starting at an index entry, whose batch was verified against the entry).
func walkSegment(_ segment: LogSegment, from start: Int, expectedBaseOffset: Int64?,
                                          verifyChecksums: Bool, indexIntervalBytes: Int) throws(StorageError) -> SegmentWalkResult {
    let storage = segment.storage
    let end = storage.sizeBytes
    var position = start
    var expected = expectedBaseOffset
    var result = SegmentWalkResult(validEnd: start, problem: nil, zeroFilledTail: false, batches: 0, bytes: 0)
    while position < end {
        let remaining = end - position
        guard let header = try storage.header(at: position) else {
            if storage.preallocates, try storage.isZeroFilled(from: position) {
                result.zeroFilledTail = true
            } else {
                result.problem = .incompleteBatch(neededBytes: RecordBatchLayout.headerSize, availableBytes: remaining)
            }
            break
        }
        if storage.preallocates, header.isAllZero {
            if try storage.isZeroFilled(from: position) {
                result.zeroFilledTail = true
            } else {
                result.problem = .tornPreallocatedTail
            }
            break
        }
        if let problem = header.storageProblem {
            result.problem = problem
            break
        }
        let size = header.totalSize
        if size > remaining {
            result.problem = .incompleteBatch(neededBytes: size, availableBytes: remaining)
            break
        }
        if let expected, header.baseOffset != expected {
            result.problem = .offsetGap(expected: expected, found: header.baseOffset)
            break
        }
        if header.baseOffset < segment.baseOffset || !segment.canHold(lastOffset: header.lastOffset) {
            result.problem = .invalidHeader(reason: "offsets \(header.baseOffset)...\(header.lastOffset) do not fit segment \(segment.baseOffset)")
            break
        }
        if verifyChecksums {
            let computed = try storage.checksum(at: position + RecordBatchLayout.crcCoverageStart,
                                                count: size - RecordBatchLayout.crcCoverageStart)
            if computed != header.crc {
                result.problem = .checksumMismatch(stored: header.crc, computed: computed)
                break
            }
        }
        segment.account(position: position, header: header, indexIntervalBytes: indexIntervalBytes)
        expected = header.lastOffset + 1
        position += size
        result.batches += 1
        result.bytes += size
    }
    result.validEnd = position
    return result
}
