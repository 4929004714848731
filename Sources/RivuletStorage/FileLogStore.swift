import NIOCore
import RivuletWire
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The file backend: each segment is a `.log` file written with pwrite and read with pread through
// swift-system's `FileDescriptor`, next to its `.index` and `.timeindex` files.

/// One segment file, read and written at explicit positions (no file offset, no user-space cache:
/// the kernel's page cache is the cache, as in Kafka).
final class FileSegmentStorage: SegmentStorage {
    let path: String
    let indexFiles: SegmentIndexFiles
    private var fd: SystemFileDescriptor?
    private(set) var sizeBytes: Int
    let lastModifiedMs: Int64
    var preallocates: Bool { false }
    private var isSealed = false

    private init(path: String, indexFiles: SegmentIndexFiles, fd: SystemFileDescriptor, sizeBytes: Int, lastModifiedMs: Int64) {
        self.path = path
        self.indexFiles = indexFiles
        self.fd = fd
        self.sizeBytes = sizeBytes
        self.lastModifiedMs = lastModifiedMs
    }

    /// Creates an empty segment file (replacing any leftover with the same name).
    static func create(directory: String, baseOffset: Int64, nowMs: Int64) throws(StorageError) -> FileSegmentStorage {
        let path = FileSystem.join(directory, FileSystem.segmentFileName(baseOffset: baseOffset, suffix: FileSystem.logSuffix))
        let indexFiles = SegmentIndexFiles(directory: directory, baseOffset: baseOffset)
        try indexFiles.createEmpty()
        let fd = try FileSystem.openFile(path, .readWrite, options: [.create, .truncate])
        return FileSegmentStorage(path: path, indexFiles: indexFiles, fd: fd, sizeBytes: 0, lastModifiedMs: nowMs)
    }

    /// Opens an existing segment file.
    static func open(directory: String, baseOffset: Int64) throws(StorageError) -> FileSegmentStorage {
        let path = FileSystem.join(directory, FileSystem.segmentFileName(baseOffset: baseOffset, suffix: FileSystem.logSuffix))
        let fd = try FileSystem.openFile(path, .readWrite)
        let size: Int
        do throws(StorageError) {
            size = try FileSystem.size(of: fd, path: path)
        } catch {
            try? fd.close()
            throw error
        }
        let storage = FileSegmentStorage(path: path, indexFiles: SegmentIndexFiles(directory: directory, baseOffset: baseOffset),
                                         fd: fd, sizeBytes: size, lastModifiedMs: FileSystem.modificationTimeMs(of: fd))
        storage.isSealed = true
        return storage
    }

    private func descriptor() throws(StorageError) -> SystemFileDescriptor {
        guard let fd else { throw .io(operation: "use after close", path: path, errno: EBADF) }
        return fd
    }

    func append(_ batch: ByteBuffer, stampingBaseOffset baseOffset: Int64, partitionLeaderEpoch: Int32?) throws(StorageError) {
        let fd = try descriptor()
        let position = sizeBytes
        let stampedBytes = RecordBatchLayout.partitionLeaderEpoch + 4
        // One pwritev: the stamped head of the batch (base offset, length, leader epoch), then the rest
        // of the batch from the caller's buffer.
        try withUnsafeTemporaryAllocation(byteCount: stampedBytes, alignment: 8) { (head: UnsafeMutableRawBufferPointer) throws(StorageError) in
            try batch.withReadableBytes { (bytes: UnsafeRawBufferPointer) throws(StorageError) in
                guard bytes.count >= stampedBytes else {
                    throw .invalidArgument("a batch of \(bytes.count) bytes is shorter than its header")
                }
                head.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<stampedBytes]))
                head.storeBytes(of: baseOffset.bigEndian, toByteOffset: RecordBatchLayout.baseOffset, as: Int64.self)
                if let partitionLeaderEpoch {
                    head.storeBytes(of: partitionLeaderEpoch.bigEndian, toByteOffset: RecordBatchLayout.partitionLeaderEpoch,
                                    as: Int32.self)
                }
                let rest = UnsafeRawBufferPointer(rebasing: bytes[stampedBytes...])
                try FileSystem.writeAll(fd, at: position, UnsafeRawBufferPointer(head), rest, path: path)
            }
        }
        sizeBytes += batch.readableBytes
    }

    func header(at position: Int) throws(StorageError) -> RecordBatchHeader? {
        let size = RecordBatchLayout.headerSize
        guard position >= 0, position + size <= sizeBytes else { return nil }
        let fd = try descriptor()
        return try withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { scratch throws(StorageError) in
            try FileSystem.readExactly(fd, at: position, into: scratch, path: path)
            return RecordBatchHeader(rawBytes: UnsafeRawBufferPointer(scratch))
        }
    }

    func read(at position: Int, count: Int) throws(StorageError) -> ByteBuffer {
        let fd = try descriptor()
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        try buffer.writeBytes(count: count) { (bytes: UnsafeMutableRawBufferPointer) throws(StorageError) in
            try FileSystem.readExactly(fd, at: position, into: bytes, path: path)
        }
        return buffer
    }

    func checksum(at position: Int, count: Int) throws(StorageError) -> UInt32 {
        let fd = try descriptor()
        let chunkBytes = 1 << 20
        return try withUnsafeTemporaryAllocation(byteCount: min(chunkBytes, max(count, 1)), alignment: 16) { scratch throws(StorageError) in
            var crc: UInt32 = 0
            var done = 0
            while done < count {
                let part = UnsafeMutableRawBufferPointer(rebasing: scratch[0 ..< min(scratch.count, count - done)])
                try FileSystem.readExactly(fd, at: position + done, into: part, path: path)
                crc = CRC32C.checksum(UnsafeRawBufferPointer(part), seed: crc)
                done += part.count
            }
            return crc
        }
    }

    func isZeroFilled(from position: Int) throws(StorageError) -> Bool {
        let fd = try descriptor()
        return try FileSystem.isZeroFilled(fd, from: position, to: sizeBytes, path: path) { offset, buffer throws(StorageError) in
            try FileSystem.readExactly(fd, at: offset, into: buffer, path: path)
        }
    }

    func dataEnd(from _: Int) -> Int { sizeBytes }

    func truncate(toSizeBytes size: Int) throws(StorageError) {
        let fd = try descriptor()
        try FileSystem.io("ftruncate", path) { try fd.resize(to: Int64(size)) }
        sizeBytes = size
    }

    func sync(_ syscall: FlushSyscall) throws(StorageError) {
        try FileSystem.sync(try descriptor(), syscall, path: path)
    }

    func seal() { isSealed = true }

    func reactivate(capacityBytes _: Int) { isSealed = false }

    func persistIndexes(offsetIndex: inout OffsetIndex, timeIndex: inout TimeIndex) throws(StorageError) {
        try indexFiles.persist(offsetIndex: &offsetIndex, timeIndex: &timeIndex)
    }

    func syncIndexes(_ syscall: FlushSyscall) throws(StorageError) {
        try indexFiles.sync(syscall)
        if isSealed { indexFiles.closeFiles() }
    }

    func loadIndexes() throws(StorageError) -> (offsetIndex: [UInt8]?, timeIndex: [UInt8]?) {
        try indexFiles.load()
    }

    func close() throws(StorageError) {
        indexFiles.closeFiles()
        guard let fd else { return }
        self.fd = nil
        try FileSystem.io("close", path) { try fd.close() }
    }

    func abandon() {
        indexFiles.closeFiles()
        try? fd?.close()
        fd = nil
    }

    func delete() throws(StorageError) {
        abandon()
        try FileSystem.removeFile(path)
        try indexFiles.delete()
    }

    deinit { abandon() }
}

/// The file backend of one partition directory.
struct FileBackend: DurableLogBackend {
    let directory: PartitionDirectory

    func createSegment(baseOffset: Int64, capacityBytes _: Int, nowMs: Int64) throws(StorageError) -> any SegmentStorage {
        try FileSegmentStorage.create(directory: directory.path, baseOffset: baseOffset, nowMs: nowMs)
    }

    func openSegment(baseOffset: Int64) throws(StorageError) -> any SegmentStorage {
        try FileSegmentStorage.open(directory: directory.path, baseOffset: baseOffset)
    }
}
