import RivuletWire

/// A workload: OpenMessaging Benchmark's `Workload` fields with OMB's meaning, plus Rivulet's
/// extensions (durations in seconds, producer settings, the cluster to build, faults).
///
/// Load one from a plain-text spec with `WorkloadSpec.load(path:overrides:)`; every key, its
/// default and its unit are in `SPEC-KEYS.md` (generated from `WorkloadSpecKey`). A loaded spec is
/// validated and its `payloadFile` is already read, so a run cannot fail later on bad input.
/// Values are plain data (`Sendable`); build one in code with `init(name:)` and `validate()`.
public struct WorkloadSpec: Sendable, Equatable {
    // MARK: OMB fields

    /// The workload's name, reported as `workload` in results (OMB `name`).
    public var name: String
    /// Number of topics to create (OMB `topics`).
    public var topics: Int
    /// Partitions in each topic (OMB `partitionsPerTopic`).
    public var partitionsPerTopic: Int
    /// How producers choose keys (OMB `keyDistributor`).
    public var keyDistributor: KeyDistributorType
    /// Bytes per record value (OMB `messageSize`); at least 8, since the first 8 carry the intended send time.
    public var messageSize: Int
    /// Build payloads as `randomBytesRatio` random bytes then zeros, instead of reading `payloadFile`.
    public var useRandomizedPayloads: Bool
    /// The random fraction of each randomized payload, 0...1 (the rest is zeros, for compression tests).
    public var randomBytesRatio: Double
    /// How many distinct randomized payloads to build; each record picks one at random.
    public var randomizedPayloadPoolSize: Int
    /// The payload file as written in the spec (resolved against the spec's directory, its parent,
    /// then the working directory); its bytes are in `payloadData`.
    public var payloadFile: String?
    /// Subscriptions (consumer groups) per topic; each receives every record (OMB `subscriptionsPerTopic`).
    public var subscriptionsPerTopic: Int
    /// Producers per topic (OMB `producersPerTopic`).
    public var producersPerTopic: Int
    /// Consumers in each subscription (OMB `consumerPerSubscription`).
    public var consumerPerSubscription: Int
    /// Total records per second over all producers; 0 probes for the maximum sustainable rate (OMB `producerRate`).
    public var producerRate: Double
    /// Build this many GiB (2^30 bytes) of consumer backlog with consumers paused, then drain it (OMB).
    public var consumerBacklogSizeGB: Double
    /// The fraction of the backlog to drain before the test may end, 0...1 (OMB `backlogDrainRatio`).
    public var backlogDrainRatio: Double
    /// How long the measured phase lasts (OMB `testDurationMinutes`, or `testDurationSeconds`).
    public var testDuration: Duration
    /// How long traffic runs before measuring starts (OMB `warmupDurationMinutes`, default 1 minute).
    public var warmupDuration: Duration

    // MARK: Rivulet extensions

    /// Length of one reporting window (OMB prints every 10 s).
    public var window: Duration
    /// Producer `acks`.
    public var acks: WorkloadAcks
    /// Producer `linger.ms`.
    public var lingerMs: Int
    /// Producer `batch.size` in bytes.
    public var batchSizeBytes: Int
    /// Producer `compression.type`.
    public var compression: CompressionCodec
    /// Log storage of an embedded cluster.
    public var storage: WorkloadStorage
    /// Transport to an embedded cluster.
    public var transport: WorkloadTransport
    /// The cluster to drive.
    public var target: WorkloadTarget
    /// Brokers in an embedded cluster.
    public var brokers: Int
    /// Replicas per partition.
    public var replicationFactor: Int
    /// Topic `min.insync.replicas`.
    public var minInsyncReplicas: Int
    /// The coordination service of an embedded cluster with several brokers.
    public var coordinator: WorkloadCoordinator
    /// Embedded brokers' coordination session timeout (`zookeeper.session.timeout.ms`), milliseconds.
    public var brokerSessionTimeoutMs: Int
    /// Embedded brokers' `replica.lag.time.max.ms`.
    public var replicaLagTimeMaxMs: Int
    /// Embedded brokers' `replica.fetch.backoff.ms`.
    public var replicaFetchBackoffMs: Int
    /// Embedded brokers' `replica.fetch.wait.max.ms`.
    public var replicaFetchWaitMaxMs: Int
    /// Clients' `request.timeout.ms`.
    public var requestTimeoutMs: Int
    /// Clients' `retry.backoff.max.ms`.
    public var retryBackoffMaxMs: Int
    /// Record the history of sends, read everything back after the run and check it (`FailoverTracking`).
    public var checkHistory: Bool
    /// Seed of every random choice the runner makes (keys, payloads, topic names).
    public var seed: UInt64
    /// Faults to inject, in spec order.
    public var faults: [WorkloadFault]

    // MARK: Loaded

    /// The bytes of `payloadFile`, read and length-checked at load time.
    public var payloadData: [UInt8]?
    /// The file the spec came from, when it came from a file.
    public var sourcePath: String?

    /// A spec with every default filled in and placeholder values for the OMB keys that have no
    /// default (`topics`, `partitionsPerTopic`, `messageSize`, producers and consumers 1, rate 1000,
    /// 10 s test, no warm-up, randomized payloads). Meant for code and tests; call `validate()`.
    public init(name: String) {
        self.name = name
        topics = 1
        partitionsPerTopic = 1
        keyDistributor = .noKey
        messageSize = 1024
        useRandomizedPayloads = true
        randomBytesRatio = 0.5
        randomizedPayloadPoolSize = 16
        payloadFile = nil
        subscriptionsPerTopic = 1
        producersPerTopic = 1
        consumerPerSubscription = 1
        producerRate = 1000
        consumerBacklogSizeGB = 0
        backlogDrainRatio = 1.0
        testDuration = .seconds(10)
        warmupDuration = .zero
        window = .seconds(10)
        acks = .all
        lingerMs = 5
        batchSizeBytes = 16384
        compression = .none
        storage = .memory
        transport = .inproc
        target = .embedded
        brokers = 1
        replicationFactor = 1
        minInsyncReplicas = 1
        coordinator = .memory
        brokerSessionTimeoutMs = 6000
        replicaLagTimeMaxMs = 30_000
        replicaFetchBackoffMs = 1000
        replicaFetchWaitMaxMs = 500
        requestTimeoutMs = 30_000
        retryBackoffMaxMs = 500
        checkHistory = false
        seed = 1
        faults = []
        payloadData = nil
        sourcePath = nil
    }

    // MARK: Derived

    /// Producers over all topics (saturating at `Int.max`).
    public var totalProducers: Int { saturatingProduct(topics, producersPerTopic) }
    /// Consumers over all topics and subscriptions, before any `add consumer` fault (saturating).
    public var totalConsumers: Int { saturatingProduct(topics, subscriptionsPerTopic, consumerPerSubscription) }
    /// The requested backlog in bytes (`consumerBacklogSizeGB` x 2^30), 0 when none, at most `Int64.max`.
    public var backlogBytesRequested: Int64 {
        let bytes = consumerBacklogSizeGB * 1_073_741_824
        guard bytes.isFinite, bytes > 0 else { return 0 }
        return bytes >= 9.2e18 ? .max : Int64(bytes.rounded())
    }
    /// True when `producerRate` is 0 and the runner probes for the maximum sustainable rate.
    public var probesMaximumRate: Bool { producerRate == 0 }

    /// A label for the target used in result file names: `embedded-memory-inproc`,
    /// `embedded-file-tcp`, `kafka-localhost-9092`.
    public var targetLabel: String {
        switch target {
        case .embedded: "embedded-\(storage.scheme)-\(transport.rawValue)"
        case .kafka(let servers):
            "kafka-" + (servers.first.map { "\($0.host)-\($0.port)" } ?? "unknown")
        }
    }

    /// Every key with its effective value, in `WorkloadSpecKey` order, durations in seconds; one
    /// `fault` entry per fault. Parsing these lines back gives an equal spec.
    public var effectiveSettings: [(key: String, value: String)] {
        var settings: [(key: String, value: String)] = []
        func add(_ key: WorkloadSpecKey, _ value: String) { settings.append((key.rawValue, value)) }
        add(.name, name)
        add(.topics, "\(topics)")
        add(.partitionsPerTopic, "\(partitionsPerTopic)")
        add(.keyDistributor, keyDistributor.rawValue)
        add(.messageSize, "\(messageSize)")
        add(.useRandomizedPayloads, "\(useRandomizedPayloads)")
        add(.randomBytesRatio, formatNumber(randomBytesRatio))
        add(.randomizedPayloadPoolSize, "\(randomizedPayloadPoolSize)")
        if let payloadFile { add(.payloadFile, payloadFile) }
        add(.subscriptionsPerTopic, "\(subscriptionsPerTopic)")
        add(.producersPerTopic, "\(producersPerTopic)")
        add(.consumerPerSubscription, "\(consumerPerSubscription)")
        add(.producerRate, formatNumber(producerRate))
        add(.consumerBacklogSizeGB, formatNumber(consumerBacklogSizeGB))
        add(.backlogDrainRatio, formatNumber(backlogDrainRatio))
        add(.testDurationSeconds, formatNumber(testDuration.secondsDouble))
        add(.warmupDurationSeconds, formatNumber(warmupDuration.secondsDouble))
        add(.windowSeconds, formatNumber(window.secondsDouble))
        add(.acks, acks.description)
        add(.lingerMs, "\(lingerMs)")
        add(.batchSizeBytes, "\(batchSizeBytes)")
        add(.compression, compression.description)
        add(.storage, storage.description)
        add(.transport, transport.rawValue)
        add(.target, target.description)
        add(.brokers, "\(brokers)")
        add(.replicationFactor, "\(replicationFactor)")
        add(.minInsyncReplicas, "\(minInsyncReplicas)")
        add(.coordinator, coordinator.description)
        add(.brokerSessionTimeoutMs, "\(brokerSessionTimeoutMs)")
        add(.replicaLagTimeMaxMs, "\(replicaLagTimeMaxMs)")
        add(.replicaFetchBackoffMs, "\(replicaFetchBackoffMs)")
        add(.replicaFetchWaitMaxMs, "\(replicaFetchWaitMaxMs)")
        add(.requestTimeoutMs, "\(requestTimeoutMs)")
        add(.retryBackoffMaxMs, "\(retryBackoffMaxMs)")
        add(.checkHistory, "\(checkHistory)")
        add(.seed, "\(seed)")
        for fault in faults { add(.fault, fault.description) }
        return settings
    }

    /// The effective spec as spec text (`key: value` lines), loadable with `WorkloadSpec.parse`.
    public var specText: String {
        effectiveSettings.map { "\($0.key): \(quoteIfNeeded($0.value))" }.joined(separator: "\n") + "\n"
    }
}

/// The product of non-negative counts, saturating at `Int.max` instead of trapping.
func saturatingProduct(_ factors: Int...) -> Int {
    var product = 1
    for factor in factors {
        let (result, overflow) = product.multipliedReportingOverflow(by: max(0, factor))
        if overflow { return .max }
        product = result
    }
    return product
}

/// Prints a number without a trailing `.0` when it is whole (`50000`, `0.5`).
func formatNumber(_ value: Double) -> String {
    if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return "\(value)"
}

/// Quotes a value that would otherwise read differently (a `#` comment marker, surrounding spaces).
private func quoteIfNeeded(_ value: String) -> String {
    if value.contains(" #") || value.hasPrefix("#") || value != value.trimmingSpaces() || value.hasPrefix("\"") {
        return "\"" + value.replacingOccurrencesOf("\"", with: "\\\"") + "\""
    }
    return value
}

extension String {
    /// Replaces every occurrence of `target` (no Foundation needed).
    func replacingOccurrencesOf(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
