import Synchronization

/// A topic and partition, as the conformance history names them.
public struct HistoryPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (a: HistoryPartition, b: HistoryPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }

    public var description: String { "\(topic)-\(partition)" }
}

/// What became of one send, as the producer learned it.
public enum SendOutcome: Hashable, Sendable {
    /// Acknowledged at this offset.
    case acknowledged(offset: Int64)
    /// The send's fate is unknown (timeout, connection lost): it may or may not be in the log.
    case indeterminate
    /// The send definitely did not take effect (rejected, or its transaction aborted): reading its
    /// value is an aborted read.
    case aborted
}

/// One event of a conformance history. Values are unique per history (each send writes a fresh
/// value), so a value identifies its send.
public enum HistoryEvent: Hashable, Sendable {
    /// A producer (`process`) sent `value` to `partition`, with its outcome.
    case send(process: Int, partition: HistoryPartition, value: Int64, outcome: SendOutcome)
    /// A consumer (`process`) polled these records, in the order the poll returned them.
    case poll(process: Int, records: [PolledRecord])
    /// A consumer's position was reset on these partitions (assign, seek, rebalance, restart), so
    /// monotonicity is checked afresh from its next poll.
    case reposition(process: Int, partitions: [HistoryPartition])
}

/// One record returned by a poll.
public struct PolledRecord: Hashable, Sendable {
    public var partition: HistoryPartition
    public var offset: Int64
    public var value: Int64

    public init(partition: HistoryPartition, offset: Int64, value: Int64) {
        self.partition = partition
        self.offset = offset
        self.value = value
    }
}

/// Records a history from many concurrent producers and consumers. Thread-safe; events keep the
/// order in which they were recorded.
public final class HistoryRecorder: Sendable {
    private let events = Mutex<[HistoryEvent]>([])

    public init() {}

    public func record(_ event: HistoryEvent) {
        events.withLock { $0.append(event) }
    }

    public func recordSend(process: Int, partition: HistoryPartition, value: Int64, outcome: SendOutcome) {
        record(.send(process: process, partition: partition, value: value, outcome: outcome))
    }

    public func recordPoll(process: Int, records: [PolledRecord]) {
        guard !records.isEmpty else { return }
        record(.poll(process: process, records: records))
    }

    public func recordReposition(process: Int, partitions: [HistoryPartition]) {
        record(.reposition(process: process, partitions: partitions))
    }

    /// A copy of the events so far.
    public var history: [HistoryEvent] { events.withLock { $0 } }
}
