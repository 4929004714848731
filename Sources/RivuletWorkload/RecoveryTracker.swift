import RivuletCore
import Synchronization

/// Measures availability around broker faults from the producers' acknowledgements.
///
/// Fed with every acknowledged run of records (`acknowledged`: partition, count, when the records
/// were handed to the producer and when they were acknowledged) and every applied fault
/// (`faultApplied`: the broker, the moment, and the partitions it held a replica of). For each
/// fault and affected partition it keeps the last acknowledgement before the fault and the first
/// acknowledgement of a record handed at or after the fault; it also counts acknowledged records
/// per 100 ms for the throughput-recovery figure. Work per acknowledgement: one lock, two
/// dictionary lookups; no allocation once every partition has been seen.
///
/// Isolation: `Sendable`, thread-safe; producers' completions call it from any thread.
final class RecoveryTracker: Sendable {
    /// The throughput buckets' width.
    static let bucketNanoseconds: UInt64 = 100_000_000
    /// At most this many buckets (about 28 hours); later acknowledgements are not bucketed.
    static let bucketsMax = 1_000_000

    struct PartitionKey: Hashable, Sendable {
        var topic: String
        var partition: Int32
    }

    /// One affected partition of one fault.
    struct Entry: Sendable {
        var key: PartitionKey
        var role: String
        var lastAckBefore: UInt64?
        var firstAckAfter: UInt64?
        var newLeader: Int32?
        var leaderElectedAt: UInt64?
    }

    /// One applied fault.
    struct FaultRecord: Sendable {
        /// The injector method: `kill`, `pause`, `partition`, `restart` or `delay`.
        var method: String
        var brokerId: Int
        var atNanoseconds: UInt64
        var entries: [Entry]
        var matched = false
    }

    private struct State {
        var lastAck: [PartitionKey: UInt64] = [:]
        var faults: [FaultRecord] = []
        /// Per partition: the (fault, entry) pairs it is affected by.
        var waiting: [PartitionKey: [(fault: Int, entry: Int)]] = [:]
        var buckets: [Int64] = []
    }

    let originNanoseconds: UInt64
    private let state = Mutex(State())

    /// A tracker whose throughput buckets start at `originNanoseconds` (on the run's clock).
    init(originNanoseconds: UInt64) {
        self.originNanoseconds = originNanoseconds
    }

    /// `count` records of `topic`-`partition`, handed to the producer at `handedAtNanoseconds`,
    /// were acknowledged at `completedAtNanoseconds`.
    func acknowledged(topic: String, partition: Int32, count: Int, handedAtNanoseconds: UInt64, completedAtNanoseconds: UInt64) {
        let key = PartitionKey(topic: topic, partition: partition)
        let bucket = completedAtNanoseconds >= originNanoseconds ? Int((completedAtNanoseconds - originNanoseconds) / Self.bucketNanoseconds) : -1
        state.withLock { state in
            if bucket >= 0, bucket < Self.bucketsMax {
                if bucket >= state.buckets.count { state.buckets.append(contentsOf: repeatElement(0, count: bucket - state.buckets.count + 1)) }
                state.buckets[bucket] += Int64(count)
            }
            if completedAtNanoseconds > state.lastAck[key] ?? 0 { state.lastAck[key] = completedAtNanoseconds }
            // Completions can be reported out of order (a driver coalesces runs), so keep the earliest.
            guard let affected = state.waiting[key] else { return }
            for (fault, entry) in affected {
                let at = state.faults[fault].atNanoseconds
                if handedAtNanoseconds >= at, completedAtNanoseconds >= at,
                   completedAtNanoseconds < state.faults[fault].entries[entry].firstAckAfter ?? .max {
                    state.faults[fault].entries[entry].firstAckAfter = completedAtNanoseconds
                }
            }
        }
    }

    /// A fault reached `brokerId` at `atNanoseconds`; `snapshot` is the partitions as they were just
    /// before it. Returns the fault's index and the partitions the broker led (to watch for a new leader).
    @discardableResult
    func faultApplied(method: String, brokerId: Int, atNanoseconds: UInt64,
                      snapshot: [FailoverPartitionState]) -> (index: Int, led: [PartitionKey]) {
        let broker = Int32(clamping: brokerId)
        let affected = snapshot.filter { $0.replicas.contains(broker) || $0.leader == broker }
        return state.withLock { state in
            let index = state.faults.count
            var entries: [Entry] = []
            for partition in affected {
                let key = PartitionKey(topic: partition.topic, partition: partition.partition)
                entries.append(Entry(key: key, role: partition.leader == broker ? "leader" : "follower",
                                     lastAckBefore: state.lastAck[key]))
                state.waiting[key, default: []].append((index, entries.count - 1))
            }
            state.faults.append(FaultRecord(method: method, brokerId: brokerId, atNanoseconds: atNanoseconds, entries: entries))
            return (index, entries.filter { $0.role == "leader" }.map(\.key))
        }
    }

    /// Partition `key` of fault `index` got leader `leader` at `atNanoseconds`.
    func leaderElected(fault index: Int, key: PartitionKey, leader: Int32, atNanoseconds: UInt64) {
        state.withLock { state in
            guard index < state.faults.count else { return }
            for entry in state.faults[index].entries.indices where state.faults[index].entries[entry].key == key {
                state.faults[index].entries[entry].newLeader = leader
                state.faults[index].entries[entry].leaderElectedAt = atNanoseconds
            }
        }
    }

    /// The fault records so far.
    var faults: [FaultRecord] { state.withLock { $0.faults } }

    /// Claims the unmatched record of `method` closest in time to `atNanoseconds` (within
    /// `toleranceNanoseconds`) and returns its recovery figures; nil when there is none.
    func claimRecovery(method: String, near atNanoseconds: UInt64, toleranceNanoseconds: UInt64 = 1_000_000_000) -> (brokerId: Int, recovery: FaultRecovery)? {
        let (record, buckets) = state.withLock { state -> (FaultRecord?, [Int64]) in
            var best: (index: Int, distance: UInt64)?
            for (index, fault) in state.faults.enumerated() where !fault.matched && fault.method == method {
                let distance = fault.atNanoseconds > atNanoseconds ? fault.atNanoseconds - atNanoseconds : atNanoseconds - fault.atNanoseconds
                if distance <= toleranceNanoseconds, distance < best?.distance ?? .max { best = (index, distance) }
            }
            guard let best else { return (nil, []) }
            state.faults[best.index].matched = true
            return (state.faults[best.index], state.buckets)
        }
        guard let record else { return nil }
        return (record.brokerId, Self.recovery(of: record, buckets: buckets, origin: originNanoseconds))
    }

    /// The figures of one fault record.
    static func recovery(of record: FaultRecord, buckets: [Int64], origin: UInt64) -> FaultRecovery {
        let at = record.atNanoseconds
        func ms(_ from: UInt64, _ to: UInt64) -> Double { Double(Int64(bitPattern: to &- from)) / 1e6 }
        let partitions = record.entries.sorted { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }.map { entry in
            PartitionRecovery(
                topic: entry.key.topic, partition: entry.key.partition, role: entry.role,
                firstAckMs: entry.firstAckAfter.map { ms(at, $0) },
                unavailableMs: entry.firstAckAfter.map { ms(min(entry.lastAckBefore ?? at, at), $0) },
                newLeader: entry.newLeader, leaderElectedMs: entry.leaderElectedAt.map { ms(at, $0) })
        }
        return FaultRecovery(partitions: partitions,
                             throughputRecovery90Ms: throughputRecoveryMs(buckets: buckets, origin: origin, faultAt: at))
    }

    /// Milliseconds from `faultAt` until the acknowledged rate, averaged over 5 buckets (500 ms),
    /// is back to 90% of its mean over the 50 whole buckets (5 s) before the fault: 0 when the
    /// average never fell below that within 10 s of the fault; nil without a baseline (fewer than
    /// 5 whole buckets before the fault, or none acknowledged) or when it fell and never came back.
    static func throughputRecoveryMs(buckets: [Int64], origin: UInt64, faultAt: UInt64) -> Double? {
        guard faultAt >= origin else { return nil }
        let width = bucketNanoseconds
        let faultBucket = Int((faultAt - origin) / width)   // the bucket the fault falls in
        let baselineBuckets = max(0, faultBucket - 50) ..< faultBucket
        guard baselineBuckets.count >= 5, faultBucket <= buckets.count else { return nil }
        let baseline = Double(buckets[baselineBuckets].reduce(0, +)) / Double(baselineBuckets.count)
        guard baseline > 0 else { return nil }
        let threshold = 0.9 * baseline
        let window = 5
        // Moving averages over windows ending at bucket `end` (inclusive), starting after the fault.
        func average(endingAt end: Int) -> Double {
            let lower = max(faultBucket, end - window + 1)
            let slice = buckets[lower ... end]
            return Double(slice.reduce(0, +)) / Double(slice.count)
        }
        // The last bucket is usually partial (the run stopped inside it): leave it out.
        let lastWhole = buckets.count - 2
        guard lastWhole >= faultBucket + window - 1 else { return nil }
        let dipLimit = min(lastWhole, faultBucket + 100)
        var dip: Int?
        for end in (faultBucket + window - 1) ... max(faultBucket + window - 1, dipLimit) where end <= lastWhole {
            if average(endingAt: end) < threshold {
                dip = end
                break
            }
        }
        guard let dip else { return 0 }
        for end in dip ... lastWhole where average(endingAt: end) >= threshold {
            let endNanoseconds = origin &+ UInt64(end + 1) &* width
            return Double(endNanoseconds &- faultAt) / 1e6
        }
        return nil
    }
}
