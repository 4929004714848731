import Logging

/// A partition's directory under a data directory (`<dir>/<topic>-<partition>/`), shared by the file
/// and mmap backends: segment files, the checkpoint, and leftovers to clean.
struct PartitionDirectory: Sendable {
    let path: String
    let topicPartition: TopicPartition
    /// Tells the engine the log is closed.
    let release: @Sendable () -> Void

    /// The base offsets of the `.log` files, in order.
    func segmentBaseOffsets() throws(StorageError) -> [Int64] {
        try FileSystem.list(path).compactMap { FileSystem.baseOffset(fromFileName: $0, suffix: FileSystem.logSuffix) }.sorted()
    }

    /// Removes what a crash can leave behind: temporary files and index files without a segment.
    func removeStrayFiles(logger: Logger) throws(StorageError) {
        let names = try FileSystem.list(path)
        let segments = Set(names.compactMap { FileSystem.baseOffset(fromFileName: $0, suffix: FileSystem.logSuffix) })
        for name in names {
            var stray = name.hasSuffix(".tmp") || name.hasSuffix(".deleted")
            for suffix in [FileSystem.offsetIndexSuffix, FileSystem.timeIndexSuffix] {
                if let base = FileSystem.baseOffset(fromFileName: name, suffix: suffix), !segments.contains(base) { stray = true }
            }
            if stray {
                logger.info("removing stray file", metadata: ["file": "\(name)"])
                try FileSystem.removeFile(FileSystem.join(path, name))
            }
        }
    }

    var checkpointPath: String { FileSystem.join(path, PartitionCheckpoint.fileName) }

    /// The checkpoint, or nil when missing or unreadable (logged: recovery then scans everything).
    func readCheckpoint(logger: Logger) -> PartitionCheckpoint? {
        let bytes: [UInt8]?
        do throws(StorageError) {
            bytes = try FileSystem.readFile(checkpointPath)
        } catch {
            logger.warning("cannot read checkpoint; recovering the whole log", metadata: ["error": "\(error)"])
            return nil
        }
        guard let bytes else { return nil }
        switch PartitionCheckpoint.decode(bytes) {
        case let .success(checkpoint):
            return checkpoint
        case let .failure(error):
            logger.warning("corrupt checkpoint; recovering the whole log", metadata: ["reason": "\(error.reason)"])
            return nil
        }
    }

    func writeCheckpoint(_ checkpoint: PartitionCheckpoint) throws(StorageError) {
        try FileSystem.writeAtomically(checkpointPath, bytes: checkpoint.encode())
    }

    func syncDirectory() throws(StorageError) {
        try FileSystem.syncDirectory(path)
    }
}

/// A backend whose segments live in files in a partition directory, and can be reopened.
protocol DurableLogBackend: LogBackend {
    var directory: PartitionDirectory { get }
    /// Opens an existing segment file (sealed; recovery reactivates the last one).
    func openSegment(baseOffset: Int64) throws(StorageError) -> any SegmentStorage
}

extension DurableLogBackend {
    var isDurable: Bool { true }

    func syncDirectory() throws(StorageError) { try directory.syncDirectory() }

    func writeCheckpoint(_ checkpoint: PartitionCheckpoint) throws(StorageError) {
        try directory.writeCheckpoint(checkpoint)
    }

    func didClose(segments _: [LogSegment], logStartOffset _: Int64) {
        directory.release()
    }
}
