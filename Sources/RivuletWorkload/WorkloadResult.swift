/// One reporting window of the measured phase.
public struct WorkloadWindow: Sendable, Equatable {
    /// Start of the window, seconds since the measured phase began.
    public var startSeconds: Double
    /// End of the window, seconds since the measured phase began.
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
    /// Records acknowledged during the window.
    public var recordsSent: Int64
    /// Records received during the window (all subscriptions).
    public var recordsReceived: Int64
    /// Records that failed during the window.
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
    /// Availability after a broker fault, measured from acknowledgements (`FailoverTrackingDriver`).
    public var recovery: FaultRecovery? = nil
}

/// What the maximum-rate probe did (`producerRate: 0`).
public struct MaxRateProbeReport: Sendable, Equatable {
    /// One control period.
    public struct Step: Sendable, Equatable {
        /// End of the period, seconds since the start of traffic.
        public var atSeconds: Double
        /// The rate in force during the period, records/s.
        public var targetRate: Double
        /// The acknowledged rate during the period, records/s.
        public var achievedRate: Double
        /// True when the period was sustained.
        public var sustained: Bool
        /// Why it was overloaded, or `settling after an overload`; empty when sustained.
        public var reason: String
        /// The rate set for the next period, records/s.
        public var nextRate: Double
        /// The probe phase after the decision: `rampUp`, `bisect` or `hold`.
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
///
/// One deliberate difference in meaning: OMB measures publish latency from the moment `send` was
/// called; Rivulet measures it from the record's **intended** send time on the rate schedule, so a
/// stall shows in every record it delayed (no coordinated omission). `publishDelayLatency*` keeps
/// OMB's meaning (how late the send started), and end-to-end latency is also taken from the
/// intended time, on the runner's clock (`PayloadTimestamp`).
public struct WorkloadResult: Sendable, Equatable {
    // MARK: OMB TestResult

    /// The workload name (`WorkloadSpec.name`).
    public var workload: String
    /// The driver name (`WorkloadDriver.name`).
    public var driver: String
    /// Bytes per record value.
    public var messageSize: Int64
    /// Number of topics.
    public var topics: Int
    /// Partitions per topic.
    public var partitions: Int
    /// Producers per topic.
    public var producersPerTopic: Int
    /// Consumers per subscription (OMB names it per topic).
    public var consumersPerTopic: Int

    /// Per window: records acknowledged per second (OMB `publishRate`).
    public var publishRate: [Double] { windows.map(\.publishRate) }
    /// Per window: failed sends per second (OMB `publishErrorRate`).
    public var publishErrorRate: [Double] { windows.map(\.publishErrorRate) }
    /// Per window: records received per second (OMB `consumeRate`).
    public var consumeRate: [Double] { windows.map(\.consumeRate) }
    /// Per window: consumer backlog at the window's end, records (OMB `backlog`).
    public var backlog: [Int64] { windows.map(\.backlog) }

    /// Per window: OMB `publishLatencyAvg`, milliseconds.
    public var publishLatencyAvg: [Double] { windows.map(\.publishLatencyMs.avg) }
    /// Per window: OMB `publishLatency50pct`, milliseconds.
    public var publishLatency50pct: [Double] { windows.map(\.publishLatencyMs.p50) }
    /// Per window: OMB `publishLatency75pct`, milliseconds.
    public var publishLatency75pct: [Double] { windows.map(\.publishLatencyMs.p75) }
    /// Per window: OMB `publishLatency95pct`, milliseconds.
    public var publishLatency95pct: [Double] { windows.map(\.publishLatencyMs.p95) }
    /// Per window: OMB `publishLatency99pct`, milliseconds.
    public var publishLatency99pct: [Double] { windows.map(\.publishLatencyMs.p99) }
    /// Per window: OMB `publishLatency999pct`, milliseconds.
    public var publishLatency999pct: [Double] { windows.map(\.publishLatencyMs.p999) }
    /// Per window: OMB `publishLatency9999pct`, milliseconds.
    public var publishLatency9999pct: [Double] { windows.map(\.publishLatencyMs.p9999) }
    /// Per window: OMB `publishLatency99999pct`, milliseconds.
    public var publishLatency99999pct: [Double] { windows.map(\.publishLatencyMs.p99999) }
    /// Per window: OMB `publishLatencyMax`, milliseconds.
    public var publishLatencyMax: [Double] { windows.map(\.publishLatencyMs.max) }

    /// Per window: OMB `publishDelayLatencyAvg`, microseconds.
    public var publishDelayLatencyAvg: [Double] { windows.map(\.publishDelayLatencyUs.avg) }
    /// Per window: OMB `publishDelayLatency50pct`, microseconds.
    public var publishDelayLatency50pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p50) } }
    /// Per window: OMB `publishDelayLatency75pct`, microseconds.
    public var publishDelayLatency75pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p75) } }
    /// Per window: OMB `publishDelayLatency95pct`, microseconds.
    public var publishDelayLatency95pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p95) } }
    /// Per window: OMB `publishDelayLatency99pct`, microseconds.
    public var publishDelayLatency99pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p99) } }
    /// Per window: OMB `publishDelayLatency999pct`, microseconds.
    public var publishDelayLatency999pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p999) } }
    /// Per window: OMB `publishDelayLatency9999pct`, microseconds.
    public var publishDelayLatency9999pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p9999) } }
    /// Per window: OMB `publishDelayLatency99999pct`, microseconds.
    public var publishDelayLatency99999pct: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.p99999) } }
    /// Per window: OMB `publishDelayLatencyMax`, microseconds.
    public var publishDelayLatencyMax: [Int64] { windows.map { Int64($0.publishDelayLatencyUs.max) } }

    /// Per window: OMB `endToEndLatencyAvg`, milliseconds.
    public var endToEndLatencyAvg: [Double] { windows.map(\.endToEndLatencyMs.avg) }
    /// Per window: OMB `endToEndLatency50pct`, milliseconds.
    public var endToEndLatency50pct: [Double] { windows.map(\.endToEndLatencyMs.p50) }
    /// Per window: OMB `endToEndLatency75pct`, milliseconds.
    public var endToEndLatency75pct: [Double] { windows.map(\.endToEndLatencyMs.p75) }
    /// Per window: OMB `endToEndLatency95pct`, milliseconds.
    public var endToEndLatency95pct: [Double] { windows.map(\.endToEndLatencyMs.p95) }
    /// Per window: OMB `endToEndLatency99pct`, milliseconds.
    public var endToEndLatency99pct: [Double] { windows.map(\.endToEndLatencyMs.p99) }
    /// Per window: OMB `endToEndLatency999pct`, milliseconds.
    public var endToEndLatency999pct: [Double] { windows.map(\.endToEndLatencyMs.p999) }
    /// Per window: OMB `endToEndLatency9999pct`, milliseconds.
    public var endToEndLatency9999pct: [Double] { windows.map(\.endToEndLatencyMs.p9999) }
    /// Per window: OMB `endToEndLatency99999pct`, milliseconds.
    public var endToEndLatency99999pct: [Double] { windows.map(\.endToEndLatencyMs.p99999) }
    /// Per window: OMB `endToEndLatencyMax`, milliseconds.
    public var endToEndLatencyMax: [Double] { windows.map(\.endToEndLatencyMs.max) }

    /// Whole measured phase, milliseconds.
    public var aggregatedPublishLatency: LatencySummary
    /// Whole measured phase, microseconds.
    public var aggregatedPublishDelayLatency: LatencySummary
    /// Whole measured phase, milliseconds.
    public var aggregatedEndToEndLatency: LatencySummary

    /// Whole measured phase: OMB `aggregatedPublishLatencyAvg`, milliseconds.
    public var aggregatedPublishLatencyAvg: Double { aggregatedPublishLatency.avg }
    /// Whole measured phase: OMB `aggregatedPublishLatency50pct`, milliseconds.
    public var aggregatedPublishLatency50pct: Double { aggregatedPublishLatency.p50 }
    /// Whole measured phase: OMB `aggregatedPublishLatency75pct`, milliseconds.
    public var aggregatedPublishLatency75pct: Double { aggregatedPublishLatency.p75 }
    /// Whole measured phase: OMB `aggregatedPublishLatency95pct`, milliseconds.
    public var aggregatedPublishLatency95pct: Double { aggregatedPublishLatency.p95 }
    /// Whole measured phase: OMB `aggregatedPublishLatency99pct`, milliseconds.
    public var aggregatedPublishLatency99pct: Double { aggregatedPublishLatency.p99 }
    /// Whole measured phase: OMB `aggregatedPublishLatency999pct`, milliseconds.
    public var aggregatedPublishLatency999pct: Double { aggregatedPublishLatency.p999 }
    /// Whole measured phase: OMB `aggregatedPublishLatency9999pct`, milliseconds.
    public var aggregatedPublishLatency9999pct: Double { aggregatedPublishLatency.p9999 }
    /// Whole measured phase: OMB `aggregatedPublishLatency99999pct`, milliseconds.
    public var aggregatedPublishLatency99999pct: Double { aggregatedPublishLatency.p99999 }
    /// Whole measured phase: OMB `aggregatedPublishLatencyMax`, milliseconds.
    public var aggregatedPublishLatencyMax: Double { aggregatedPublishLatency.max }

    /// Whole measured phase: OMB `aggregatedPublishDelayLatencyAvg`, microseconds.
    public var aggregatedPublishDelayLatencyAvg: Double { aggregatedPublishDelayLatency.avg }
    /// Whole measured phase: OMB `aggregatedPublishDelayLatency50pct`, microseconds.
    public var aggregatedPublishDelayLatency50pct: Int64 { Int64(aggregatedPublishDelayLatency.p50) }
    /// Whole measured phase: OMB `aggregatedPublishDelayLatency75pct`, microseconds.
    public var aggregatedPublishDelayLatency75pct: Int64 { Int64(aggregatedPublishDelayLatency.p75) }
    /// Whole measured phase: OMB `aggregatedPublishDelayLatency95pct`, microseconds.
    public var aggregatedPublishDelayLatency95pct: Int64 { Int64(aggregatedPublishDelayLatency.p95) }
    /// Whole measured phase: OMB `aggregatedPublishDelayLatency99pct`, microseconds.
    public var aggregatedPublishDelayLatency99pct: Int64 { Int64(aggregatedPublishDelayLatency.p99) }
    /// Whole measured phase: OMB `aggregatedPublishDelayLatency999pct`, microseconds.
    public var aggregatedPublishDelayLatency999pct: Int64 { Int64(aggregatedPublishDelayLatency.p999) }
    /// Whole measured phase: OMB `aggregatedPublishDelayLatency9999pct`, microseconds.
    public var aggregatedPublishDelayLatency9999pct: Int64 { Int64(aggregatedPublishDelayLatency.p9999) }
    /// Whole measured phase: OMB `aggregatedPublishDelayLatency99999pct`, microseconds.
    public var aggregatedPublishDelayLatency99999pct: Int64 { Int64(aggregatedPublishDelayLatency.p99999) }
    /// Whole measured phase: OMB `aggregatedPublishDelayLatencyMax`, microseconds.
    public var aggregatedPublishDelayLatencyMax: Int64 { Int64(aggregatedPublishDelayLatency.max) }

    /// Whole measured phase: OMB `aggregatedEndToEndLatencyAvg`, milliseconds.
    public var aggregatedEndToEndLatencyAvg: Double { aggregatedEndToEndLatency.avg }
    /// Whole measured phase: OMB `aggregatedEndToEndLatency50pct`, milliseconds.
    public var aggregatedEndToEndLatency50pct: Double { aggregatedEndToEndLatency.p50 }
    /// Whole measured phase: OMB `aggregatedEndToEndLatency75pct`, milliseconds.
    public var aggregatedEndToEndLatency75pct: Double { aggregatedEndToEndLatency.p75 }
    /// Whole measured phase: OMB `aggregatedEndToEndLatency95pct`, milliseconds.
    public var aggregatedEndToEndLatency95pct: Double { aggregatedEndToEndLatency.p95 }
    /// Whole measured phase: OMB `aggregatedEndToEndLatency99pct`, milliseconds.
    public var aggregatedEndToEndLatency99pct: Double { aggregatedEndToEndLatency.p99 }
    /// Whole measured phase: OMB `aggregatedEndToEndLatency999pct`, milliseconds.
    public var aggregatedEndToEndLatency999pct: Double { aggregatedEndToEndLatency.p999 }
    /// Whole measured phase: OMB `aggregatedEndToEndLatency9999pct`, milliseconds.
    public var aggregatedEndToEndLatency9999pct: Double { aggregatedEndToEndLatency.p9999 }
    /// Whole measured phase: OMB `aggregatedEndToEndLatency99999pct`, milliseconds.
    public var aggregatedEndToEndLatency99999pct: Double { aggregatedEndToEndLatency.p99999 }
    /// Whole measured phase: OMB `aggregatedEndToEndLatencyMax`, milliseconds.
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
    /// Records acknowledged during the measured phase (by completion time, as OMB counts).
    public var recordsSent: Int64
    /// Records that failed during the measured phase.
    public var publishErrors: Int64
    /// Records received during the measured phase (all subscriptions).
    public var recordsReceived: Int64
    /// Value bytes acknowledged during the measured phase.
    public var bytesSent: Int64
    /// Value bytes received during the measured phase.
    public var bytesReceived: Int64
    /// Records acknowledged per second over the measured windows.
    public var aggregatedPublishRate: Double
    /// Records received per second over the measured windows.
    public var aggregatedConsumeRate: Double
    /// Value bytes acknowledged per second over the measured windows.
    public var publishThroughputBytesPerSecond: Double
    /// Value bytes received per second over the measured windows.
    public var consumeThroughputBytesPerSecond: Double
    /// Error code -> failed records, over the whole run.
    public var publishErrorCounts: [String: Int64]
    /// Records sent but neither acknowledged nor failed when the run ended.
    public var unacknowledgedAtEnd: Int64
    /// Records the producers' schedules had due by the end but never sent: the load generator (or
    /// the system's backpressure) fell behind `producerRate`. Latencies cover only records that
    /// were sent, so a large value means the latencies understate the truth.
    public var scheduleLagRecordsAtEnd: Int64
    /// How late the oldest unsent record was at the end, seconds (0 when producers kept up).
    public var scheduleLagSecondsAtEnd: Double
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
    /// The history check (`checkHistory`): acknowledged records lost, duplicates, anomalies.
    public var history: HistoryCheckSummary? = nil

    /// One key of the effective spec.
    public struct SpecSetting: Sendable, Equatable {
        /// The spec key.
        public var key: String
        /// Its effective value as spec text.
        public var value: String
    }

    /// True when the run did not complete (cancelled, stopped, deadline, failed).
    public var isPartial: Bool { stopReason != .completed }

    /// True when the producers ended more than 100 ms behind their schedule: the target rate was
    /// not reached and latencies cover only what was sent.
    public var producersFellBehind: Bool { scheduleLagRecordsAtEnd > 0 && scheduleLagSecondsAtEnd > 0.1 }
}
