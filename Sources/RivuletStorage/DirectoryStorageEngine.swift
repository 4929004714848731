import Logging
import RivuletCore
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `file:///dir` and `mmap:///dir`: one directory per partition (`<dir>/<topic>-<partition>/`),
/// documents in `<dir>/.documents/`, and a `.lock` file held with `flock` so that only one engine
/// uses the directory at a time.
final class DirectoryStorageEngine: StorageEngine {
    enum Kind: Sendable {
        case file
        case mmap
    }

    static let lockFileName = ".lock"
    static let documentsDirectoryName = ".documents"
    static let deletingSuffix = "-delete"

    let url: String
    let kind: Kind
    let directory: String
    let clock: any EngineClock
    let logger: Logger
    private let lock: Mutex<SystemFileDescriptor?>
    private let openLogs = Mutex<Set<TopicPartition>>([])

    init(url: String, kind: Kind, directory: String, clock: any EngineClock, logger: Logger) throws(StorageError) {
        self.url = url
        self.kind = kind
        self.directory = directory
        self.clock = clock
        self.logger = logger
        try Self.prepare(directory)
        lock = Mutex(try Self.acquireLock(directory))
        do throws(StorageError) {
            try removeUnfinishedDeletions()
        } catch {
            if let fd = lock.withLock({ $0 }) { try? fd.close() }
            throw error
        }
    }

    deinit {
        if let fd = lock.withLock({ $0 }) { try? fd.close() }
    }

    var isDurable: Bool { true }

    /// Creates the directory if needed and checks it is a writable directory, saying what is wrong.
    static func prepare(_ directory: String) throws(StorageError) {
        switch FileSystem.kind(of: directory) {
        case (.directory, _):
            break
        case (.other, 0), (.other, ENOTDIR):
            throw .notADirectory(path: directory)
        case let (.other, code):
            throw .cannotCreateDirectory(path: directory, errno: code)
        case (.missing, _):
            do throws(StorageError) {
                try FileSystem.createDirectories(directory)
            } catch let StorageError.io(_, _, code) {
                throw code == ENOTDIR || code == EEXIST ? .notADirectory(path: directory) : .cannotCreateDirectory(path: directory, errno: code)
            } catch {
                throw error
            }
        }
        // Writable: create and remove a probe file (access(2) lies for root and read-only mounts).
        let probe = FileSystem.join(directory, ".rivulet-write-probe")
        do {
            let fd = try SystemFileDescriptor.open(FilePath(probe), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                                   permissions: FileSystem.permissions)
            try? fd.close()
            _ = unlink(probe)
        } catch let error as Errno {
            throw .directoryNotWritable(path: directory, errno: error.rawValue)
        } catch {
            throw .directoryNotWritable(path: directory, errno: EIO)
        }
    }

    /// Takes the directory's lock file (non-blocking).
    static func acquireLock(_ directory: String) throws(StorageError) -> SystemFileDescriptor {
        let path = FileSystem.join(directory, lockFileName)
        let fd = try FileSystem.openFile(path, .readWrite, options: [.create])
        if flock(fd.rawValue, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            try? fd.close()
            if code == EWOULDBLOCK { throw .directoryLocked(path: directory) }
            throw .io(operation: "flock", path: path, errno: code)
        }
        return fd
    }

    private func checkOpen() throws(StorageError) {
        if lock.withLock({ $0 == nil }) { throw .engineClosed }
    }

    // MARK: Logs

    func openLog(_ topicPartition: TopicPartition, config: LogConfig) throws(StorageError) -> any LogStore {
        switch kind {
        case .file: return try open(topicPartition, config: config, fullRecovery: false) { FileBackend(directory: $0) }
        case .mmap: return try open(topicPartition, config: config, fullRecovery: false) { MmapBackend(directory: $0) }
        }
    }

    /// Opens a log with a chosen backend; `fullRecovery` checks every batch whatever the checkpoint says.
    func open(_ topicPartition: TopicPartition, config: LogConfig, fullRecovery: Bool,
              backend makeBackend: (PartitionDirectory) -> any DurableLogBackend) throws(StorageError) -> SegmentedLog {
        try checkOpen()
        try topicPartition.validate()
        try config.validate()
        let registered = openLogs.withLock { $0.insert(topicPartition).inserted }
        guard registered else { throw .logAlreadyOpen(partition: "\(topicPartition)") }
        do throws(StorageError) {
            let path = FileSystem.join(directory, topicPartition.directoryName)
            if case .missing = FileSystem.kind(of: path).kind {
                try FileSystem.createDirectories(path)
                try FileSystem.syncDirectory(directory)
            }
            let partitionDirectory = PartitionDirectory(path: path, topicPartition: topicPartition) { [weak self] in
                self?.release(topicPartition)
            }
            return try LogLoader.open(backend: makeBackend(partitionDirectory), topicPartition: topicPartition, config: config,
                                      clock: clock, logger: logger, fullRecovery: fullRecovery)
        } catch {
            release(topicPartition)
            throw error
        }
    }

    /// Opens a log checking every batch (not only those after the recovery point).
    func openLog(_ topicPartition: TopicPartition, config: LogConfig, fullRecovery: Bool) throws(StorageError) -> any LogStore {
        switch kind {
        case .file: return try open(topicPartition, config: config, fullRecovery: fullRecovery) { FileBackend(directory: $0) }
        case .mmap: return try open(topicPartition, config: config, fullRecovery: fullRecovery) { MmapBackend(directory: $0) }
        }
    }

    private func release(_ topicPartition: TopicPartition) {
        _ = openLogs.withLock { $0.remove(topicPartition) }
    }

    func deleteLog(_ topicPartition: TopicPartition) throws(StorageError) {
        try checkOpen()
        try topicPartition.validate()
        let registered = openLogs.withLock { $0.insert(topicPartition).inserted }
        guard registered else { throw .logInUse(partition: "\(topicPartition)") }
        defer { release(topicPartition) }
        let path = FileSystem.join(directory, topicPartition.directoryName)
        guard case .directory = FileSystem.kind(of: path).kind else { throw .logNotFound(partition: "\(topicPartition)") }
        // Kafka's way: rename first (atomic: the partition is gone at once, even across a crash),
        // then remove the renamed tree.
        let doomed = path + ".\(clock.monotonicNanoseconds())" + Self.deletingSuffix
        try FileSystem.renameItem(path, to: doomed)
        try FileSystem.syncDirectory(directory)
        try FileSystem.removeTree(doomed)
        logger.info("deleted log", metadata: ["partition": "\(topicPartition)"])
    }

    /// Finishes deletions a crash interrupted.
    private func removeUnfinishedDeletions() throws(StorageError) {
        for name in try FileSystem.list(directory) where name.hasSuffix(Self.deletingSuffix) {
            logger.info("removing partially deleted log", metadata: ["directory": "\(name)"])
            try FileSystem.removeTree(FileSystem.join(directory, name))
        }
    }

    func partitions() throws(StorageError) -> [TopicPartition] {
        try checkOpen()
        return try FileSystem.list(directory).compactMap { name -> TopicPartition? in
            guard let partition = TopicPartition(directoryName: name),
                  case .directory = FileSystem.kind(of: FileSystem.join(directory, name)).kind else { return nil }
            return partition
        }.sorted()
    }

    // MARK: Documents

    private var documentsDirectory: String { FileSystem.join(directory, Self.documentsDirectoryName) }

    func storeDocument(named name: String, bytes: [UInt8]) throws(StorageError) {
        try checkOpen()
        try DocumentName.validate(name)
        if case .missing = FileSystem.kind(of: documentsDirectory).kind {
            try FileSystem.createDirectories(documentsDirectory)
            try FileSystem.syncDirectory(directory)
        }
        try FileSystem.writeAtomically(FileSystem.join(documentsDirectory, name), bytes: bytes)
    }

    func loadDocument(named name: String) throws(StorageError) -> [UInt8]? {
        try checkOpen()
        try DocumentName.validate(name)
        return try FileSystem.readFile(FileSystem.join(documentsDirectory, name))
    }

    func close() throws(StorageError) {
        if let open = openLogs.withLock({ $0.min() }) { throw .logInUse(partition: "\(open)") }
        let fd = lock.withLock { lock -> SystemFileDescriptor? in
            defer { lock = nil }
            return lock
        }
        if let fd { try FileSystem.io("close", FileSystem.join(directory, Self.lockFileName)) { try fd.close() } }
    }
}
