import NIOCore
import RivuletWire

/// Reads a partition's segment files as they are on disk, without recovering or changing anything:
/// the engine of `rivulet log dump` (Kafka's `kafka-dump-log`).
public enum LogDump {
    /// One segment file.
    public struct Segment: Sendable, Hashable {
        /// The base offset in the file name.
        public var baseOffset: Int64
        /// The `.log` file.
        public var path: String
        /// The file's size (data, plus any preallocated tail).
        public var sizeBytes: Int
    }

    /// One batch found in a segment file.
    public struct Batch: Sendable {
        /// Byte position in the segment file.
        public var position: Int
        /// The batch's decoded header.
        public var header: RecordBatchHeader
        /// Whether the stored CRC-32C matches the bytes.
        public var isChecksumValid: Bool
        /// The batch's bytes.
        public var batch: RecordBatch
    }

    /// How a segment file ends.
    public struct SegmentEnd: Sendable, Hashable {
        /// Bytes of whole, well-framed batches from the start.
        public var validBytes: Int
        /// Why the scan stopped early (framing, magic, an incomplete batch), nil at a clean end.
        public var problem: RecoveryReason?
        /// Zero bytes after the data (a preallocated mmap file that was not trimmed by a clean close).
        public var zeroFilledTailBytes: Int
    }

    /// The segment files of a partition in the data directory a `file://` or `mmap://` URL names.
    /// Throws `.invalidURL` for `memory://` (its logs live only inside one process) and
    /// `.logNotFound` when the partition has no directory.
    public static func segments(storageURL: String, topicPartition: TopicPartition) throws(StorageError) -> [Segment] {
        let url = try StorageURL(storageURL)
        guard url.scheme == "file" || url.scheme == "mmap" else {
            throw .invalidURL(storageURL, reason: "memory:// logs live only inside one process; dump reads file:// or mmap:// directories")
        }
        try topicPartition.validate()
        let directory = FileSystem.join(url.path, topicPartition.directoryName)
        guard case .directory = FileSystem.kind(of: directory).kind else { throw .logNotFound(partition: "\(topicPartition)") }
        return try FileSystem.list(directory).compactMap { name -> Segment? in
            guard let base = FileSystem.baseOffset(fromFileName: name, suffix: FileSystem.logSuffix) else { return nil }
            return Segment(baseOffset: base, path: FileSystem.join(directory, name), sizeBytes: 0)
        }.sorted { $0.baseOffset < $1.baseOffset }.map { segment throws(StorageError) -> Segment in
            var segment = segment
            let fd = try FileSystem.openFile(segment.path, .readOnly)
            defer { try? fd.close() }
            segment.sizeBytes = try FileSystem.size(of: fd, path: segment.path)
            return segment
        }
    }

    /// Calls `visit` with every well-framed batch of `segment`, in order; a CRC mismatch is reported
    /// on the batch and the scan goes on, a framing problem ends the scan.
    public static func scan(_ segment: Segment, visit: (Batch) -> Void) throws(StorageError) -> SegmentEnd {
        let fd = try FileSystem.openFile(segment.path, .readOnly)
        defer { try? fd.close() }
        let size = try FileSystem.size(of: fd, path: segment.path)
        var position = 0
        var end = SegmentEnd(validBytes: 0, problem: nil, zeroFilledTailBytes: 0)
        let allocator = ByteBufferAllocator()
        while position < size {
            let remaining = size - position
            let readRange = { (offset: Int, buffer: UnsafeMutableRawBufferPointer) throws(StorageError) in
                try FileSystem.readExactly(fd, at: offset, into: buffer, path: segment.path)
            }
            guard remaining >= RecordBatchLayout.headerSize else {
                if try FileSystem.isZeroFilled(fd, from: position, to: size, path: segment.path, readRange: readRange) {
                    end.zeroFilledTailBytes = remaining
                } else {
                    end.problem = .incompleteBatch(neededBytes: RecordBatchLayout.headerSize, availableBytes: remaining)
                }
                break
            }
            var headerBuffer = allocator.buffer(capacity: RecordBatchLayout.headerSize)
            try headerBuffer.writeBytes(count: RecordBatchLayout.headerSize) { bytes throws(StorageError) in
                try FileSystem.readExactly(fd, at: position, into: bytes, path: segment.path)
            }
            guard let header = RecordBatchHeader(from: headerBuffer, at: headerBuffer.readerIndex) else { break }
            if header.isAllZero, try FileSystem.isZeroFilled(fd, from: position, to: size, path: segment.path, readRange: readRange) {
                end.zeroFilledTailBytes = remaining
                break
            }
            if let problem = header.storageProblem {
                end.problem = problem
                break
            }
            guard header.totalSize <= remaining else {
                end.problem = .incompleteBatch(neededBytes: header.totalSize, availableBytes: remaining)
                break
            }
            var bytes = allocator.buffer(capacity: header.totalSize)
            try bytes.writeBytes(count: header.totalSize) { buffer throws(StorageError) in
                try FileSystem.readExactly(fd, at: position, into: buffer, path: segment.path)
            }
            guard let batch = try? RecordBatch(bytes) else {
                end.problem = .invalidHeader(reason: "unreadable batch")
                break
            }
            visit(Batch(position: position, header: header, isChecksumValid: batch.isChecksumValid, batch: batch))
            position += header.totalSize
            end.validBytes = position
        }
        return end
    }
}
