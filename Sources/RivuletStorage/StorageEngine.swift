import Logging
import RivuletCore

/// A broker's storage: it opens, creates and deletes partition logs, lists the partitions it holds,
/// and keeps small metadata documents. One per broker, chosen by URL (`StorageEngines.open`).
///
/// Thread-safe: the engine may be shared by every partition of a broker. The logs it opens are not
/// (each has one owner, see `LogStore`).
public protocol StorageEngine: AnyObject, Sendable {
    /// The URL the engine was opened with.
    var url: String { get }

    /// Whether logs and documents survive the process (`file://`, `mmap://`) or not (`memory://`).
    var isDurable: Bool { get }

    /// Opens the partition's log, creating it when it does not exist; a durable log runs crash
    /// recovery first (see `LogStore.recoveryReport`). Throws `.logAlreadyOpen` when it is open
    /// already, `.invalidTopicName` / `.invalidPartition` for bad names, `.invalidConfig`.
    func openLog(_ topicPartition: TopicPartition, config: LogConfig) throws(StorageError) -> any LogStore

    /// Deletes a closed partition's log and its directory. Throws `.logInUse` while it is open and
    /// `.logNotFound` when there is none.
    func deleteLog(_ topicPartition: TopicPartition) throws(StorageError)

    /// The partitions that have a log (on disk for durable engines), sorted.
    func partitions() throws(StorageError) -> [TopicPartition]

    /// Stores a small document (broker metadata) under `name` (`[a-zA-Z0-9._-]`, at most 200
    /// characters), replacing it atomically: a crash leaves the old or the new bytes, never a mix.
    func storeDocument(named name: String, bytes: [UInt8]) throws(StorageError)

    /// The document stored under `name`, or nil.
    func loadDocument(named name: String) throws(StorageError) -> [UInt8]?

    /// Releases the engine (the data directory's lock). Close its logs first: throws `.logInUse`
    /// while one is open. Closing twice is allowed.
    func close() throws(StorageError)
}

/// The factory of storage engines: `memory://`, `file:///dir`, `mmap:///dir`.
public enum StorageEngines {
    /// The URL schemes `open` accepts.
    public static let supportedSchemes = ["memory", "file", "mmap"]

    /// Opens the engine a URL names.
    ///
    /// - `memory://` keeps everything in this process (a closed log keeps its data until the engine
    ///   goes away); `memory://?reserve.bytes=N` keeps N bytes of pre-faulted chunk memory ready so
    ///   that appends do not wait for the kernel to fault in fresh pages (filled in the background);
    ///   `huge.pages=true` advises large chunks onto transparent huge pages;
    /// - `file:///dir` stores segments in files read and written with pread/pwrite;
    /// - `mmap:///dir` stores segments in preallocated, memory-mapped files.
    ///
    /// A relative path (`file://data`) is taken from the working directory. The directory is created
    /// when missing. Throws `.unsupportedScheme` listing the supported schemes, `.invalidURL`,
    /// `.notADirectory`, `.cannotCreateDirectory`, `.directoryNotWritable` or `.directoryLocked`.
    public static func open(url: String, clock: any EngineClock = SystemClock(),
                            logger: Logger = Logger(label: "rivulet.storage")) throws(StorageError) -> any StorageEngine {
        let parsed = try StorageURL(url)
        switch parsed.scheme {
        case "memory":
            return MemoryStorageEngine(url: url, clock: clock, logger: logger, reserveBytes: parsed.memoryReserveBytes,
                                       hugePages: parsed.memoryHugePages)
        case "file":
            return try DirectoryStorageEngine(url: url, kind: .file, directory: parsed.path, clock: clock, logger: logger)
        case "mmap":
            return try DirectoryStorageEngine(url: url, kind: .mmap, directory: parsed.path, clock: clock, logger: logger)
        default:
            throw .unsupportedScheme(scheme: parsed.scheme, supported: supportedSchemes)
        }
    }
}

/// A parsed storage URL: `scheme://path`.
struct StorageURL: Sendable, Hashable {
    /// The largest `reserve.bytes` accepted for `memory://` (64 GiB).
    static let memoryReserveBytesMax = 64 << 30

    var scheme: String
    var path: String
    /// `memory://?reserve.bytes=N`: bytes of pre-faulted chunks the memory engine keeps ready (0: none).
    var memoryReserveBytes = 0
    /// `memory://?huge.pages=true`: advise large memory chunks onto transparent huge pages.
    var memoryHugePages = false

    init(_ url: String) throws(StorageError) {
        let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw .invalidURL(url, reason: "expected scheme://path, for example memory://, file:///var/lib/rivulet or mmap:///data")
        }
        let scheme = parts[0].lowercased()
        guard !scheme.isEmpty else { throw .invalidURL(url, reason: "the scheme is empty") }
        self.scheme = scheme
        let rest = String(parts[1])
        switch scheme {
        case "memory":
            let pieces = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            path = String(pieces[0])
            if pieces.count == 2 {
                for option in pieces[1].split(separator: "&") {
                    let pair = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    switch (pair.first, pair.count) {
                    case ("reserve.bytes", 2):
                        guard let bytes = Int(pair[1]), bytes >= 0, bytes <= Self.memoryReserveBytesMax else {
                            throw .invalidURL(url, reason: "reserve.bytes must be a whole number of bytes from 0 to \(Self.memoryReserveBytesMax)")
                        }
                        memoryReserveBytes = bytes
                    case ("huge.pages", 2):
                        guard let on = Bool(String(pair[1])) else {
                            throw .invalidURL(url, reason: "huge.pages must be true or false")
                        }
                        memoryHugePages = on
                    default:
                        throw .invalidURL(url, reason: "unknown memory:// option '\(option)' (supported: reserve.bytes=N, huge.pages=true|false)")
                    }
                }
            }
        case "file", "mmap":
            guard !rest.isEmpty else { throw .invalidURL(url, reason: "\(scheme):// needs a directory, as in \(scheme):///var/lib/rivulet") }
            guard !rest.contains("?"), !rest.contains("#") else {
                throw .invalidURL(url, reason: "query strings and fragments are not supported")
            }
            // file://localhost/dir is file:///dir.
            let local = rest.hasPrefix("localhost/") ? String(rest.dropFirst("localhost".count)) : rest
            path = FileSystem.absolute(local)
        default:
            throw .unsupportedScheme(scheme: scheme, supported: StorageEngines.supportedSchemes)
        }
    }
}

/// Document names: what a file name in the documents directory may be.
enum DocumentName {
    static let bytesMax = 200

    static func validate(_ name: String) throws(StorageError) {
        if name.isEmpty { throw .invalidDocumentName(name, reason: "the name is empty") }
        if name.utf8.count > bytesMax { throw .invalidDocumentName(name, reason: "longer than \(bytesMax) characters") }
        if name == "." || name == ".." || name.hasSuffix(".tmp") {
            throw .invalidDocumentName(name, reason: "'.', '..' and names ending in .tmp are reserved")
        }
        for byte in name.utf8 where !TopicPartition.isLegalTopicByte(byte) {
            throw .invalidDocumentName(name, reason: "only ASCII letters, digits, '.', '_' and '-' are allowed")
        }
    }
}
