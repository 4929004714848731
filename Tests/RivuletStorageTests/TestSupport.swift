import Logging
import NIOCore
import RivuletCore
import RivuletWire
import Testing
@testable import RivuletStorage

#if canImport(Glibc)
import Glibc
#endif

/// The three backends every shared scenario runs on.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory
    case file
    case mmap

    var testDescription: String { rawValue }
    var isDurable: Bool { self != .memory }

    static let durable: [Backend] = [.file, .mmap]
}

/// A temporary directory removed when the value is dropped.
///
/// Unless `onDisk`, it lives in /dev/shm when there is one: fsync there costs nothing, which keeps
/// the many-seed recovery tests fast. Tests about the disk's own behaviour ask for `onDisk`.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init(_ label: String = "storage", onDisk: Bool = false) {
        let root = !onDisk && FileSystem.kind(of: "/dev/shm").kind == .directory ? "/dev/shm" : "/tmp"
        var template = Array("\(root)/rivulet-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let made else { preconditionFailure("mkdtemp failed: \(errno)") }
        path = made
    }

    deinit { try? FileSystem.removeTree(path) }
}

/// One backend's engine on a manual clock, with helpers to open, crash and reopen logs.
final class Harness {
    let backend: Backend
    let clock: ManualClock
    let directory: TemporaryDirectory?
    private(set) var engine: any StorageEngine
    let topicPartition = TopicPartition(topic: "events", partition: 0)

    init(_ backend: Backend, onDisk: Bool = false, wallMilliseconds: Int64 = 1_700_000_000_000) throws {
        self.backend = backend
        clock = ManualClock(wallMilliseconds: wallMilliseconds)
        directory = backend.isDurable ? TemporaryDirectory(backend.rawValue, onDisk: onDisk) : nil
        engine = try StorageEngines.open(url: Self.url(backend, directory), clock: clock, logger: Logger(label: "test"))
    }

    static func url(_ backend: Backend, _ directory: TemporaryDirectory?) -> String {
        switch backend {
        case .memory: "memory://"
        case .file: "file://\(directory?.path ?? "")"
        case .mmap: "mmap://\(directory?.path ?? "")"
        }
    }

    var url: String { Self.url(backend, directory) }

    /// The partition's directory (durable backends).
    var partitionPath: String { FileSystem.join(directory?.path ?? "", topicPartition.directoryName) }

    func open(_ config: LogConfig = LogConfig(), partition: TopicPartition? = nil) throws -> any LogStore {
        try engine.openLog(partition ?? topicPartition, config: Self.testable(config))
    }

    /// Opens checking every batch, whatever the checkpoint says (durable backends).
    func openFullRecovery(_ config: LogConfig = LogConfig()) throws -> any LogStore {
        guard let engine = engine as? DirectoryStorageEngine else { return try open(config) }
        return try engine.openLog(topicPartition, config: Self.testable(config), fullRecovery: true)
    }

    /// Kafka's default 1 GiB segments become 1 MiB: mmap preallocates whole segments, which in
    /// /dev/shm is memory.
    static func testable(_ config: LogConfig) -> LogConfig {
        var config = config
        if config.segmentBytes == LogConfig().segmentBytes { config.segmentBytes = 1 << 20 }
        return config
    }

    /// Closes the engine and opens a new one on the same directory (a broker restart). Memory keeps
    /// its engine, which is its disk.
    func restartEngine() throws {
        guard backend.isDurable else { return }
        try engine.close()
        engine = try StorageEngines.open(url: url, clock: clock, logger: Logger(label: "test"))
    }

    /// The segment files of the partition, sorted.
    func segmentFiles(suffix: String = FileSystem.logSuffix) throws -> [String] {
        try FileSystem.list(partitionPath).filter { $0.hasSuffix(suffix) }.sorted().map { FileSystem.join(partitionPath, $0) }
    }
}

extension LogStore {
    var internals: any LogStoreInternals {
        guard let internals = self as? any LogStoreInternals else { preconditionFailure("not a SegmentedLog") }
        return internals
    }
}

/// What a test appended: each batch's bytes as stored (base offset stamped) and its offsets.
struct AppendedBatch: Equatable {
    var baseOffset: Int64
    var lastOffset: Int64
    var maxTimestampMs: Int64
    var bytes: [UInt8]

    var sizeBytes: Int { bytes.count }
}

/// A batch of `records` records of `valueBytes` each, timestamps from `timestampMs`.
func makeBatch(records: Int = 1, valueBytes: Int = 100, timestampMs: Int64, stepMs: Int64 = 1, byte: UInt8 = 0x61,
               baseOffset: Int64 = 0) -> RecordBatch {
    SyntheticBatch.make(baseOffset: baseOffset, recordCount: records, valueBytes: valueBytes, baseTimestampMs: timestampMs,
                        timestampStepMs: stepMs, valueByte: byte)
}

/// Appends with offset assignment and returns what is now stored.
@discardableResult
func append(_ log: any LogStore, _ batch: RecordBatch) throws -> AppendedBatch {
    let info = try log.append(batch, assignOffsets: true)
    var bytes = Array(batch.buffer.readableBytesView)
    withUnsafeBytes(of: info.firstOffset.bigEndian) { bytes.replaceSubrange(0 ..< 8, with: $0) }
    return AppendedBatch(baseOffset: info.firstOffset, lastOffset: info.lastOffset, maxTimestampMs: batch.header.maxTimestamp,
                         bytes: bytes)
}

/// Splits read bytes into batches, checking each CRC.
func batches(in buffer: ByteBuffer) throws -> [RecordBatch] {
    let batches = try RecordBatchSequence(buffer).batches()
    for batch in batches { #expect(batch.isChecksumValid) }
    return batches
}

/// Reads the whole log from `from` to the end, batch by batch, following `nextOffset`.
func readAll(_ log: any LogStore, from: Int64? = nil, maxBytes: Int = 1 << 20) throws -> [AppendedBatch] {
    var offset = from ?? log.logStartOffset
    var result: [AppendedBatch] = []
    var reads = 0
    while offset < log.logEndOffset {
        reads += 1
        guard reads < 100_000 else { Issue.record("readAll does not make progress at \(offset)"); break }
        let read = try log.read(from: offset, maxBytes: maxBytes, maxOffset: nil)
        guard read.batchCount > 0 else { Issue.record("empty read at \(offset) below the log end \(log.logEndOffset)"); break }
        for batch in try batches(in: read.records) {
            result.append(AppendedBatch(baseOffset: batch.header.baseOffset, lastOffset: batch.header.lastOffset,
                                        maxTimestampMs: batch.header.maxTimestamp, bytes: Array(batch.buffer.readableBytesView)))
        }
        offset = read.nextOffset
    }
    return result
}

/// A file's bytes.
func fileBytes(_ path: String) throws -> [UInt8] {
    try FileSystem.readFile(path) ?? []
}

/// Replaces a file's bytes.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let fd = try FileSystem.openFile(path, .writeOnly, options: [.create, .truncate])
    defer { try? fd.close() }
    try withBytes(of: bytes) { (buffer: UnsafeRawBufferPointer) throws(StorageError) in
        try FileSystem.writeAll(fd, at: 0, buffer, path: path)
    }
}

/// Cuts a file to `size` bytes.
func truncateFile(_ path: String, to size: Int) throws {
    #expect(Glibc.truncate(path, off_t(size)) == 0)
}
