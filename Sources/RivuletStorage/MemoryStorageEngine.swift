import Logging
import RivuletCore
import Synchronization

/// A closed memory log's segments, kept by its engine until the partition is reopened or deleted.
struct RetainedMemoryLog: @unchecked Sendable {
    // @unchecked Sendable: ownership moves from the closed log to the engine to the next owner;
    // nobody uses the segments while the engine holds them.
    var segments: [LogSegment]
    var logStartOffset: Int64
}

/// The memory engine's "disk": which partitions exist, which are open, and closed logs' data.
final class MemoryVolume: Sendable {
    private enum Entry {
        case open
        case closed(RetainedMemoryLog)
    }

    private let logs = Mutex<[TopicPartition: Entry]>([:])
    private let documents = Mutex<[String: [UInt8]]>([:])

    /// Marks the partition open and hands over its retained data (nil for a new log).
    func acquire(_ topicPartition: TopicPartition) throws(StorageError) -> RetainedMemoryLog? {
        let result: Result<RetainedMemoryLog?, StorageError> = logs.withLock { logs in
            switch logs[topicPartition] {
            case .open:
                return .failure(.logAlreadyOpen(partition: "\(topicPartition)"))
            case let .closed(retained):
                logs[topicPartition] = .open
                return .success(retained)
            case nil:
                logs[topicPartition] = .open
                return .success(nil)
            }
        }
        return try result.get()
    }

    /// Takes back a closed log's data.
    func release(_ topicPartition: TopicPartition, log: RetainedMemoryLog) {
        logs.withLock { $0[topicPartition] = .closed(log) }
    }

    /// Forgets a partition that failed to open.
    func forget(_ topicPartition: TopicPartition) {
        logs.withLock { _ = $0.removeValue(forKey: topicPartition) }
    }

    /// Removes a closed partition and returns its data for freeing.
    func remove(_ topicPartition: TopicPartition) throws(StorageError) -> RetainedMemoryLog {
        let result: Result<RetainedMemoryLog, StorageError> = logs.withLock { logs in
            switch logs[topicPartition] {
            case .open: return .failure(.logInUse(partition: "\(topicPartition)"))
            case nil: return .failure(.logNotFound(partition: "\(topicPartition)"))
            case let .closed(retained):
                logs.removeValue(forKey: topicPartition)
                return .success(retained)
            }
        }
        return try result.get()
    }

    var partitions: [TopicPartition] { logs.withLock { $0.keys.sorted() } }

    var openPartitions: [TopicPartition] {
        logs.withLock { logs in
            logs.compactMap { key, value in
                if case .open = value { key } else { nil }
            }.sorted()
        }
    }

    func storeDocument(_ name: String, bytes: [UInt8]) { documents.withLock { $0[name] = bytes } }

    func loadDocument(_ name: String) -> [UInt8]? { documents.withLock { $0[name] } }
}

/// `memory://`: logs and documents in this process's memory, for tests, simulation and benchmarks.
final class MemoryStorageEngine: StorageEngine {
    let url: String
    let clock: any EngineClock
    let logger: Logger
    let volume = MemoryVolume()
    let pool: MemoryChunkPool

    /// `reserveBytes`: pre-faulted chunk memory kept ready for appends; `hugePages`: advise large
    /// chunks onto transparent huge pages (see `MemoryChunkPool`).
    init(url: String, clock: any EngineClock, logger: Logger, reserveBytes: Int = 0, hugePages: Bool = false) {
        self.url = url
        self.clock = clock
        self.logger = logger
        pool = MemoryChunkPool(reserveBytes: reserveBytes, hugePages: hugePages)
    }

    var isDurable: Bool { false }

    func openLog(_ topicPartition: TopicPartition, config: LogConfig) throws(StorageError) -> any LogStore {
        try openMemoryLog(topicPartition, config: config)
    }

    func openMemoryLog(_ topicPartition: TopicPartition, config: LogConfig) throws(StorageError) -> SegmentedLog {
        try topicPartition.validate()
        try config.validate()
        let retained = try volume.acquire(topicPartition)
        let backend = MemoryBackend(topicPartition: topicPartition, pool: pool, volume: volume)
        let now = clock.wallMilliseconds()
        if let retained, let active = retained.segments.last {
            active.isSealed = false
            let logEndOffset = active.nextOffset
            let logStart = min(retained.logStartOffset, logEndOffset)
            return SegmentedLog(topicPartition: topicPartition, config: config, backend: backend, clock: clock, logger: logger,
                                segments: retained.segments, logStartOffset: logStart, recoveryPoint: logEndOffset,
                                recoveryReport: RecoveryReport(hadCleanShutdown: true, segmentCount: retained.segments.count,
                                                               logStartOffset: logStart, logEndOffset: logEndOffset))
        }
        let segment = LogSegment(baseOffset: 0, storage: backend.createSegment(baseOffset: 0, capacityBytes: config.segmentBytes, nowMs: now),
                                 nowMs: now)
        return SegmentedLog(topicPartition: topicPartition, config: config, backend: backend, clock: clock, logger: logger,
                            segments: [segment], logStartOffset: 0, recoveryPoint: 0, recoveryReport: RecoveryReport())
    }

    func deleteLog(_ topicPartition: TopicPartition) throws(StorageError) {
        let retained = try volume.remove(topicPartition)
        for segment in retained.segments { try segment.storage.delete() }
    }

    func partitions() -> [TopicPartition] { volume.partitions }

    func storeDocument(named name: String, bytes: [UInt8]) throws(StorageError) {
        try DocumentName.validate(name)
        volume.storeDocument(name, bytes: bytes)
    }

    func loadDocument(named name: String) throws(StorageError) -> [UInt8]? {
        try DocumentName.validate(name)
        return volume.loadDocument(name)
    }

    func close() throws(StorageError) {
        if let open = volume.openPartitions.first { throw .logInUse(partition: "\(open)") }
    }
}
