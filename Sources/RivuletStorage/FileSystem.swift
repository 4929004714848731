import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// swift-system's file descriptor (NIOCore has a type of the same name).
typealias SystemFileDescriptor = SystemPackage.FileDescriptor

/// `array.withUnsafeBytes` passing a typed error through (the standard library's is untyped).
@inline(__always)
func withBytes<T>(of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(StorageError) -> T) throws(StorageError) -> T {
    try array.withUnsafeBytes { bytes in Result { () throws(StorageError) -> T in try body(bytes) } }.get()
}

/// `array.withUnsafeMutableBytes` passing a typed error through.
@inline(__always)
func withMutableBytes<T>(of array: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(StorageError) -> T) throws(StorageError) -> T {
    try array.withUnsafeMutableBytes { bytes in Result { () throws(StorageError) -> T in try body(bytes) } }.get()
}

/// The POSIX file operations the durable backends and engines need, each failing with
/// `StorageError.io` that names the operation, the path and the errno.
enum FileSystem {
    static let permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
    static let directoryPermissions: FilePermissions = [.ownerReadWriteExecute, .groupReadExecute, .otherReadExecute]

    /// Runs a swift-system call, turning its `Errno` into `StorageError.io`.
    @inline(__always)
    static func io<T>(_ operation: String, _ path: String, _ body: () throws -> T) throws(StorageError) -> T {
        do {
            return try body()
        } catch let error as Errno {
            throw .io(operation: operation, path: path, errno: error.rawValue)
        } catch {
            throw .io(operation: operation, path: path, errno: EIO)
        }
    }

    /// Checks a C call's `-1` result.
    @inline(__always)
    static func check(_ result: Int32, _ operation: String, _ path: String) throws(StorageError) {
        if result == -1 { throw .io(operation: operation, path: path, errno: errno) }
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// `path` made absolute against the working directory.
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return join(cwd, path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    enum Kind { case missing, directory, other }

    /// What `path` is (following symlinks), or the errno of a failed stat other than ENOENT.
    static func kind(of path: String) -> (kind: Kind, errno: Int32) {
        var info = stat()
        if stat(path, &info) == 0 {
            return ((info.st_mode & S_IFMT) == S_IFDIR ? .directory : .other, 0)
        }
        let code = errno
        return (code == ENOENT ? .missing : .other, code)
    }

    /// `mkdir -p`.
    static func createDirectories(_ path: String) throws(StorageError) {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            if mkdir(built, directoryPermissions.rawValue) != 0, errno != EEXIST {
                throw .io(operation: "mkdir", path: built, errno: errno)
            }
        }
    }

    /// The names in a directory, without `.` and `..`.
    static func list(_ path: String) throws(StorageError) -> [String] {
        guard let directory = opendir(path) else { throw .io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a file; a missing file is fine.
    static func removeFile(_ path: String) throws(StorageError) {
        if unlink(path) != 0, errno != ENOENT { throw .io(operation: "unlink", path: path, errno: errno) }
    }

    /// `rm -rf` of a directory tree (symlinks are removed, not followed).
    static func removeTree(_ path: String) throws(StorageError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw .io(operation: "lstat", path: path, errno: errno)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try list(path) { try removeTree(join(path, name)) }
            if rmdir(path) != 0, errno != ENOENT { throw .io(operation: "rmdir", path: path, errno: errno) }
        } else {
            try removeFile(path)
        }
    }

    static func renameItem(_ from: String, to: String) throws(StorageError) {
        try check(rename(from, to), "rename to \(to)", from)
    }

    /// fsync of a directory, so that entries created, renamed or removed in it are durable.
    static func syncDirectory(_ path: String) throws(StorageError) {
        let fd = try io("open directory", path) {
            try SystemFileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec])
        }
        defer { try? fd.close() }
        try check(fsync(fd.rawValue), "fsync directory", path)
    }

    static func openFile(_ path: String, _ mode: SystemFileDescriptor.AccessMode,
                     options: SystemFileDescriptor.OpenOptions = []) throws(StorageError) -> SystemFileDescriptor {
        try io("open", path) {
            try SystemFileDescriptor.open(FilePath(path), mode, options: options.union(.closeOnExec), permissions: permissions)
        }
    }

    /// The size of an open file.
    static func size(of fd: SystemFileDescriptor, path: String) throws(StorageError) -> Int {
        var info = stat()
        try check(fstat(fd.rawValue, &info), "fstat", path)
        return Int(info.st_size)
    }

    /// The modification time of an open file, in milliseconds since the epoch.
    static func modificationTimeMs(of fd: SystemFileDescriptor) -> Int64 {
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else { return 0 }
        #if os(Linux)
        return Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
        #else
        return Int64(info.st_mtimespec.tv_sec) * 1000 + Int64(info.st_mtimespec.tv_nsec) / 1_000_000
        #endif
    }

    /// fsync or fdatasync.
    static func sync(_ fd: SystemFileDescriptor, _ syscall: FlushSyscall, path: String) throws(StorageError) {
        switch syscall {
        case .fsync: try check(fsync(fd.rawValue), "fsync", path)
        case .fdatasync: try check(fdatasync(fd.rawValue), "fdatasync", path)
        }
    }

    /// Reads exactly `buffer.count` bytes at `offset`; throws on a short file.
    static func readExactly(_ fd: SystemFileDescriptor, at offset: Int, into buffer: UnsafeMutableRawBufferPointer,
                            path: String) throws(StorageError) {
        var done = 0
        while done < buffer.count {
            let part = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let count = try io("pread", path) { try fd.read(fromAbsoluteOffset: Int64(offset + done), into: part) }
            if count == 0 { throw .io(operation: "pread (unexpected end of file)", path: path, errno: EIO) }
            done += count
        }
    }

    /// Writes `first` then `second`, back to back, at `offset`: one pwritev, continued after short
    /// writes. Two pieces cover every caller (a stamped base offset and the rest of a batch) without
    /// allocating.
    static func writeAll(_ fd: SystemFileDescriptor, at offset: Int, _ first: UnsafeRawBufferPointer,
                         _ second: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                         path: String) throws(StorageError) {
        var first = first
        var second = second
        var written = 0
        while first.count + second.count > 0 {
            let count = withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors -> Int in
                vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count)
                vectors[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count)
                return pwritev(fd.rawValue, vectors.baseAddress, 2, off_t(offset + written))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "pwritev", path: path, errno: errno)
            }
            if count == 0 { throw .io(operation: "pwritev (no progress)", path: path, errno: EIO) }
            written += count
            let fromFirst = min(count, first.count)
            first = UnsafeRawBufferPointer(rebasing: first[fromFirst...])
            second = UnsafeRawBufferPointer(rebasing: second[(count - fromFirst)...])
        }
    }

    /// The whole file, or nil when it does not exist.
    static func readFile(_ path: String) throws(StorageError) -> [UInt8]? {
        let fd: SystemFileDescriptor
        do {
            fd = try SystemFileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
        } catch let error as Errno where error == .noSuchFileOrDirectory {
            return nil
        } catch let error as Errno {
            throw .io(operation: "open", path: path, errno: error.rawValue)
        } catch {
            throw .io(operation: "open", path: path, errno: EIO)
        }
        defer { try? fd.close() }
        let size = try size(of: fd, path: path)
        var bytes = [UInt8](repeating: 0, count: size)
        try withMutableBytes(of: &bytes) { (buffer: UnsafeMutableRawBufferPointer) throws(StorageError) in
            try readExactly(fd, at: 0, into: buffer, path: path)
        }
        return bytes
    }

    /// Replaces `path` atomically: write a temporary file, fsync it, rename it over `path`, fsync the
    /// directory. A crash leaves either the old or the new content.
    static func writeAtomically(_ path: String, bytes: [UInt8]) throws(StorageError) {
        let temporary = path + ".tmp"
        let fd = try openFile(temporary, .writeOnly, options: [.create, .truncate])
        do throws(StorageError) {
            try withBytes(of: bytes) { (buffer: UnsafeRawBufferPointer) throws(StorageError) in
                try writeAll(fd, at: 0, buffer, path: temporary)
            }
            try sync(fd, .fsync, path: temporary)
            try io("close", temporary) { try fd.close() }
        } catch {
            try? fd.close()
            try? removeFile(temporary)
            throw error
        }
        try renameItem(temporary, to: path)
        let slash = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        try syncDirectory(slash.isEmpty ? "/" : slash)
    }

    /// Whether `[position, end)` of the file holds only zero bytes, skipping holes with SEEK_DATA.
    /// `readRange` reads a range of the file into the buffer it is given.
    static func isZeroFilled(_ fd: SystemFileDescriptor, from position: Int, to end: Int, path: String,
                             readRange: (Int, UnsafeMutableRawBufferPointer) throws(StorageError) -> Void) throws(StorageError) -> Bool {
        var position = position
        let chunkBytes = 1 << 20
        return try withUnsafeTemporaryAllocation(byteCount: chunkBytes, alignment: 16) { scratch throws(StorageError) -> Bool in
            while position < end {
                // Skip holes (and, on ext4 and xfs, preallocated extents never written).
                let data = lseek(fd.rawValue, off_t(position), seekData)
                if data < 0 {
                    if errno == ENXIO { return true }
                } else if Int(data) > position {
                    position = Int(data)
                    continue
                }
                let count = min(chunkBytes, end - position)
                let part = UnsafeMutableRawBufferPointer(rebasing: scratch[0 ..< count])
                try readRange(position, part)
                if part.contains(where: { $0 != 0 }) { return false }
                position += count
            }
            return true
        }
    }

    /// Just past the last non-zero byte in `[position, end)` (`position` when there is none), reading
    /// only the file's data regions (SEEK_DATA / SEEK_HOLE).
    static func dataEnd(_ fd: SystemFileDescriptor, from position: Int, to end: Int, path: String,
                        readRange: (Int, UnsafeMutableRawBufferPointer) throws(StorageError) -> Void) throws(StorageError) -> Int {
        var position = position
        var lastEnd = position
        let chunkBytes = 1 << 20
        return try withUnsafeTemporaryAllocation(byteCount: chunkBytes, alignment: 16) { scratch throws(StorageError) -> Int in
            while position < end {
                var regionEnd = end
                let data = lseek(fd.rawValue, off_t(position), seekData)
                if data < 0 {
                    if errno == ENXIO { break }
                } else {
                    position = Int(data)
                    let hole = lseek(fd.rawValue, off_t(position), seekHole)
                    if hole > 0 { regionEnd = min(end, Int(hole)) }
                }
                while position < regionEnd {
                    let count = min(chunkBytes, regionEnd - position)
                    let part = UnsafeMutableRawBufferPointer(rebasing: scratch[0 ..< count])
                    try readRange(position, part)
                    if let last = part.lastIndex(where: { $0 != 0 }) { lastEnd = position + last + 1 }
                    position += count
                }
            }
            return lastEnd
        }
    }

    /// `SEEK_DATA`, which Glibc's Swift module does not export (it needs _GNU_SOURCE).
    #if os(Linux)
    static let seekData: Int32 = 3
    static let seekHole: Int32 = 4
    #else
    static let seekData: Int32 = -1
    static let seekHole: Int32 = -1
    #endif

    /// Reserves disk blocks for `[0, bytes)` (extending the file), so that writes through a mapping
    /// cannot fail with SIGBUS on a full disk; falls back to a sparse `ftruncate`.
    static func preallocate(_ fd: SystemFileDescriptor, bytes: Int, path: String) throws(StorageError) {
        let result = posix_fallocate(fd.rawValue, 0, off_t(bytes))
        if result == 0 { return }
        guard result == EOPNOTSUPP || result == EINVAL || result == ENOSYS else {
            throw .io(operation: "posix_fallocate \(bytes) bytes", path: path, errno: result)
        }
        if try size(of: fd, path: path) < bytes {
            try io("ftruncate", path) { try fd.resize(to: Int64(bytes)) }
        }
    }

    // MARK: Segment file names

    static let logSuffix = ".log"
    static let offsetIndexSuffix = ".index"
    static let timeIndexSuffix = ".timeindex"

    /// Kafka's 20-digit, zero-padded file name for a segment starting at `baseOffset`.
    static func segmentFileName(baseOffset: Int64, suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The base offset in a segment file name, or nil when `name` is not `<20 digits><suffix>`.
    static func baseOffset(fromFileName name: String, suffix: String) -> Int64? {
        guard name.hasSuffix(suffix) else { return nil }
        let digits = name.dropLast(suffix.count)
        guard digits.count == 20, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int64(digits)
    }
}
