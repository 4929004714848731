import RivuletWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every failure of the storage seam: a partition log (`LogStore`) or a storage engine (`StorageEngine`).
///
/// Each case carries the context needed to act on it; the broker maps them to Kafka error codes once,
/// at the protocol edge (noted per case).
public enum StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    // MARK: Log operations

    /// The requested offset is below the log start offset or above the log end offset.
    /// Remedy: the consumer resets its position (Kafka OFFSET_OUT_OF_RANGE, error code 1).
    case offsetOutOfRange(requested: Int64, logStart: Int64, logEnd: Int64)
    /// A batch appended without offset assignment (a follower's append) does not start at the log end
    /// offset. Remedy: the follower truncates or refetches from `expected`.
    case unexpectedBaseOffset(expected: Int64, actual: Int64)
    /// A batch is larger than `max.message.bytes`. Remedy: the producer lowers `batch.size`
    /// (Kafka MESSAGE_TOO_LARGE, error code 10).
    case batchTooLarge(sizeBytes: Int, limitBytes: Int)
    /// A batch failed validation (framing, magic, CRC or header fields) before it was written.
    /// Remedy: the producer resends (Kafka CORRUPT_MESSAGE, error code 2).
    case invalidBatch(RecordBatchError)
    /// A `LogConfig` value is out of range. Remedy: fix the named setting.
    case invalidConfig(name: String, value: String, reason: String)
    /// An argument is outside what the operation accepts (negative sizes, unknown special timestamps).
    case invalidArgument(String)
    /// The log was closed; reopen it through its `StorageEngine`.
    case logClosed(partition: String)
    /// An earlier write failed and left the log in an unknown state; nothing more is accepted.
    /// Remedy: close it and reopen it, which runs crash recovery (Kafka KAFKA_STORAGE_ERROR, 56).
    case logFailed(partition: String, reason: String)
    /// Stored bytes could not be read back as record batches during a read (the disk changed under
    /// the log). Remedy: reopen the log, which truncates the damage and reports it.
    case corruptLog(partition: String, segmentBaseOffset: Int64, position: Int, reason: String)
    /// A system call failed. `errno` is the C error number; `description` spells it out.
    case io(operation: String, path: String, errno: Int32)

    // MARK: Storage engines

    /// The storage URL's scheme is not one of `supported`.
    case unsupportedScheme(scheme: String, supported: [String])
    /// The storage URL cannot be parsed.
    case invalidURL(String, reason: String)
    /// The data directory path names something that is not a directory.
    case notADirectory(path: String)
    /// The data directory does not exist and could not be created.
    case cannotCreateDirectory(path: String, errno: Int32)
    /// The data directory exists but files cannot be created in it.
    case directoryNotWritable(path: String, errno: Int32)
    /// Another engine (in this or another process) holds the data directory's lock file.
    case directoryLocked(path: String)
    /// A topic name breaks Kafka's rules (1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`).
    case invalidTopicName(String, reason: String)
    /// A partition number is negative.
    case invalidPartition(Int32)
    /// The partition's log is already open; a log has exactly one owner.
    case logAlreadyOpen(partition: String)
    /// The partition's log is open; close it before deleting it.
    case logInUse(partition: String)
    /// No log exists for the partition.
    case logNotFound(partition: String)
    /// A document name is empty, too long or has characters other than `[a-zA-Z0-9._-]`.
    case invalidDocumentName(String, reason: String)
    /// The engine was closed.
    case engineClosed

    public var description: String {
        switch self {
        case let .offsetOutOfRange(requested, logStart, logEnd):
            "offset \(requested) is out of range: the log holds [\(logStart), \(logEnd))"
        case let .unexpectedBaseOffset(expected, actual):
            "batch starts at offset \(actual), but the log end offset is \(expected)"
        case let .batchTooLarge(size, limit):
            "batch of \(size) bytes exceeds max.message.bytes \(limit)"
        case let .invalidBatch(error):
            "invalid record batch: \(error)"
        case let .invalidConfig(name, value, reason):
            "invalid \(name)=\(value): \(reason)"
        case let .invalidArgument(reason):
            "invalid argument: \(reason)"
        case let .logClosed(partition):
            "log \(partition) is closed"
        case let .logFailed(partition, reason):
            "log \(partition) failed earlier and must be reopened: \(reason)"
        case let .corruptLog(partition, segment, position, reason):
            "log \(partition) segment \(segment) byte \(position) is corrupt: \(reason)"
        case let .io(operation, path, code):
            "\(operation) \(path) failed: \(StorageError.errnoDescription(code)) (errno \(code))"
        case let .unsupportedScheme(scheme, supported):
            "unsupported storage scheme '\(scheme)'; supported: \(supported.map { "\($0)://" }.joined(separator: ", "))"
        case let .invalidURL(url, reason):
            "invalid storage URL '\(url)': \(reason)"
        case let .notADirectory(path):
            "data directory \(path) exists but is not a directory"
        case let .cannotCreateDirectory(path, code):
            "cannot create data directory \(path): \(StorageError.errnoDescription(code))"
        case let .directoryNotWritable(path, code):
            "data directory \(path) is not writable: \(StorageError.errnoDescription(code))"
        case let .directoryLocked(path):
            "data directory \(path) is locked by another storage engine"
        case let .invalidTopicName(name, reason):
            "invalid topic name '\(name)': \(reason)"
        case let .invalidPartition(partition):
            "invalid partition \(partition): partitions are numbered from 0"
        case let .logAlreadyOpen(partition):
            "log \(partition) is already open"
        case let .logInUse(partition):
            "log \(partition) is open; close it before deleting it"
        case let .logNotFound(partition):
            "no log for \(partition)"
        case let .invalidDocumentName(name, reason):
            "invalid document name '\(name)': \(reason)"
        case .engineClosed:
            "the storage engine is closed"
        }
    }

    /// The C library's text for an errno value.
    static func errnoDescription(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
