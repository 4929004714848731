import NIOCore
import RivuletWire
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The mmap backend: the active segment's file is preallocated to `segment.bytes` and mapped
// MAP_SHARED read-write; appends are memory copies. On roll and close the file is trimmed to its data
// and mapped read-only. A crash leaves the preallocated, zero-filled tail, which recovery recognises
// and trims (it is not corruption).

/// One memory-mapped segment file.
///
/// Preallocation uses `posix_fallocate`, so that a write through the mapping cannot meet a full disk
/// (which would be SIGBUS). Nothing else may shrink the file while it is mapped.
final class MmapSegmentStorage: SegmentStorage {
    let path: String
    let indexFiles: SegmentIndexFiles
    private var fd: SystemFileDescriptor?
    private var mapping: UnsafeMutableRawPointer?
    private var mappedBytes = 0
    private var writable = false
    private(set) var sizeBytes: Int
    /// Bytes synced so far (msync starts from the page holding this position).
    private var syncedBytes = 0
    let lastModifiedMs: Int64
    var preallocates: Bool { true }

    private init(path: String, indexFiles: SegmentIndexFiles, fd: SystemFileDescriptor, sizeBytes: Int, lastModifiedMs: Int64) {
        self.path = path
        self.indexFiles = indexFiles
        self.fd = fd
        self.sizeBytes = sizeBytes
        self.lastModifiedMs = lastModifiedMs
    }

    /// Creates a segment file preallocated to `capacityBytes` and maps it read-write.
    static func create(directory: String, baseOffset: Int64, capacityBytes: Int, nowMs: Int64) throws(StorageError) -> MmapSegmentStorage {
        let path = FileSystem.join(directory, FileSystem.segmentFileName(baseOffset: baseOffset, suffix: FileSystem.logSuffix))
        let indexFiles = SegmentIndexFiles(directory: directory, baseOffset: baseOffset)
        try indexFiles.createEmpty()
        let fd = try FileSystem.openFile(path, .readWrite, options: [.create, .truncate])
        let storage = MmapSegmentStorage(path: path, indexFiles: indexFiles, fd: fd, sizeBytes: 0, lastModifiedMs: nowMs)
        try storage.reactivate(capacityBytes: capacityBytes)
        return storage
    }

    /// Opens an existing segment file and maps it read-only, whole (a crashed active segment's
    /// preallocated tail included, for recovery to examine).
    static func open(directory: String, baseOffset: Int64) throws(StorageError) -> MmapSegmentStorage {
        let path = FileSystem.join(directory, FileSystem.segmentFileName(baseOffset: baseOffset, suffix: FileSystem.logSuffix))
        let fd = try FileSystem.openFile(path, .readWrite)
        let storage: MmapSegmentStorage
        do throws(StorageError) {
            let size = try FileSystem.size(of: fd, path: path)
            storage = MmapSegmentStorage(path: path, indexFiles: SegmentIndexFiles(directory: directory, baseOffset: baseOffset),
                                         fd: fd, sizeBytes: size, lastModifiedMs: FileSystem.modificationTimeMs(of: fd))
        } catch {
            try? fd.close()
            throw error
        }
        try storage.map(bytes: storage.sizeBytes, writable: false)
        storage.syncedBytes = storage.sizeBytes
        return storage
    }

    private func descriptor() throws(StorageError) -> SystemFileDescriptor {
        guard let fd else { throw .io(operation: "use after close", path: path, errno: EBADF) }
        return fd
    }

    private func map(bytes: Int, writable: Bool) throws(StorageError) {
        unmap()
        guard bytes > 0 else { return }
        let fd = try descriptor()
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        let pointer = mmap(nil, bytes, protection, MAP_SHARED, fd.rawValue, 0)
        guard let pointer, pointer != MAP_FAILED else {
            throw .io(operation: "mmap \(bytes) bytes", path: path, errno: errno)
        }
        mapping = pointer
        mappedBytes = bytes
        self.writable = writable
    }

    private func unmap() {
        if let mapping { munmap(mapping, mappedBytes) }
        mapping = nil
        mappedBytes = 0
        writable = false
    }

    /// The mapped bytes `[position, position + count)`; callers stay within `sizeBytes`.
    private func bytes(at position: Int, count: Int) throws(StorageError) -> UnsafeRawBufferPointer {
        guard let mapping, position >= 0, count >= 0, position + count <= mappedBytes else {
            throw .io(operation: "read \(count) bytes at \(position) beyond the mapping of \(mappedBytes)", path: path, errno: EINVAL)
        }
        return UnsafeRawBufferPointer(start: mapping + position, count: count)
    }

    func append(_ batch: ByteBuffer, stampingBaseOffset baseOffset: Int64, partitionLeaderEpoch: Int32?) throws(StorageError) {
        let count = batch.readableBytes
        if !writable || sizeBytes + count > mappedBytes {
            try reactivate(capacityBytes: max(sizeBytes + count, mappedBytes * 2))
        }
        guard let mapping else { throw .io(operation: "append without a mapping", path: path, errno: EINVAL) }
        let destination = mapping + sizeBytes
        batch.withUnsafeReadableBytes { UnsafeMutableRawBufferPointer(start: destination, count: $0.count).copyMemory(from: $0) }
        destination.storeBytes(of: baseOffset.bigEndian, toByteOffset: RecordBatchLayout.baseOffset, as: Int64.self)
        if let partitionLeaderEpoch {
            destination.storeBytes(of: partitionLeaderEpoch.bigEndian, toByteOffset: RecordBatchLayout.partitionLeaderEpoch,
                                   as: Int32.self)
        }
        sizeBytes += count
    }

    func header(at position: Int) throws(StorageError) -> RecordBatchHeader? {
        guard position >= 0, position + RecordBatchLayout.headerSize <= sizeBytes else { return nil }
        return RecordBatchHeader(rawBytes: try bytes(at: position, count: RecordBatchLayout.headerSize))
    }

    func read(at position: Int, count: Int) throws(StorageError) -> ByteBuffer {
        let source = try bytes(at: position, count: count)
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        buffer.writeBytes(source)
        return buffer
    }

    func checksum(at position: Int, count: Int) throws(StorageError) -> UInt32 {
        CRC32C.checksum(try bytes(at: position, count: count))
    }

    func isZeroFilled(from position: Int) throws(StorageError) -> Bool {
        let fd = try descriptor()
        // pread rather than the mapping: a long preallocated tail would fault in page after page.
        return try FileSystem.isZeroFilled(fd, from: position, to: sizeBytes, path: path) { offset, buffer throws(StorageError) in
            try FileSystem.readExactly(fd, at: offset, into: buffer, path: path)
        }
    }

    func dataEnd(from position: Int) throws(StorageError) -> Int {
        let fd = try descriptor()
        return try FileSystem.dataEnd(fd, from: position, to: sizeBytes, path: path) { offset, buffer throws(StorageError) in
            try FileSystem.readExactly(fd, at: offset, into: buffer, path: path)
        }
    }

    func truncate(toSizeBytes size: Int) throws(StorageError) {
        let fd = try descriptor()
        if writable {
            // Cut, then preallocate again: the dropped bytes read as zeros from now on, so a later
            // crash cannot resurrect them after new, shorter data.
            try FileSystem.io("ftruncate", path) { try fd.resize(to: Int64(size)) }
            try FileSystem.preallocate(fd, bytes: mappedBytes, path: path)
        } else {
            unmap()
            try FileSystem.io("ftruncate", path) { try fd.resize(to: Int64(size)) }
            try map(bytes: size, writable: false)
        }
        sizeBytes = size
        syncedBytes = min(syncedBytes, size)
    }

    func sync(_ syscall: FlushSyscall) throws(StorageError) {
        let fd = try descriptor()
        if writable, let mapping, sizeBytes > syncedBytes {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let start = (syncedBytes / page) * page
            guard msync(mapping + start, sizeBytes - start, MS_SYNC) == 0 else {
                throw .io(operation: "msync", path: path, errno: errno)
            }
            // msync(MS_SYNC) is a data sync of the range; fsync adds the metadata.
            if syscall == .fsync { try FileSystem.sync(fd, .fsync, path: path) }
        } else {
            try FileSystem.sync(fd, syscall, path: path)
        }
        syncedBytes = sizeBytes
    }

    func seal() throws(StorageError) {
        guard writable else { return }
        let fd = try descriptor()
        unmap()
        try FileSystem.io("ftruncate", path) { try fd.resize(to: Int64(sizeBytes)) }
        try map(bytes: sizeBytes, writable: false)
    }

    func reactivate(capacityBytes: Int) throws(StorageError) {
        let fd = try descriptor()
        let capacity = max(capacityBytes, sizeBytes, 1)
        try FileSystem.preallocate(fd, bytes: capacity, path: path)
        try map(bytes: capacity, writable: true)
    }

    func persistIndexes(offsetIndex: inout OffsetIndex, timeIndex: inout TimeIndex) throws(StorageError) {
        try indexFiles.persist(offsetIndex: &offsetIndex, timeIndex: &timeIndex)
    }

    func syncIndexes(_ syscall: FlushSyscall) throws(StorageError) {
        try indexFiles.sync(syscall)
        if !writable { indexFiles.closeFiles() }
    }

    func loadIndexes() throws(StorageError) -> (offsetIndex: [UInt8]?, timeIndex: [UInt8]?) {
        try indexFiles.load()
    }

    func close() throws(StorageError) {
        indexFiles.closeFiles()
        guard let fd else { return }
        let wasWritable = writable
        unmap()
        defer { self.fd = nil }
        if wasWritable {
            try FileSystem.io("ftruncate", path) { try fd.resize(to: Int64(sizeBytes)) }
        }
        try FileSystem.io("close", path) { try fd.close() }
    }

    func abandon() {
        indexFiles.closeFiles()
        unmap()
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

/// The mmap backend of one partition directory.
struct MmapBackend: DurableLogBackend {
    let directory: PartitionDirectory

    func createSegment(baseOffset: Int64, capacityBytes: Int, nowMs: Int64) throws(StorageError) -> any SegmentStorage {
        try MmapSegmentStorage.create(directory: directory.path, baseOffset: baseOffset, capacityBytes: capacityBytes, nowMs: nowMs)
    }

    func openSegment(baseOffset: Int64) throws(StorageError) -> any SegmentStorage {
        try MmapSegmentStorage.open(directory: directory.path, baseOffset: baseOffset)
    }
}
