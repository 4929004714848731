import RivuletWire

/// OMB's `keyDistributor`: how producers choose record keys.
public enum KeyDistributorType: String, Sendable, CaseIterable {
    /// No key (OMB's default): the client spreads records over partitions itself.
    case noKey = "NO_KEY"
    /// Cycles through a pool of 10,000 random keys.
    case keyRoundRobin = "KEY_ROUND_ROBIN"
    /// A random key from the pool per record (OMB indexes by `System.nanoTime`; Rivulet draws
    /// from the seeded generator so a run replays).
    case randomNano = "RANDOM_NANO"
}

/// Kafka's producer `acks`.
public enum WorkloadAcks: Sendable, Equatable, CustomStringConvertible {
    /// `acks=0`: fire and forget; the send completes once handed to the network.
    case none
    /// `acks=1`: the partition leader has appended the batch.
    case leader
    /// `acks=all` (or `-1`): every in-sync replica has the batch.
    case all

    /// The value on the wire: 0, 1 or -1.
    public var kafkaValue: Int16 {
        switch self {
        case .none: 0
        case .leader: 1
        case .all: -1
        }
    }

    public var description: String {
        switch self {
        case .none: "0"
        case .leader: "1"
        case .all: "all"
        }
    }

    /// Parses `0`, `1`, `all` or `-1`.
    public init?(text: String) {
        switch text.lowercased() {
        case "0": self = .none
        case "1": self = .leader
        case "all", "-1": self = .all
        default: return nil
        }
    }
}

/// Where an embedded cluster keeps its logs: `memory://`, `file:///dir` or `mmap:///dir`.
public enum WorkloadStorage: Sendable, Equatable, CustomStringConvertible {
    /// In memory; nothing survives the process.
    case memory
    /// Segment files with index files under an absolute directory.
    case file(directory: String)
    /// Memory-mapped segment files under an absolute directory.
    case mmap(directory: String)

    public var description: String {
        switch self {
        case .memory: "memory://"
        case .file(let directory): "file://\(directory)"
        case .mmap(let directory): "mmap://\(directory)"
        }
    }

    /// The scheme alone (`memory`, `file`, `mmap`), for file names and labels.
    public var scheme: String {
        switch self {
        case .memory: "memory"
        case .file: "file"
        case .mmap: "mmap"
        }
    }

    /// Parses a storage URL; nil (with the reason) when the scheme is unknown or a path is not absolute.
    public static func parse(_ text: String) -> Result<WorkloadStorage, FaultParseError> {
        if text == "memory://" || text == "memory" { return .success(.memory) }
        for (scheme, make) in [("file://", { WorkloadStorage.file(directory: $0) }),
                               ("mmap://", { WorkloadStorage.mmap(directory: $0) })] as [(String, (String) -> WorkloadStorage)] {
            if text.hasPrefix(scheme) {
                let path = String(text.dropFirst(scheme.count))
                guard path.hasPrefix("/"), path.count > 1 else {
                    return .failure(FaultParseError("'\(text)' needs an absolute directory, like \(scheme)/var/tmp/rivulet"))
                }
                return .success(make(path))
            }
        }
        return .failure(FaultParseError("unknown storage '\(text)'; supported: memory://, file:///dir, mmap:///dir"))
    }
}

/// How requests reach an embedded broker.
public enum WorkloadTransport: String, Sendable, CaseIterable {
    /// Typed requests handed over in process, nothing encoded.
    case inproc
    /// The Kafka wire protocol over TCP on 127.0.0.1.
    case tcp
}

/// `host:port` of a bootstrap server.
public struct WorkloadHostPort: Sendable, Hashable, CustomStringConvertible {
    /// Host name or address.
    public var host: String
    /// TCP port, 1...65535.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}

/// What the runner drives: an embedded Rivulet cluster or an external Kafka-compatible cluster.
public enum WorkloadTarget: Sendable, Equatable, CustomStringConvertible {
    /// A Rivulet cluster in this process, shaped by `brokers`, `storage` and `transport`.
    case embedded
    /// An external cluster reached through these bootstrap servers (`kafka://h1:9092,h2:9092`).
    case kafka(bootstrap: [WorkloadHostPort])

    public var description: String {
        switch self {
        case .embedded: "embedded"
        case .kafka(let servers): "kafka://" + servers.map(\.description).joined(separator: ",")
        }
    }

    /// Parses `embedded` or `kafka://host:port[,host:port...]`.
    public static func parse(_ text: String) -> Result<WorkloadTarget, FaultParseError> {
        if text == "embedded" { return .success(.embedded) }
        guard text.hasPrefix("kafka://") else {
            return .failure(FaultParseError("unknown target '\(text)'; supported: embedded, kafka://host:port"))
        }
        var servers: [WorkloadHostPort] = []
        for part in text.dropFirst("kafka://".count).split(separator: ",", omittingEmptySubsequences: false) {
            guard let colon = part.lastIndex(of: ":") else {
                return .failure(FaultParseError("'\(part)' in target needs a port, like kafka://localhost:9092"))
            }
            let host = String(part[..<colon])
            guard !host.isEmpty, let port = Int(part[part.index(after: colon)...]), (1 ... 65535).contains(port) else {
                return .failure(FaultParseError("'\(part)' in target is not host:port with a port in 1...65535"))
            }
            servers.append(WorkloadHostPort(host: host, port: port))
        }
        return .success(.kafka(bootstrap: servers))
    }
}

extension CompressionCodec {
    /// Parses a spec `compression` value (Kafka's `compression.type` names).
    static func parseSpecValue(_ text: String) -> CompressionCodec? { CompressionCodec(name: text) }
}
