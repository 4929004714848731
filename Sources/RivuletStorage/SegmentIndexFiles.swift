import NIOCore
import SystemPackage

/// A segment's `.index` and `.timeindex` files, for the file and mmap backends.
///
/// Entries are appended at flush time from the in-memory indexes. The files are a cache: recovery
/// checks them against the segment's bytes and rebuilds them when they are missing, short or wrong,
/// so only sealed segments' files are ever synced.
final class SegmentIndexFiles {
    let offsetIndexPath: String
    let timeIndexPath: String
    private var offsetFD: SystemFileDescriptor?
    private var timeFD: SystemFileDescriptor?
    private var writtenSinceSync = false

    init(directory: String, baseOffset: Int64) {
        offsetIndexPath = FileSystem.join(directory, FileSystem.segmentFileName(baseOffset: baseOffset, suffix: FileSystem.offsetIndexSuffix))
        timeIndexPath = FileSystem.join(directory, FileSystem.segmentFileName(baseOffset: baseOffset, suffix: FileSystem.timeIndexSuffix))
    }

    /// Replaces both files with empty ones (for a new segment), so that a segment without entries
    /// still has its index files and recovery does not take it for one that lost them.
    func createEmpty() throws(StorageError) {
        closeFiles()
        offsetFD = try FileSystem.openFile(offsetIndexPath, .readWrite, options: [.create, .truncate])
        timeFD = try FileSystem.openFile(timeIndexPath, .readWrite, options: [.create, .truncate])
        writtenSinceSync = true
    }

    /// Both files' bytes (nil for a missing file).
    func load() throws(StorageError) -> (offsetIndex: [UInt8]?, timeIndex: [UInt8]?) {
        (try FileSystem.readFile(offsetIndexPath), try FileSystem.readFile(timeIndexPath))
    }

    /// Writes what the files lack, cutting them first where the in-memory index was cut.
    func persist(offsetIndex: inout OffsetIndex, timeIndex: inout TimeIndex) throws(StorageError) {
        if offsetIndex.fileNeedsTruncation || offsetIndex.unpersistedCount > 0 {
            let fd = try descriptor(&offsetFD, offsetIndexPath)
            if offsetIndex.fileNeedsTruncation {
                try truncate(fd, to: offsetIndex.persistedCount * OffsetIndex.entrySize, path: offsetIndexPath)
                offsetIndex.fileNeedsTruncation = false
            }
            if offsetIndex.unpersistedCount > 0 {
                try write(offsetIndex.encode(from: offsetIndex.persistedCount), to: fd,
                          at: offsetIndex.persistedCount * OffsetIndex.entrySize, path: offsetIndexPath)
                offsetIndex.persistedCount = offsetIndex.count
            }
            writtenSinceSync = true
        }
        if timeIndex.fileNeedsTruncation || timeIndex.unpersistedCount > 0 {
            let fd = try descriptor(&timeFD, timeIndexPath)
            if timeIndex.fileNeedsTruncation {
                try truncate(fd, to: timeIndex.persistedCount * TimeIndex.entrySize, path: timeIndexPath)
                timeIndex.fileNeedsTruncation = false
            }
            if timeIndex.unpersistedCount > 0 {
                try write(timeIndex.encode(from: timeIndex.persistedCount), to: fd,
                          at: timeIndex.persistedCount * TimeIndex.entrySize, path: timeIndexPath)
                timeIndex.persistedCount = timeIndex.count
            }
            writtenSinceSync = true
        }
    }

    /// Syncs what was written since the last sync.
    func sync(_ syscall: FlushSyscall) throws(StorageError) {
        guard writtenSinceSync else { return }
        if let offsetFD { try FileSystem.sync(offsetFD, syscall, path: offsetIndexPath) }
        if let timeFD { try FileSystem.sync(timeFD, syscall, path: timeIndexPath) }
        writtenSinceSync = false
    }

    /// Closes the files (they are reopened if written again).
    func closeFiles() {
        try? offsetFD?.close()
        try? timeFD?.close()
        offsetFD = nil
        timeFD = nil
    }

    /// Closes and removes both files.
    func delete() throws(StorageError) {
        closeFiles()
        try FileSystem.removeFile(offsetIndexPath)
        try FileSystem.removeFile(timeIndexPath)
    }

    deinit { closeFiles() }

    private func descriptor(_ fd: inout SystemFileDescriptor?, _ path: String) throws(StorageError) -> SystemFileDescriptor {
        if let fd { return fd }
        let opened = try FileSystem.openFile(path, .readWrite, options: [.create])
        fd = opened
        return opened
    }

    private func truncate(_ fd: SystemFileDescriptor, to size: Int, path: String) throws(StorageError) {
        try FileSystem.io("ftruncate", path) { try fd.resize(to: Int64(size)) }
    }

    private func write(_ bytes: [UInt8], to fd: SystemFileDescriptor, at offset: Int, path: String) throws(StorageError) {
        try withBytes(of: bytes) { (buffer: UnsafeRawBufferPointer) throws(StorageError) in
            try FileSystem.writeAll(fd, at: offset, buffer, path: path)
        }
    }
}

extension ByteBuffer {
    /// Runs `body` over the readable bytes, passing a typed error through.
    @inline(__always)
    func withReadableBytes<T>(_ body: (UnsafeRawBufferPointer) throws(StorageError) -> T) throws(StorageError) -> T {
        let result: Result<T, StorageError> = withUnsafeReadableBytes { bytes in
            Result { () throws(StorageError) -> T in try body(bytes) }
        }
        return try result.get()
    }

    /// Appends `count` bytes produced by `fill` (which must fill the whole buffer it is given).
    @inline(__always)
    mutating func writeBytes(count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws(StorageError) -> Void) throws(StorageError) {
        var failure: StorageError?
        writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            do throws(StorageError) {
                try fill(UnsafeMutableRawBufferPointer(rebasing: bytes[0 ..< count]))
                return count
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
    }
}
