/// Every key a workload spec accepts, in documentation order, with its type, default, unit and
/// meaning. `SPEC-KEYS.md` is `WorkloadSpecKey.referenceMarkdown()`, checked by a test.
public enum WorkloadSpecKey: String, CaseIterable, Sendable {
    case name
    case topics
    case partitionsPerTopic
    case keyDistributor
    case messageSize
    case useRandomizedPayloads
    case randomBytesRatio
    case randomizedPayloadPoolSize
    case payloadFile
    case subscriptionsPerTopic
    case producersPerTopic
    case consumerPerSubscription
    case producerRate
    case consumerBacklogSizeGB
    case backlogDrainRatio
    case testDurationMinutes
    case warmupDurationMinutes
    case testDurationSeconds
    case warmupDurationSeconds
    case windowSeconds
    case acks
    case lingerMs
    case batchSizeBytes
    case compression
    case storage
    case transport
    case target
    case brokers
    case replicationFactor
    case minInsyncReplicas
    case coordinator
    case brokerSessionTimeoutMs
    case replicaLagTimeMaxMs
    case replicaFetchBackoffMs
    case replicaFetchWaitMaxMs
    case requestTimeoutMs
    case retryBackoffMaxMs
    case checkHistory
    case seed
    case fault

    /// True for OpenMessaging Benchmark's own `Workload` fields; false for Rivulet extensions.
    public var isOMB: Bool {
        switch self {
        case .name, .topics, .partitionsPerTopic, .keyDistributor, .messageSize, .useRandomizedPayloads,
             .randomBytesRatio, .randomizedPayloadPoolSize, .payloadFile, .subscriptionsPerTopic,
             .producersPerTopic, .consumerPerSubscription, .producerRate, .consumerBacklogSizeGB,
             .backlogDrainRatio, .testDurationMinutes, .warmupDurationMinutes:
            true
        default:
            false
        }
    }

    /// True for keys that may appear on several lines (`fault`).
    public var isRepeatable: Bool { self == .fault }

    /// The accepted values.
    public var valueType: String {
        switch self {
        case .name: "text"
        case .topics, .partitionsPerTopic, .subscriptionsPerTopic, .producersPerTopic, .consumerPerSubscription,
             .randomizedPayloadPoolSize, .brokers, .replicationFactor, .minInsyncReplicas:
            "integer"
        case .brokerSessionTimeoutMs, .replicaLagTimeMaxMs, .replicaFetchBackoffMs, .replicaFetchWaitMaxMs, .requestTimeoutMs, .retryBackoffMaxMs:
            "integer"
        case .coordinator: "memory, memory://name, zk://host:port[/chroot]"
        case .checkHistory: "true, false"
        case .messageSize, .batchSizeBytes, .lingerMs, .testDurationMinutes, .warmupDurationMinutes: "integer"
        case .keyDistributor: "NO_KEY, KEY_ROUND_ROBIN, RANDOM_NANO"
        case .useRandomizedPayloads: "true, false"
        case .randomBytesRatio, .backlogDrainRatio: "number 0...1"
        case .payloadFile: "path"
        case .producerRate, .consumerBacklogSizeGB, .testDurationSeconds, .warmupDurationSeconds, .windowSeconds:
            "number"
        case .acks: "0, 1, all (-1)"
        case .compression: "none, gzip, snappy, lz4, zstd"
        case .storage: "memory://, file:///dir, mmap:///dir"
        case .transport: "inproc, tcp"
        case .target: "embedded, kafka://host:port[,host:port]"
        case .seed: "integer 0...2^64-1"
        case .fault: "fault line (below)"
        }
    }

    /// The default, or `required` when the key must be given.
    public var defaultText: String {
        switch self {
        case .name: "the file name without extension"
        case .topics, .partitionsPerTopic, .messageSize, .subscriptionsPerTopic, .producersPerTopic,
             .consumerPerSubscription, .producerRate:
            "required"
        case .keyDistributor: "NO_KEY"
        case .useRandomizedPayloads: "false"
        case .randomBytesRatio: "0"
        case .randomizedPayloadPoolSize: "0 (must be >= 1 with randomized payloads)"
        case .payloadFile: "required unless useRandomizedPayloads"
        case .consumerBacklogSizeGB: "0 (no backlog)"
        case .backlogDrainRatio: "1.0"
        case .testDurationMinutes: "required (or testDurationSeconds)"
        case .warmupDurationMinutes: "1"
        case .testDurationSeconds: "required (or testDurationMinutes)"
        case .warmupDurationSeconds: "60 (from warmupDurationMinutes)"
        case .windowSeconds: "10"
        case .acks: "all"
        case .lingerMs: "5"
        case .batchSizeBytes: "16384"
        case .compression: "none"
        case .storage: "memory://"
        case .transport: "inproc"
        case .target: "embedded"
        case .brokers: "1"
        case .replicationFactor: "1"
        case .minInsyncReplicas: "1"
        case .coordinator: "memory (a private in-process ensemble)"
        case .brokerSessionTimeoutMs: "6000"
        case .replicaLagTimeMaxMs: "30000"
        case .replicaFetchBackoffMs: "1000"
        case .replicaFetchWaitMaxMs: "500"
        case .requestTimeoutMs: "30000"
        case .retryBackoffMaxMs: "500"
        case .checkHistory: "true with a kill, pause, restart or partition fault (when the history fits: see meaning), else false"
        case .seed: "1"
        case .fault: "none"
        }
    }

    /// The unit of the value, or `-` when it has none.
    public var unit: String {
        switch self {
        case .messageSize, .batchSizeBytes: "bytes"
        case .producerRate: "records/s (all producers)"
        case .consumerBacklogSizeGB: "GiB (2^30 bytes)"
        case .testDurationMinutes, .warmupDurationMinutes: "minutes"
        case .testDurationSeconds, .warmupDurationSeconds, .windowSeconds: "seconds"
        case .lingerMs, .brokerSessionTimeoutMs, .replicaLagTimeMaxMs, .replicaFetchBackoffMs, .replicaFetchWaitMaxMs, .requestTimeoutMs,
             .retryBackoffMaxMs:
            "milliseconds"
        case .randomBytesRatio, .backlogDrainRatio: "fraction"
        default: "-"
        }
    }

    /// What the key means.
    public var summary: String {
        switch self {
        case .name: "Workload name, reported as `workload` in results and used in result file names."
        case .topics: "Number of topics to create (>= 1)."
        case .partitionsPerTopic: "Partitions per topic (>= 1)."
        case .keyDistributor: "Record keys: none, round robin over 10,000 random keys, or a random key per record."
        case .messageSize: "Bytes per record value (>= 8: the first 8 bytes carry the intended send time)."
        case .useRandomizedPayloads: "Build payloads of random bytes then zeros instead of reading `payloadFile`."
        case .randomBytesRatio: "Random fraction of each randomized payload; the rest is zeros."
        case .randomizedPayloadPoolSize: "Distinct randomized payloads; each record picks one at random."
        case .payloadFile: "File whose bytes are every payload; its length must equal `messageSize`. Relative paths are tried against the spec's directory, its parent (OMB's layout), then the working directory."
        case .subscriptionsPerTopic: "Subscriptions (consumer groups) per topic; each receives every record. 0 runs producers only."
        case .producersPerTopic: "Producers per topic (>= 1)."
        case .consumerPerSubscription: "Consumers in each subscription (>= 1 when there are subscriptions)."
        case .producerRate: "Target rate over all producers, 0...1e9; 0 probes for the maximum sustainable rate (MAX-RATE.md)."
        case .consumerBacklogSizeGB: "Pause consumers until this backlog builds, then resume them and drain (OMB); decimals allowed, at most 1048576. Needs a fixed producerRate."
        case .backlogDrainRatio: "Fraction of the backlog to drain before the test may end; 1.0 drains it fully."
        case .testDurationMinutes: "Measured phase length (OMB). Give this or testDurationSeconds, not both."
        case .warmupDurationMinutes: "Traffic before measuring starts (OMB); warm-up samples are excluded."
        case .testDurationSeconds: "Measured phase length in seconds (decimals allowed); `--duration 10s` overrides it."
        case .warmupDurationSeconds: "Warm-up in seconds; give this or warmupDurationMinutes, not both."
        case .windowSeconds: "Length of one reporting window (rates and latency percentiles per window)."
        case .acks: "Producer acks."
        case .lingerMs: "Producer linger.ms (0...3600000)."
        case .batchSizeBytes: "Producer batch.size (0...1073741824)."
        case .compression: "Producer compression.type."
        case .storage: "Log storage of an embedded cluster (absolute directories)."
        case .transport: "Transport to an embedded cluster."
        case .target: "The cluster to drive; storage, transport and brokers apply to embedded only."
        case .brokers: "Brokers in an embedded cluster (>= 1)."
        case .replicationFactor: "Replicas per partition (1...brokers)."
        case .minInsyncReplicas: "Topic min.insync.replicas (1...replicationFactor)."
        case .coordinator: "Coordination service of an embedded cluster with several brokers: a private in-memory ensemble, a shared one (`memory://name`) or a real ZooKeeper (`zk://`)."
        case .brokerSessionTimeoutMs: "Embedded brokers' coordination session timeout (zookeeper.session.timeout.ms, 100...600000): a killed broker's partitions move after about this long."
        case .replicaLagTimeMaxMs: "Embedded brokers' replica.lag.time.max.ms (1...3600000): a follower behind this long leaves the ISR."
        case .replicaFetchBackoffMs: "Embedded brokers' replica.fetch.backoff.ms (0...3600000): how long a follower waits after a failed fetch (from a dead leader) before fetching again."
        case .replicaFetchWaitMaxMs: "Embedded brokers' replica.fetch.wait.max.ms (0...3600000): the longest a follower's fetch waits at the leader for new data."
        case .requestTimeoutMs: "Clients' request.timeout.ms (1...3600000): how long a producer waits for an answer (a paused broker's) before it retries."
        case .retryBackoffMaxMs: "Clients' retry.backoff.max.ms (1...3600000): the cap of the exponential backoff (from 20 ms) between retries and metadata refreshes while a partition has no leader."
        case .checkHistory: "Record every acknowledged send, read every partition back after the run and check the history (lost and duplicated records, anomalies); needs messageSize >= 16 (bytes 8...15 carry a unique record id), a fixed producerRate and at most 2,000,000 records over the run."
        case .seed: "Seed of every random choice (keys, payload bytes and picks), so runs replay; topic names also mix in the start time so runs never collide."
        case .fault: "A fault to inject; repeat the key for several. Grammar below."
        }
    }

    /// The Markdown reference of every key (the content of `SPEC-KEYS.md`).
    public static func referenceMarkdown() -> String {
        var text = """
        # Workload spec keys

        One `key: value` per line; `#` starts a comment (whole line, or after a space); blank lines are
        ignored; values may be quoted (`name: "1 topic"`); `${VAR}` and `${VAR:-default}` expand from the
        environment (OMB's placeholders). An unknown key, a bad value, a repeated key or a missing
        required key is an error naming the file, the line and the key, raised before anything starts.
        Overrides from the command line: `--duration 10s` (the test duration) and `--set key=value`
        (applied on top of the file; `--set fault=...` adds a fault).

        OMB's flat workload files run unchanged. The `OMB` column marks OpenMessaging Benchmark's own
        fields, which keep OMB's meaning.

        | key | OMB | type | default | unit | meaning |
        |---|---|---|---|---|---|

        """
        for key in allCases {
            text += "| `\(key.rawValue)` | \(key.isOMB ? "yes" : "") | \(key.valueType) | \(key.defaultText) | \(key.unit) | \(key.summary) |\n"
        }
        text += """

        ## Durations

        A number and a unit, no space: `250us`, `500ms`, `10s`, `1.5s`, `2m`, `1h` (units ns, us, ms, s, m, h).

        ## Faults

        Times count from the start of traffic (warm-up included). `<target>` is `broker <N>` (embedded
        brokers are numbered from 0) or `leader of partition <P>` (partition P of the first topic,
        resolved when the fault fires; the undo reaches the same broker).

        | line | effect |
        |---|---|
        | `at <d> delay <target> by <d> [for <d>]` | add latency to the target's responses, removed after `for` |
        | `at <d> kill <target> [for <d>]` | stop the broker abruptly; restart it after `for` |
        | `at <d> pause <target> for <d>` | freeze the broker, resume it after `for` |
        | `at <d> restart <target>` | stop and start the broker |
        | `at <d> partition <target> for <d>` | cut the broker off the network, heal after `for` |
        | `at <d> kill consumer <N>` | kill consumer N abruptly (creation order: topic, subscription, consumer) |
        | `at <d> add consumer` | add a consumer to the first subscription of the first topic |

        Broker faults need a target whose driver offers a fault injector; consumer faults work everywhere
        (the runner kills and creates consumers through the driver, and tells the injector, if any).
        Faults still pending when the run stops are undone before the run returns.

        ## End-to-end latency

        The first 8 bytes of every payload are overwritten with the record's intended send time:
        big-endian `UInt64` nanoseconds of the runner's monotonic `EngineClock`. Consumers in the same
        process read it back, so end-to-end latency is measured on one clock from the intended send time.

        ## Results and measurement

        * Each producer sends on a fixed schedule (`producerRate` / producers): send `n` is intended at
          `start + n / rate`. A stall does not move the schedule; the sends it delayed go out late with
          their original intended times.
        * **Publish latency** = acknowledgement time - intended send time (OMB measures from the `send`
          call; Rivulet from the intended time, so there is no coordinated omission). **Publish delay** =
          time the record was handed to the client - intended send time (OMB's meaning).
          **End-to-end latency** = receive time - intended send time, on the same clock.
        * HdrHistograms (3 significant digits, values up to 1 hour) per window (`windowSeconds`) and over
          the measured phase. Warm-up is excluded by intended send time; counts and rates are by
          completion time (as in OMB).
        * The JSON result keeps OMB's `TestResult` field names and units: latencies in milliseconds,
          publish delay in microseconds, rates in records/s, per-window arrays plus `aggregated...`
          values and quantile maps; Rivulet's additions carry their unit in their name
          (`publishThroughputBytesPerSecond`, `scheduleLagSecondsAtEnd`, ...).
        * Files: `results/<name>-<target>-<yyyy-MM-dd-HH-mm-ss>.{json,csv,svg,txt}` (UTC); the text file
          ends with a `kafka-producer-perf-test`-style summary line.
        * Ctrl-C stops the run early and still writes the partial result (`stopReason`).

        """
        return text
    }
}
