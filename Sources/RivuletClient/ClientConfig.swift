import RivuletCore
import RivuletTransport
import RivuletWire

/// Settings shared by producers, consumers and admin clients: Kafka's common client configs.
///
/// Names follow Kafka's properties (`request.timeout.ms` is `requestTimeoutMs`) and carry units.
/// `set(_:_:)` accepts Kafka's property names, so tools and workload specs can pass them through.
public struct ClientConfig: Sendable {
    /// `bootstrap.servers`: brokers to ask for metadata first; the rest are learnt from metadata.
    public var bootstrapServers: [BrokerAddress]
    /// `client.id`: sent in every request header (broker logs and quotas).
    public var clientId: String
    /// `request.timeout.ms`: how long to wait for one response before failing the request and
    /// closing its connection (Kafka's default 30000).
    public var requestTimeoutMs: Int64 = 30000
    /// `default.api.timeout.ms`: the bound on admin calls and consumer metadata/offset lookups,
    /// retries included (Kafka's default 60000).
    public var defaultApiTimeoutMs: Int64 = 60000
    /// `metadata.max.age.ms`: metadata older than this is refreshed on next use (default 300000).
    public var metadataMaxAgeMs: Int64 = 300_000
    /// `reconnect.backoff.ms`: the first wait before reconnecting to a broker that failed (50).
    public var reconnectBackoffMs: Int64 = 50
    /// `reconnect.backoff.max.ms`: the cap of the exponential reconnect backoff (1000).
    public var reconnectBackoffMaxMs: Int64 = 1000
    /// `retry.backoff.ms`: the first wait before retrying a failed request (100).
    public var retryBackoffMs: Int64 = 100
    /// `retry.backoff.max.ms`: the cap of the exponential retry backoff (1000).
    public var retryBackoffMaxMs: Int64 = 1000
    /// `allow.auto.create.topics`: whether metadata requests ask the broker to create unknown
    /// topics (the broker's `auto.create.topics.enable` must allow it too).
    public var allowAutoCreateTopics: Bool = true
    /// Rivulet: caps below the generated maxima per API, for tests and interop (empty: none).
    public var maxVersions: [ApiKey: Int16] = [:]
    /// The clock for timeouts, linger and backoff (inject a `ManualClock` in simulations).
    public var clock: any EngineClock
    /// Rivulet: the seed of the random choices (sticky partitions, backoff jitter).
    public var randomSeed: UInt64

    public init(bootstrapServers: [BrokerAddress], clientId: String = "rivulet",
                clock: any EngineClock = SystemClock(), randomSeed: UInt64 = 0x5EED_C11E) {
        self.bootstrapServers = bootstrapServers
        self.clientId = clientId
        self.clock = clock
        self.randomSeed = randomSeed
    }

    /// Sets a Kafka property by name. Returns false when the name is not a common client property
    /// (so the caller can try the producer's or consumer's own), throws when the value is invalid.
    public mutating func set(_ name: String, _ value: String) throws(ClientError) -> Bool {
        switch name {
        case "bootstrap.servers":
            var servers: [BrokerAddress] = []
            for part in value.split(separator: ",") where !part.isEmpty {
                guard let address = BrokerAddress(String(part)) else {
                    throw .invalidConfig(name: name, value: value, reason: "\(part) is not host:port")
                }
                servers.append(address)
            }
            guard !servers.isEmpty else { throw .invalidConfig(name: name, value: value, reason: "no address") }
            bootstrapServers = servers
        case "client.id": clientId = value
        case "request.timeout.ms": requestTimeoutMs = try ConfigValue.milliseconds(name, value, minimum: 1)
        case "default.api.timeout.ms": defaultApiTimeoutMs = try ConfigValue.milliseconds(name, value, minimum: 1)
        case "metadata.max.age.ms": metadataMaxAgeMs = try ConfigValue.milliseconds(name, value, minimum: 0)
        case "reconnect.backoff.ms": reconnectBackoffMs = try ConfigValue.milliseconds(name, value, minimum: 0)
        case "reconnect.backoff.max.ms": reconnectBackoffMaxMs = try ConfigValue.milliseconds(name, value, minimum: 0)
        case "retry.backoff.ms": retryBackoffMs = try ConfigValue.milliseconds(name, value, minimum: 0)
        case "retry.backoff.max.ms": retryBackoffMaxMs = try ConfigValue.milliseconds(name, value, minimum: 0)
        case "allow.auto.create.topics": allowAutoCreateTopics = try ConfigValue.bool(name, value)
        default: return false
        }
        return true
    }
}

/// `acks`: how many replicas must have a batch before the leader answers.
public enum Acks: Int16, Sendable, CaseIterable, CustomStringConvertible {
    /// `acks=0`: no response; records are reported sent with offset -1 once handed over.
    case none = 0
    /// `acks=1`: the leader has appended the batch.
    case leader = 1
    /// `acks=all` (-1): every in-sync replica has it (at least `min.insync.replicas`).
    case all = -1

    /// Parses Kafka's values: `0`, `1`, `all` or `-1`.
    public init?(name: String) {
        switch name.lowercased() {
        case "0": self = .none
        case "1": self = .leader
        case "all", "-1": self = .all
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .none: "0"
        case .leader: "1"
        case .all: "all"
        }
    }
}

/// Producer settings: Kafka's producer configs.
public struct ProducerConfig: Sendable {
    /// `acks` (default all).
    public var acks: Acks = .all
    /// `linger.ms`: how long a batch waits for more records before it is sent (Kafka 4's default 5).
    public var lingerMs: Int64 = 5
    /// `batch.size`: a partition's batch is closed once it holds this many bytes (16384). A record
    /// larger than this gets a batch of its own.
    public var batchSizeBytes: Int = 16384
    /// `compression.type`: none, gzip, snappy, lz4 or zstd.
    public var compression: CompressionCodec = .none
    /// `compression.<codec>.level`; nil is the codec's default.
    public var compressionLevel: Int?
    /// `buffer.memory`: bytes of records waiting or in flight before `send` waits (33554432).
    public var bufferMemoryBytes: Int = 33_554_432
    /// `max.block.ms`: how long `send` waits for metadata or buffer space before failing (60000).
    public var maxBlockMs: Int64 = 60000
    /// `max.in.flight.requests.per.connection` (5; at most 5 with idempotence).
    public var maxInFlightRequestsPerConnection: Int = 5
    /// `retries`: how often a batch is retried after a retriable error (Kafka's default is
    /// Int32.max: `delivery.timeout.ms` is the real bound).
    public var retries: Int = Int(Int32.max)
    /// `delivery.timeout.ms`: the bound from `send` to the outcome, retries included (120000).
    public var deliveryTimeoutMs: Int64 = 120_000
    /// `max.request.size`: the largest Produce request, and so the largest record (1048576).
    public var maxRequestSizeBytes: Int = 1_048_576
    /// `enable.idempotence`: InitProducerId plus per-partition sequences, so that retries neither
    /// duplicate nor reorder. Nil is Kafka's default: on, unless acks, retries or in-flight limits
    /// are incompatible (then silently off). Setting true with acks != all is a config error.
    public var enableIdempotence: Bool?
    /// `partitioner.ignore.keys`: use the sticky partitioner even for records with keys.
    public var partitionerIgnoreKeys: Bool = false

    public init() {}

    /// Whether idempotence is in effect after Kafka's defaulting rules.
    ///
    /// - Throws: `ClientError.invalidConfig` when idempotence is explicitly on with acks other than
    ///   all, no retries, or more than 5 requests in flight (Kafka's `ConfigException`).
    public func idempotenceEnabled() throws(ClientError) -> Bool {
        let compatible = acks == .all && retries > 0 && maxInFlightRequestsPerConnection <= 5
        switch enableIdempotence {
        case nil: return compatible
        case false?: return false
        case true?:
            guard compatible else {
                throw .invalidConfig(name: "enable.idempotence", value: "true",
                                     reason: "needs acks=all, retries > 0 and max.in.flight.requests.per.connection <= 5")
            }
            return true
        }
    }

    /// Checks the values against each other and their ranges.
    public func validate() throws(ClientError) {
        guard lingerMs >= 0 else { throw .invalidConfig(name: "linger.ms", value: "\(lingerMs)", reason: "negative") }
        guard batchSizeBytes >= 0 else { throw .invalidConfig(name: "batch.size", value: "\(batchSizeBytes)", reason: "negative") }
        guard bufferMemoryBytes > 0 else {
            throw .invalidConfig(name: "buffer.memory", value: "\(bufferMemoryBytes)", reason: "must be positive")
        }
        guard maxInFlightRequestsPerConnection >= 1 else {
            throw .invalidConfig(name: "max.in.flight.requests.per.connection", value: "\(maxInFlightRequestsPerConnection)",
                                 reason: "at least 1")
        }
        guard retries >= 0 else { throw .invalidConfig(name: "retries", value: "\(retries)", reason: "negative") }
        guard deliveryTimeoutMs > 0 else {
            throw .invalidConfig(name: "delivery.timeout.ms", value: "\(deliveryTimeoutMs)", reason: "must be positive")
        }
        guard maxRequestSizeBytes > 0 else {
            throw .invalidConfig(name: "max.request.size", value: "\(maxRequestSizeBytes)", reason: "must be positive")
        }
        guard maxBlockMs >= 0 else { throw .invalidConfig(name: "max.block.ms", value: "\(maxBlockMs)", reason: "negative") }
        _ = try idempotenceEnabled()
    }

    /// Sets a Kafka producer property by name; false when the name is not a producer property.
    public mutating func set(_ name: String, _ value: String) throws(ClientError) -> Bool {
        switch name {
        case "acks":
            guard let acks = Acks(name: value) else { throw .invalidConfig(name: name, value: value, reason: "expected 0, 1 or all") }
            self.acks = acks
        case "linger.ms": lingerMs = try ConfigValue.milliseconds(name, value, minimum: 0)
        case "batch.size": batchSizeBytes = try ConfigValue.int(name, value, minimum: 0)
        case "compression.type":
            guard let codec = CompressionCodec(name: value) else {
                throw .invalidConfig(name: name, value: value, reason: "expected none, gzip, snappy, lz4 or zstd")
            }
            compression = codec
        case "compression.gzip.level", "compression.lz4.level", "compression.zstd.level":
            compressionLevel = try ConfigValue.int(name, value, minimum: Int.min)
        case "buffer.memory": bufferMemoryBytes = try ConfigValue.int(name, value, minimum: 1)
        case "max.block.ms": maxBlockMs = try ConfigValue.milliseconds(name, value, minimum: 0)
        case "max.in.flight.requests.per.connection": maxInFlightRequestsPerConnection = try ConfigValue.int(name, value, minimum: 1)
        case "retries": retries = try ConfigValue.int(name, value, minimum: 0)
        case "delivery.timeout.ms": deliveryTimeoutMs = try ConfigValue.milliseconds(name, value, minimum: 1)
        case "max.request.size": maxRequestSizeBytes = try ConfigValue.int(name, value, minimum: 1)
        case "enable.idempotence": enableIdempotence = try ConfigValue.bool(name, value)
        case "partitioner.ignore.keys": partitionerIgnoreKeys = try ConfigValue.bool(name, value)
        default: return false
        }
        return true
    }
}

/// `auto.offset.reset`: where a consumer starts when it has no position, or its position is no
/// longer in the log (OFFSET_OUT_OF_RANGE).
public enum AutoOffsetReset: String, Sendable, CaseIterable {
    /// The log start offset.
    case earliest
    /// The log end offset (Kafka's default): only records produced from now on.
    case latest
    /// No reset: `poll` throws `ClientError.noOffsetForPartition` / `.offsetOutOfRange`.
    case none
}

/// `isolation.level`: which records a consumer may read.
public enum IsolationLevel: Int8, Sendable, CaseIterable {
    /// Everything up to the high watermark (default).
    case readUncommitted = 0
    /// Only up to the last stable offset (transactions).
    case readCommitted = 1

    /// Parses Kafka's `read_uncommitted` / `read_committed`.
    public init?(name: String) {
        switch name {
        case "read_uncommitted": self = .readUncommitted
        case "read_committed": self = .readCommitted
        default: return nil
        }
    }
}

/// Consumer settings: Kafka's consumer configs (group settings come with consumer groups).
public struct ConsumerConfig: Sendable {
    /// `auto.offset.reset` (Kafka's default latest).
    public var autoOffsetReset: AutoOffsetReset = .latest
    /// `fetch.min.bytes`: the broker waits for this many bytes (up to `fetch.max.wait.ms`) (1).
    public var fetchMinBytes: Int = 1
    /// `fetch.max.wait.ms`: the longest a fetch waits at the broker for `fetch.min.bytes` (500).
    public var fetchMaxWaitMs: Int64 = 500
    /// `fetch.max.bytes`: the most a fetch response carries, the first batch always whole (52428800).
    public var fetchMaxBytes: Int = 52_428_800
    /// `max.partition.fetch.bytes`: the most per partition per fetch, first batch whole (1048576).
    public var maxPartitionFetchBytes: Int = 1_048_576
    /// `isolation.level` (read_uncommitted).
    public var isolationLevel: IsolationLevel = .readUncommitted
    /// `check.crcs`: verify every batch's CRC-32C before decoding (true).
    public var checkCrcs: Bool = true
    /// `max.poll.records`: `poll` returns whole batches until this many records (500); it may
    /// exceed it by less than one batch. The record sequence is unaffected.
    public var maxPollRecords: Int = 500

    public init() {}

    /// Checks the values' ranges.
    public func validate() throws(ClientError) {
        guard fetchMinBytes >= 0 else { throw .invalidConfig(name: "fetch.min.bytes", value: "\(fetchMinBytes)", reason: "negative") }
        guard fetchMaxWaitMs >= 0 else { throw .invalidConfig(name: "fetch.max.wait.ms", value: "\(fetchMaxWaitMs)", reason: "negative") }
        guard fetchMaxBytes > 0 else { throw .invalidConfig(name: "fetch.max.bytes", value: "\(fetchMaxBytes)", reason: "must be positive") }
        guard maxPartitionFetchBytes > 0 else {
            throw .invalidConfig(name: "max.partition.fetch.bytes", value: "\(maxPartitionFetchBytes)", reason: "must be positive")
        }
        guard maxPollRecords > 0 else { throw .invalidConfig(name: "max.poll.records", value: "\(maxPollRecords)", reason: "must be positive") }
    }

    /// Sets a Kafka consumer property by name; false when the name is not a consumer property.
    public mutating func set(_ name: String, _ value: String) throws(ClientError) -> Bool {
        switch name {
        case "auto.offset.reset":
            guard let reset = AutoOffsetReset(rawValue: value) else {
                throw .invalidConfig(name: name, value: value, reason: "expected earliest, latest or none")
            }
            autoOffsetReset = reset
        case "fetch.min.bytes": fetchMinBytes = try ConfigValue.int(name, value, minimum: 0)
        case "fetch.max.wait.ms": fetchMaxWaitMs = try ConfigValue.milliseconds(name, value, minimum: 0)
        case "fetch.max.bytes": fetchMaxBytes = try ConfigValue.int(name, value, minimum: 1)
        case "max.partition.fetch.bytes": maxPartitionFetchBytes = try ConfigValue.int(name, value, minimum: 1)
        case "isolation.level":
            guard let level = IsolationLevel(name: value) else {
                throw .invalidConfig(name: name, value: value, reason: "expected read_uncommitted or read_committed")
            }
            isolationLevel = level
        case "check.crcs": checkCrcs = try ConfigValue.bool(name, value)
        case "max.poll.records": maxPollRecords = try ConfigValue.int(name, value, minimum: 1)
        default: return false
        }
        return true
    }
}

/// Parsing of property values, with errors naming the property.
enum ConfigValue {
    static func int(_ name: String, _ value: String, minimum: Int) throws(ClientError) -> Int {
        guard let number = Int(value.trimmingCharacters(in: " ")) else {
            throw .invalidConfig(name: name, value: value, reason: "not an integer")
        }
        guard number >= minimum else { throw .invalidConfig(name: name, value: value, reason: "below \(minimum)") }
        return number
    }

    static func milliseconds(_ name: String, _ value: String, minimum: Int64) throws(ClientError) -> Int64 {
        Int64(try int(name, value, minimum: Int(minimum)))
    }

    static func bool(_ name: String, _ value: String) throws(ClientError) -> Bool {
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw .invalidConfig(name: name, value: value, reason: "expected true or false")
        }
    }
}

extension String {
    func trimmingCharacters(in characters: String) -> String {
        let set = Set(characters)
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view = view.dropFirst() }
        while let last = view.last, set.contains(last) { view = view.dropLast() }
        return String(view)
    }
}
