/// One reporting window of the measured phase.
public struct WorkloadWindow: Sendable, Equatable {
    /// Start and end, in seconds since the measured phase began.
    public var startSeconds: Double
    public var endSeconds: Double
    /// Records acknowledged per second.
    public var publishRate: Double
    /// Failed sends per second.
    public var publishErrorRate: Double
    /// Records received per second (all consumers).
    public var consumeRate: Double
    /// Acknowledged value bytes per second.
    public var publishThroughputBytesPerSecond: Double
    /// Received value bytes per second.
    public var consumeThroughputBytesPerSecond: Double
    /// Consumer backlog at the window's end, in records (OMB: subscriptions x sent - received).
    public var backlog: Int64
    /// Counts during the window.
    public var recordsSent: Int64
    public var recordsReceived: Int64
    public var publishErrors: Int64
    /// Publish latency from the intended send time, milliseconds.
    public var publishLatencyMs: LatencySummary
    /// Publish delay (handed to the driver - intended), microseconds.
    public var publishDelayLatencyUs: LatencySummary
    /// End-to-end latency from the intended send time, milliseconds.
    public var endToEndLatencyMs: LatencySummary

    /// Window length in seconds.
    public var durationSeconds: Double { endSeconds - startSeconds }
}

/// A fault as it happened.
public struct WorkloadFaultEvent: Sendable, Equatable {
    /// The canonical fault line.
    public var fault: String
    /// `delay`, `kill`, `pause`, `restart`, `partition`, `kill-consumer` or `add-consumer`.
    public var verb: String
    /// When it fired, seconds since the start of traffic.
    public var atSeconds: Double
    /// When it was undone, seconds since the start of traffic, if it was.
    public var endedAtSeconds: Double?
    /// The broker it reached, as the injector reported it.
    public var brokerId: Int?
    /// The consumer it killed or created.
    public var consumerIndex: Int?
    /// Why it could not be applied, if it could not.
    public var error: String?
    /// Why it could not be undone, if it could not.
    public var undoError: String?
    /// Recovery time reported by the injector, milliseconds (placeholder: nil when unknown).
    public var recoveryTimeMs: Double?
    /// Rebalance time reported by the injector, milliseconds (placeholder: nil when unknown).
    public var rebalanceTimeMs: Double?
    /// Measured by the runner from per-second rates: milliseconds from the fault until the rate
    /// (publish for broker faults, consume for consumer faults) was back to 90% of its level in
    /// the seconds before; 0 when it never dropped below that; nil when it did not recover or
    /// there was no baseline.
    public var throughputRecoveryMs: Double?
    /// Anything else the injector reported.
    public var detail: String?
}

/// What the maximum-rate probe did (`producerRate: 0`).
public struct MaxRateProbeReport: Sendable, Equatable {
    /// One control period.
    public struct Step: Sendable, Equatable {
        /// End of the period, seconds since the start of traffic.
        public var atSeconds: Double
        public var targetRate: Double
        public var achievedRate: Double
        public var sustained: Bool
        public var reason: String
        public var nextRate: Double
        public var phase: String
    }

    /// The highest rate sustained, records/s (nil when none was).
    public var settledRate: Double?
    /// True when the search converged.
    public var converged: Bool
    /// Seconds since the start of traffic when it first converged.
    public var convergedAfterSeconds: Double?
    /// Every decision.
    public var steps: [Step]
}

/// What the backlog phase did (`consumerBacklogSizeGB`).
public struct BacklogReport: Sendable, Equatable {
    /// The requested backlog in bytes.
    public var requestedBytes: Int64
    /// Seconds spent building the backlog with consumers paused (nil if it never filled).
    public var buildSeconds: Double?
    /// Seconds from resuming consumers until the backlog reached the drain level (nil if it never did).
    public var drainSeconds: Double?
    /// The largest backlog seen, records.
    public var peakBacklog: Int64
    /// The backlog level counted as drained, records (OMB: max(1000, (1 - backlogDrainRatio) x capacity)).
    public var drainLevel: Int64
    /// Average consume rate during the drain, records/s.
    public var drainConsumeRate: Double?
}

/// Where the run happened.
public struct WorkloadEnvironment: Sendable, Equatable {
    /// Host name.
    public var host: String
    /// Online processor cores.
    public var cores: Int
    /// Operating system and kernel (`uname -sr`).
    public var os: String
    /// The Swift compiler that built the runner.
    public var swiftVersion: String
    /// The git commit of the working tree, if known.
    public var gitCommit: String?

    public init(host: String, cores: Int, os: String, swiftVersion: String, gitCommit: String?) {
        self.host = host
        self.cores = cores
        self.os = os
        self.swiftVersion = swiftVersion
        self.gitCommit = gitCommit
    }
}

/// Why a run ended.
public enum WorkloadStopReason: String, Sendable, Equatable {
    /// The test duration (and any backlog drain) completed.
    case completed
    /// The task running it was cancelled (Ctrl-C); the result is partial.
    case cancelled
    /// `WorkloadRunner.stop()` was called; the result is partial.
    case stopped
    /// The run hit its time limit (`WorkloadRunner.Options.maxRunDuration`); the result is partial.
    case deadline
    /// Traffic failed after it started (see `stopDetail`); the result is partial.
    case failed
}

/// The result of a run: OMB's `TestResult` fields with OMB's names and units, plus Rivulet's.
///
/// OMB units (kept so OMB tooling reads these files): every `publishLatency*`, `endToEndLatency*`
/// and `aggregated...Latency*` value is in **milliseconds**; every `publishDelayLatency*` value is
/// in **microseconds** (integers except the averages); rates are records per second; `backlog` is
/// records. The per-window arrays hold one entry per window of the measured phase. Rivulet's own
/// fields carry their unit in their name.
public struct WorkloadResult: Sendable, Equatable {
    // MARK: OMB TestResult

    public var workload: String
    public var driver: String
    public var messageSize: Int64
    public var topics: Int
    public var partitions: Int
    public var producersPerTopic: Int
    public var consumersPerTopic: Int

    public var publishRate: [Double] { windows.map(\.publishRate) }
    public var publishErrorRate: [Double] { windows.map(\.publishErrorRate) }
    public var consumeRate: [Double] { windows.map(\.consumeRate) }
    public var backlog: [Int64] { windows.map(\.backlog) }

    public var publishLatencyAvg: [Double] { windows.map(\.publishLatencyMs.avg) }
    public var publishLatency50pct: [Double] { windows.map(\.publishLatencyMs.p50) }
    public var publishLatency75pct: [Double] { windows.map(\.publishLatencyMs.p75) }
    public var publishLatency95pct: [Double] { windows.map(\.publishLatencyMs.p95) }
    public var publishLatency99pct: [Double] { windows.map(\.publishLatencyMs.p99) }
    public var publishLatency999pct: [Double] { windows.map(\.publishLatencyMs.p999) }
    public var publishLatency9999pct: [Double] { windows.map(\.publishLatencyMs.p9999) }
    public var publishLatency99999pct: [Double] { windows.map(\.publishLatencyMs.p99999) }
    public var publishLatencyMax: [Double] { windows.map(\.publishLatencyMs.max) }

    public var publishDelayLatencyAvg: [Double] { windows.map(\.publishDelayLatencyUs.avg) }
    public var publishDelayLatency50pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p50) } }
    public var publishDelayLatency75pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p75) } }
    public var publishDelayLatency95pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p95) } }
    public var publishDelayLatency99pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p99) } }
    public var publishDelayLatency999pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p999) } }
    public var publishDelayLatency9999pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p9999) } }
    public var publishDelayLatency99999pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p99999) } }
    public var publishDelayLatencyMax: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.max) } }

    public var endToEndLatencyAvg: [Double] { windows.map(\.endToEndLatencyMs.avg) }
    public var endToEndLatency50pct: [Double] { windows.map(\.endToEndLatencyMs.p50) }
    public var endToEndLatency75pct: [Double] { windows.map(\.endToEndLatencyMs.p75) }
    public var endToEndLatency95pct: [Double] { windows.map(\.endToEndLatencyMs.p95) }
    public var endToEndLatency99pct: [Double] { windows.map(\.endToEndLatencyMs.p99) }
    public var endToEndLatency999pct: [Double] { windows.map(\.endToEndLatencyMs.p999) }
    public var endToEndLatency9999pct: [Double] { windows.map(\.endToEndLatencyMs.p9999) }
    public var endToEndLatency99999pct: [Double] { windows.map(\.endToEndLatencyMs.p99999) }
    public var endToEndLatencyMax: [Double] { windows.map(\.endToEndLatencyMs.max) }

    /// Whole measured phase, milliseconds.
    public var aggregatedPublishLatency: LatencySummary
    /// Whole measured phase, microseconds.
    public var aggregatedPublishDelayLatency: LatencySummary
    /// Whole measured phase, milliseconds.
    public var aggregatedEndToEndLatency: LatencySummary

    public var aggregatedPublishLatencyAvg: Double { aggregatedPublishLatency.avg }
    public var aggregatedPublishLatency50pct: Double { aggregatedPublishLatency.p50 }
    public var aggregatedPublishLatency75pct: Double { aggregatedPublishLatency.p75 }
    public var aggregatedPublishLatency95pct: Double { aggregatedPublishLatency.p95 }
    public var aggregatedPublishLatency99pct: Double { aggregatedPublishLatency.p99 }
    public var aggregatedPublishLatency999pct: Double { aggregatedPublishLatency.p999 }
    public var aggregatedPublishLatency9999pct: Double { aggregatedPublishLatency.p9999 }
    public var aggregatedPublishLatency99999pct: Double { aggregatedPublishLatency.p99999 }
    public var aggregatedPublishLatencyMax: Double { aggregatedPublishLatency.max }

    public var aggregatedPublishDelayLatencyAvg: Double { aggregatedPublishDelayLatency.avg }
    public var aggregatedPublishDelayLatency50pct: Int64 { Int64(aggregatedPublishDelayLatency.p50) }
    public var aggregatedPublishDelayLatency75pct: Int64 { Int64(aggregatedPublishDelayLatency.p75) }
    public var aggregatedPublishDelayLatency95pct: Int64 { Int64(aggregatedPublishDelayLatency.p95) }
    public var aggregatedPublishDelayLatency99pct: Int64 { Int64(aggregatedPublishDelayLatency.p99) }
    public var aggregatedPublishDelayLatency999pct: Int64 { Int64(aggregatedPublishDelayLatency.p999) }
    public var aggregatedPublishDelayLatency9999pct: Int64 { Int64(aggregatedPublishDelayLatency.p9999) }
    public var aggregatedPublishDelayLatency99999pct: Int64 { Int64(aggregatedPublishDelayLatency.p99999) }
    public var aggregatedPublishDelayLatencyMax: Int64 { Int64(aggregatedPublishDelayLatency.max) }

    public var aggregatedEndToEndLatencyAvg: Double { aggregatedEndToEndLatency.avg }
    public var aggregatedEndToEndLatency50pct: Double { aggregatedEndToEndLatency.p50 }
    public var aggregatedEndToEndLatency75pct: Double { aggregatedEndToEndLatency.p75 }
    public var aggregatedEndToEndLatency95pct: Double { aggregatedEndToEndLatency.p95 }
    public var aggregatedEndToEndLatency99pct: Double { aggregatedEndToEndLatency.p99 }
    public var aggregatedEndToEndLatency999pct: Double { aggregatedEndToEndLatency.p999 }
    public var aggregatedEndToEndLatency9999pct: Double { aggregatedEndToEndLatency.p9999 }
    public var aggregatedEndToEndLatency99999pct: Double { aggregatedEndToEndLatency.p99999 }
    public var aggregatedEndToEndLatencyMax: Double { aggregatedEndToEndLatency.max }

    /// Percentile -> milliseconds.
    public var aggregatedPublishLatencyQuantiles: [LatencyQuantile]
    /// Percentile -> microseconds.
    public var aggregatedPublishDelayLatencyQuantiles: [LatencyQuantile]
    /// Percentile -> milliseconds.
    public var aggregatedEndToEndLatencyQuantiles: [LatencyQuantile]

    // MARK: Rivulet

    /// The windows behind the per-window arrays.
    public var windows: [WorkloadWindow]
    /// `WorkloadSpec.targetLabel`.
    public var target: String
    /// Why the run ended; anything but `completed` means a partial result.
    public var stopReason: WorkloadStopReason
    /// Details of a failure or cancellation.
    public var stopDetail: String?
    /// Wall-clock start of traffic, milliseconds since 1970.
    public var startedAtWallMs: Int64
    /// Length of the warm-up that actually ran, seconds.
    public var warmupSeconds: Double
    /// Length of the measured phase that actually ran, seconds.
    public var measuredSeconds: Double
    /// From the start of traffic until producers stopped, seconds.
    public var trafficSeconds: Double
    /// Measured phase: records acknowledged, failed, received; value bytes acknowledged and received.
    public var recordsSent: Int64
    public var publishErrors: Int64
    public var recordsReceived: Int64
    public var bytesSent: Int64
    public var bytesReceived: Int64
    /// Measured phase averages.
    public var aggregatedPublishRate: Double
    public var aggregatedConsumeRate: Double
    public var publishThroughputBytesPerSecond: Double
    public var consumeThroughputBytesPerSecond: Double
    /// Error code -> failed records, over the whole run.
    public var publishErrorCounts: [String: Int64]
    /// Records sent but neither acknowledged nor failed when the run ended.
    public var unacknowledgedAtEnd: Int64
    /// Received records without a readable intended send time.
    public var endToEndUnmeasured: Int64
    /// Latency samples above one hour, recorded as one hour.
    public var clampedLatencySamples: Int64
    /// Consumer backlog at the end, records.
    public var finalBacklog: Int64
    /// The producer rate in force at the end, records/s (the spec's rate, or the probe's).
    public var finalTargetRate: Double
    /// Faults as they happened.
    public var faults: [WorkloadFaultEvent]
    /// The max-rate probe, when `producerRate` was 0.
    public var maxRateProbe: MaxRateProbeReport?
    /// The backlog phase, when `consumerBacklogSizeGB` was set.
    public var backlogReport: BacklogReport?
    /// Window length, seconds.
    public var windowSeconds: Double
    /// The effective spec, key by key (`WorkloadSpec.effectiveSettings`).
    public var spec: [SpecSetting]
    /// Where it ran.
    public var environment: WorkloadEnvironment

    /// One key of the effective spec.
    public struct SpecSetting: Sendable, Equatable {
        public var key: String
        public var value: String
    }

    /// True when the run did not complete (cancelled, stopped, deadline, failed).
    public var isPartial: Bool { stopReason != .completed }
}
