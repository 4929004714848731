/// The kinds of anomaly the checker finds, named as in Jepsen's Kafka workload (`jepsen.tests.kafka`).
public enum AnomalyKind: String, CaseIterable, Hashable, Sendable, Codable {
    /// An acknowledged send never read, although a later offset of its partition was read.
    case lostWrite = "lost-write"
    /// One value stored at more than one offset.
    case duplicate
    /// One offset holding two different values.
    case inconsistentOffsets = "inconsistent-offsets"
    /// Within one poll, a partition's offsets did not increase.
    case internalNonmonotonicPoll = "int-nonmonotonic-poll"
    /// Across a consumer's consecutive polls, a partition's offsets went backwards or repeated.
    case nonmonotonicPoll = "nonmonotonic-poll"
    /// Within one poll, offsets known to exist were skipped.
    case internalPollSkip = "int-poll-skip"
    /// Across a consumer's consecutive polls, offsets known to exist were skipped.
    case pollSkip = "poll-skip"
    /// One producer's acknowledged sends to a partition got decreasing offsets.
    case nonmonotonicSend = "nonmonotonic-send"
    /// A value whose send definitely failed (or whose transaction aborted) was read.
    case abortedRead = "aborted-read"
}

/// One anomaly with enough detail to find it in the history.
public struct Anomaly: Hashable, Sendable, CustomStringConvertible {
    public var kind: AnomalyKind
    public var partition: HistoryPartition
    public var detail: String

    public var description: String { "\(kind.rawValue) on \(partition): \(detail)" }
}

/// What the checker concluded about a history.
public struct CheckReport: Sendable {
    /// Every anomaly found, grouped by kind in `counts`.
    public var anomalies: [Anomaly]
    /// Acknowledged sends.
    public var acknowledgedCount: Int
    /// Acknowledged sends that no poll returned, where no later offset was read either (not an
    /// anomaly by itself: the consumers may simply not have got that far).
    public var unseenCount: Int
    /// Distinct (partition, offset) pairs read.
    public var readCount: Int

    public var isValid: Bool { anomalies.isEmpty }

    /// The number of anomalies of each kind (every kind present, zero when none).
    public var counts: [AnomalyKind: Int] {
        var counts = Dictionary(uniqueKeysWithValues: AnomalyKind.allCases.map { ($0, 0) })
        for anomaly in anomalies { counts[anomaly.kind, default: 0] += 1 }
        return counts
    }

    /// Acknowledged records lost (the lost-write count).
    public var lostCount: Int { counts[.lostWrite] ?? 0 }
    /// Values stored more than once.
    public var duplicateCount: Int { counts[.duplicate] ?? 0 }
}

/// Checks a history of sends and polls for Kafka's safety properties, after Jepsen's Kafka checker.
///
/// The checker first builds, per partition, what the log must contain: offset -> value from every
/// acknowledged send and every polled record. From that it derives the anomalies. Offsets may be
/// sparse (transaction markers, compaction), so "skipping" is judged against offsets known to exist,
/// never against offset + 1.
public struct HistoryChecker: Sendable {
    public init() {}

    public func check(_ history: [HistoryEvent]) -> CheckReport {
        var anomalies: [Anomaly] = []
        // offset -> values seen there; value -> offsets it was seen at.
        var valuesAtOffset: [HistoryPartition: [Int64: Set<Int64>]] = [:]
        var offsetsOfValue: [HistoryPartition: [Int64: Set<Int64>]] = [:]
        var acknowledged: [(partition: HistoryPartition, value: Int64, offset: Int64)] = []
        var aborted: [Int64: HistoryPartition] = [:]
        var readValues = Set<Int64>()
        var maxReadOffset: [HistoryPartition: Int64] = [:]

        func observe(_ partition: HistoryPartition, offset: Int64, value: Int64) {
            valuesAtOffset[partition, default: [:]][offset, default: []].insert(value)
            offsetsOfValue[partition, default: [:]][value, default: []].insert(offset)
        }

        var lastSendOffset: [Int: [HistoryPartition: Int64]] = [:]
        for event in history {
            switch event {
            case let .send(process, partition, value, outcome):
                switch outcome {
                case let .acknowledged(offset):
                    observe(partition, offset: offset, value: value)
                    acknowledged.append((partition, value, offset))
                    if let previous = lastSendOffset[process]?[partition], offset <= previous {
                        anomalies.append(Anomaly(kind: .nonmonotonicSend, partition: partition,
                                                 detail: "process \(process) got offset \(offset) after \(previous)"))
                    }
                    lastSendOffset[process, default: [:]][partition] = offset
                case .aborted:
                    aborted[value] = partition
                case .indeterminate:
                    break
                }
            case let .poll(_, records):
                for record in records {
                    observe(record.partition, offset: record.offset, value: record.value)
                    readValues.insert(record.value)
                    maxReadOffset[record.partition] = max(maxReadOffset[record.partition] ?? Int64.min, record.offset)
                }
            case .reposition:
                break
            }
        }

        // Inconsistent offsets and duplicates.
        for (partition, offsets) in valuesAtOffset {
            for (offset, values) in offsets.sorted(by: { $0.key < $1.key }) where values.count > 1 {
                anomalies.append(Anomaly(kind: .inconsistentOffsets, partition: partition,
                                         detail: "offset \(offset) holds values \(values.sorted())"))
            }
        }
        for (partition, values) in offsetsOfValue {
            for (value, offsets) in values.sorted(by: { $0.key < $1.key }) where offsets.count > 1 {
                anomalies.append(Anomaly(kind: .duplicate, partition: partition,
                                         detail: "value \(value) at offsets \(offsets.sorted())"))
            }
        }

        // Lost writes: acknowledged, never read, although a higher offset of the partition was read.
        var unseen = 0
        for ack in acknowledged where !readValues.contains(ack.value) {
            if let highest = maxReadOffset[ack.partition], highest > ack.offset {
                anomalies.append(Anomaly(kind: .lostWrite, partition: ack.partition,
                                         detail: "value \(ack.value) acknowledged at offset \(ack.offset), never read; offset \(highest) was"))
            } else {
                unseen += 1
            }
        }

        // Aborted reads.
        for (value, partition) in aborted.sorted(by: { $0.key < $1.key }) where readValues.contains(value) {
            anomalies.append(Anomaly(kind: .abortedRead, partition: partition, detail: "value \(value) was read but its send failed"))
        }

        // Per-consumer order: monotonic and skip-free, judged against offsets known to exist.
        var knownOffsets: [HistoryPartition: [Int64]] = [:]
        for (partition, offsets) in valuesAtOffset { knownOffsets[partition] = offsets.keys.sorted() }
        func rank(_ partition: HistoryPartition, _ offset: Int64) -> Int {
            // Index of `offset` among the known offsets (it is always known: polls observe it).
            var low = 0
            var high = knownOffsets[partition]?.count ?? 0
            let offsets = knownOffsets[partition] ?? []
            while low < high {
                let mid = (low + high) / 2
                if offsets[mid] < offset { low = mid + 1 } else { high = mid }
            }
            return low
        }
        var lastPolled: [Int: [HistoryPartition: Int64]] = [:]
        for event in history {
            switch event {
            case let .reposition(process, partitions):
                for partition in partitions { lastPolled[process]?[partition] = nil }
            case let .poll(process, records):
                var withinPoll: [HistoryPartition: Int64] = [:]
                for record in records {
                    let partition = record.partition
                    if let previous = withinPoll[partition] {
                        if record.offset <= previous {
                            anomalies.append(Anomaly(kind: .internalNonmonotonicPoll, partition: partition,
                                                     detail: "process \(process) read offset \(record.offset) after \(previous) in one poll"))
                        } else if rank(partition, record.offset) - rank(partition, previous) > 1 {
                            anomalies.append(Anomaly(kind: .internalPollSkip, partition: partition,
                                                     detail: "process \(process) jumped from \(previous) to \(record.offset) in one poll"))
                        }
                    } else if let previous = lastPolled[process]?[partition] {
                        if record.offset <= previous {
                            anomalies.append(Anomaly(kind: .nonmonotonicPoll, partition: partition,
                                                     detail: "process \(process) read offset \(record.offset) after \(previous)"))
                        } else if rank(partition, record.offset) - rank(partition, previous) > 1 {
                            anomalies.append(Anomaly(kind: .pollSkip, partition: partition,
                                                     detail: "process \(process) jumped from \(previous) to \(record.offset)"))
                        }
                    }
                    withinPoll[partition] = record.offset
                }
                for (partition, offset) in withinPoll { lastPolled[process, default: [:]][partition] = offset }
            case .send:
                break
            }
        }

        return CheckReport(anomalies: anomalies, acknowledgedCount: acknowledged.count, unseenCount: unseen,
                           readCount: valuesAtOffset.values.reduce(0) { $0 + $1.count })
    }
}
