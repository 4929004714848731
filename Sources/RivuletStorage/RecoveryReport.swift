/// Why recovery dropped bytes from a log.
public enum RecoveryReason: Sendable, Hashable, CustomStringConvertible {
    /// The last batch is incomplete (a torn write): its header or its bytes stop early.
    case incompleteBatch(neededBytes: Int, availableBytes: Int)
    /// A batch's stored CRC-32C does not match its bytes.
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// A batch's length field is impossible.
    case invalidLength(batchLength: Int32)
    /// A batch's magic is not 2.
    case unsupportedMagic(magic: Int8)
    /// A batch's header fields contradict each other.
    case invalidHeader(reason: String)
    /// A batch does not start where the previous one ended (offsets must be contiguous).
    case offsetGap(expected: Int64, found: Int64)
    /// A zero-filled batch header followed by non-zero bytes: a write that never completed.
    case tornPreallocatedTail
    /// The segment follows a truncated or missing part of the log, so its offsets no longer connect.
    case followsTruncation(expectedBaseOffset: Int64)

    public var description: String {
        switch self {
        case let .incompleteBatch(needed, available): "incomplete batch: needs \(needed) bytes, \(available) present"
        case let .checksumMismatch(stored, computed):
            "CRC mismatch: stored \(String(stored, radix: 16)), computed \(String(computed, radix: 16))"
        case let .invalidLength(length): "invalid batchLength \(length)"
        case let .unsupportedMagic(magic): "magic \(magic), expected 2"
        case let .invalidHeader(reason): "invalid header: \(reason)"
        case let .offsetGap(expected, found): "batch starts at offset \(found), expected \(expected)"
        case .tornPreallocatedTail: "zero-filled header followed by data (torn write)"
        case let .followsTruncation(expected): "segment does not continue the log at offset \(expected)"
        }
    }
}

/// Bytes that recovery cut from one segment (or the whole segment, when `position` is 0 and the
/// segment was deleted).
public struct RecoveryTruncation: Sendable, Hashable {
    /// The base offset of the segment cut.
    public var segmentBaseOffset: Int64
    /// The byte position where valid data ends in the segment.
    public var position: Int
    /// Bytes removed from the segment. For preallocated (mmap) files, zero bytes after the last
    /// non-zero byte count as preallocation (`RecoveryReport.preallocatedBytesTrimmed`), not as loss.
    public var bytesDropped: Int
    /// Whether the whole segment file was deleted.
    public var segmentDeleted: Bool
    /// Why.
    public var reason: RecoveryReason

    public init(segmentBaseOffset: Int64, position: Int, bytesDropped: Int, segmentDeleted: Bool, reason: RecoveryReason) {
        self.segmentBaseOffset = segmentBaseOffset
        self.position = position
        self.bytesDropped = bytesDropped
        self.segmentDeleted = segmentDeleted
        self.reason = reason
    }
}

/// What opening a durable log found and repaired. Also logged, one line per truncation.
public struct RecoveryReport: Sendable, Hashable {
    /// The recovery point read from the checkpoint (the offset below which data was known durable),
    /// or nil when there was no usable checkpoint.
    public var checkpointedRecoveryPoint: Int64?
    /// Whether the log was closed cleanly last time (its checkpoint covered the whole log).
    public var hadCleanShutdown: Bool
    /// Segments found on disk.
    public var segmentCount: Int
    /// Segments whose bytes were scanned batch by batch (CRC included).
    public var segmentsScanned: Int
    /// Batches checked by the scan.
    public var batchesScanned: Int
    /// Bytes checked by the scan.
    public var bytesScanned: Int
    /// Everything cut, in log order.
    public var truncations: [RecoveryTruncation]
    /// Base offsets of the segments whose offset or time index was missing, corrupt or stale and was
    /// rebuilt from the segment's batches.
    public var rebuiltIndexes: [Int64]
    /// Zero bytes after the data of preallocated (mmap) segments: not corruption, just trimmed.
    public var preallocatedBytesTrimmed: Int
    /// The log start offset after recovery.
    public var logStartOffset: Int64
    /// The log end offset after recovery.
    public var logEndOffset: Int64

    public init(checkpointedRecoveryPoint: Int64? = nil, hadCleanShutdown: Bool = false, segmentCount: Int = 0,
                segmentsScanned: Int = 0, batchesScanned: Int = 0, bytesScanned: Int = 0,
                truncations: [RecoveryTruncation] = [], rebuiltIndexes: [Int64] = [],
                preallocatedBytesTrimmed: Int = 0, logStartOffset: Int64 = 0, logEndOffset: Int64 = 0) {
        self.checkpointedRecoveryPoint = checkpointedRecoveryPoint
        self.hadCleanShutdown = hadCleanShutdown
        self.segmentCount = segmentCount
        self.segmentsScanned = segmentsScanned
        self.batchesScanned = batchesScanned
        self.bytesScanned = bytesScanned
        self.truncations = truncations
        self.rebuiltIndexes = rebuiltIndexes
        self.preallocatedBytesTrimmed = preallocatedBytesTrimmed
        self.logStartOffset = logStartOffset
        self.logEndOffset = logEndOffset
    }

    /// Bytes of batch data removed.
    public var bytesDropped: Int { truncations.reduce(0) { $0 + $1.bytesDropped } }
    /// Whether recovery removed anything.
    public var truncatedAnything: Bool { !truncations.isEmpty }
}
