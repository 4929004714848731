/// How one partition came back after a broker fault (`FaultRecovery.partitions`).
///
/// "Acknowledged write after the fault" means the first record handed to a producer at or after
/// the fault that was acknowledged on this partition: a record sent before the fault and answered
/// just after it (by the old leader, in flight) does not count as recovery.
public struct PartitionRecovery: Sendable, Equatable {
    /// The topic.
    public var topic: String
    /// The partition.
    public var partition: Int32
    /// The faulted broker's role for this partition at the fault: `leader` or `follower`.
    public var role: String
    /// Milliseconds from the fault to the first acknowledged write after it; nil when none came
    /// before the run ended.
    public var firstAckMs: Double?
    /// Milliseconds with no acknowledged write: from the last acknowledgement before the fault
    /// (or the fault, when there was none) to the first after it; nil when none came.
    public var unavailableMs: Double?
    /// The broker that led the partition next (leaders only), when a new leader was seen within 30 s.
    public var newLeader: Int32?
    /// Milliseconds from the fault until `newLeader` led the partition (leaders only).
    public var leaderElectedMs: Double?

    public init(topic: String, partition: Int32, role: String, firstAckMs: Double?, unavailableMs: Double?,
                newLeader: Int32? = nil, leaderElectedMs: Double? = nil) {
        self.topic = topic
        self.partition = partition
        self.role = role
        self.firstAckMs = firstAckMs
        self.unavailableMs = unavailableMs
        self.newLeader = newLeader
        self.leaderElectedMs = leaderElectedMs
    }
}

/// What a broker fault did to availability, measured from the producers' acknowledgements
/// (`FailoverTrackingDriver`). The affected partitions are those with a replica on the faulted
/// broker at the moment of the fault (leader or follower: with `acks=all` a dead follower also
/// holds acknowledgements until it leaves the ISR).
public struct FaultRecovery: Sendable, Equatable {
    /// Every affected partition, by topic then partition.
    public var partitions: [PartitionRecovery]
    /// The largest `firstAckMs` over the affected partitions that recovered (nil: none did, or none
    /// was affected).
    public var firstAckMsMax: Double?
    /// The largest `firstAckMs` over the partitions the faulted broker led (nil: it led none, or
    /// none recovered): the leader-failover time.
    public var leaderFirstAckMsMax: Double?
    /// The largest `unavailableMs` over the affected partitions that recovered.
    public var unavailableMsMax: Double?
    /// Affected partitions with no acknowledged write after the fault before the run ended.
    public var unrecoveredPartitions: Int
    /// Milliseconds from the fault until the acknowledged rate of the whole run, averaged over
    /// 500 ms, was back to 90% of its mean over the 5 s before the fault (100 ms resolution);
    /// 0 when it never fell below that; nil without a baseline or when it never recovered.
    public var throughputRecovery90Ms: Double?

    public init(partitions: [PartitionRecovery], throughputRecovery90Ms: Double?) {
        self.partitions = partitions
        let recovered = partitions.compactMap(\.firstAckMs)
        firstAckMsMax = recovered.max()
        leaderFirstAckMsMax = partitions.filter { $0.role == "leader" }.compactMap(\.firstAckMs).max()
        unavailableMsMax = partitions.compactMap(\.unavailableMs).max()
        unrecoveredPartitions = partitions.count - recovered.count
        self.throughputRecovery90Ms = throughputRecovery90Ms
    }
}

/// The conformance checker's verdict on a run's history (`checkHistory: true`): every send with its
/// outcome, and every partition read back from its start after the run (`HistoryChecker`, Jepsen's
/// anomaly names).
public struct HistoryCheckSummary: Sendable, Equatable {
    /// Sends acknowledged with an offset.
    public var acknowledged: Int
    /// Sends whose outcome is unknown (failed or timed out: they may or may not be in the log).
    public var indeterminate: Int
    /// Records read back after the run (distinct partition and offset pairs the checker saw).
    public var offsetsRead: Int
    /// Acknowledged records lost: the checker's `lost-write` count plus acknowledged records at or
    /// beyond the partition's final log end (which no later read can reveal).
    public var lostAcknowledged: Int
    /// Records stored more than once (the checker's `duplicate` count).
    public var duplicates: Int
    /// Every anomaly kind with a non-zero count, by Jepsen name (`lost-write`, `duplicate`, ...).
    public var anomalyCounts: [String: Int]
    /// Acknowledged records not read back although the read-back reached the log end.
    public var unseen: Int
    /// True when the read-back reached every partition's log end before its deadline.
    public var readBackComplete: Bool
    /// True when the history stopped recording at `FailoverTracking.historyRecordsMax` sends.
    public var truncated: Bool
    /// Up to five anomalies, for finding them.
    public var examples: [String]

    public init(acknowledged: Int, indeterminate: Int, offsetsRead: Int, lostAcknowledged: Int, duplicates: Int,
                anomalyCounts: [String: Int], unseen: Int, readBackComplete: Bool, truncated: Bool, examples: [String]) {
        self.acknowledged = acknowledged
        self.indeterminate = indeterminate
        self.offsetsRead = offsetsRead
        self.lostAcknowledged = lostAcknowledged
        self.duplicates = duplicates
        self.anomalyCounts = anomalyCounts
        self.unseen = unseen
        self.readBackComplete = readBackComplete
        self.truncated = truncated
        self.examples = examples
    }

    /// Anomalies of every kind.
    public var anomalies: Int { anomalyCounts.values.reduce(0, +) }
    /// No acknowledged record lost and no anomaly, over a complete read-back.
    public var isClean: Bool { lostAcknowledged == 0 && anomalies == 0 && readBackComplete }
}

/// Limits of failover tracking.
public enum FailoverTracking {
    /// Sends a history records at most (the checker's memory grows with it); a spec with
    /// `checkHistory` whose rate x duration exceeds it is refused.
    public static let historyRecordsMax = 2_000_000
    /// How long the read-back after a run may take.
    public static let readBackTimeout: Duration = .seconds(60)
}
