import NIOCore
import RivuletConformance
import RivuletCore
import Synchronization

/// Adds failover measurements to a run by wrapping its driver:
/// - **Recovery** per broker fault (`WorkloadFaultEvent.recovery`): which partitions had a replica on
///   the faulted broker, and for each the time to the first acknowledged write after the fault,
///   the time with no acknowledged write, the new leader and when it took over; plus the time
///   until the acknowledged rate was back to 90% of its level before the fault (`RecoveryTracker`).
/// - **History** (`checkHistory`): every send's outcome goes into a conformance `HistoryRecorder`
///   (each record carries a unique id in bytes 8...15 of its value); when the run closes the
///   driver, every partition is read back from its start and `HistoryChecker` counts lost
///   acknowledged records, duplicates and anomalies (`WorkloadResult.history`).
///
/// ```swift
/// let driver = try await FailoverTrackingDriver.wrap(KafkaWorkloadDriver.start(spec: spec), spec: spec)
/// let result = try await WorkloadRunner(spec: spec, driver: driver).run()   // result.faults[i].recovery, result.history
/// ```
///
/// The runner hands the result to `contribute(to:trafficStartNanoseconds:)` (`WorkloadResultContributor`).
/// Cost: one lock per acknowledged run of records; with the history, one event per record and a
/// copy of each batch's values (to write the ids).
///
/// Isolation: `Sendable`; used from several tasks like any driver.
public final class FailoverTrackingDriver: WorkloadDriver, WorkloadResultContributor {
    /// The wrapped driver.
    public let inner: any WorkloadDriver
    let hooks: FailoverFaultHooks
    let history: HistoryRecorder?
    let clock: any EngineClock
    let partitionsPerTopic: Int
    private let injector: TrackingFaultInjector?
    private let state = Mutex<State>(State())

    private struct State {
        var closed = false
        var summary: HistoryCheckSummary?
        var historySends = 0
        var runs = 0
        var truncated = false
    }

    /// Wraps `driver` when `spec` has broker faults or `checkHistory`; otherwise returns it unchanged.
    public static func wrap(_ driver: any WorkloadDriver, spec: WorkloadSpec, clock: any EngineClock = SystemClock()) -> any WorkloadDriver {
        guard spec.checkHistory || spec.faults.contains(where: \.needsInjector) else { return driver }
        return FailoverTrackingDriver(wrapping: driver, spec: spec, clock: clock)
    }

    /// A tracking driver around `driver` for a run of `spec`, on the run's `clock`.
    public init(wrapping driver: any WorkloadDriver, spec: WorkloadSpec, clock: any EngineClock = SystemClock()) {
        inner = driver
        self.clock = clock
        partitionsPerTopic = spec.partitionsPerTopic
        let hooks = FailoverFaultHooks(observer: driver as? any FailoverObservableDriver,
                                       tracker: RecoveryTracker(originNanoseconds: clock.monotonicNanoseconds()), clock: clock)
        self.hooks = hooks
        history = spec.checkHistory ? HistoryRecorder() : nil
        injector = driver.faultInjector.map { TrackingFaultInjector(inner: $0, hooks: hooks) }
    }

    public var name: String { inner.name }

    public var faultInjector: (any WorkloadFaultInjector)? { injector }

    public func createTopics(_ topics: [WorkloadTopic]) async throws {
        hooks.addTopics(topics.map(\.name))
        try await inner.createTopics(topics)
    }

    public func createProducer(_ info: WorkloadProducerInfo) async throws -> any WorkloadProducer {
        let producer = try await inner.createProducer(info)
        return FailoverTrackingProducer(inner: producer, index: info.index, owner: self)
    }

    public func createConsumer(_ info: WorkloadConsumerInfo, handler: @escaping WorkloadReceiveHandler) async throws -> any WorkloadConsumer {
        try await inner.createConsumer(info, handler: handler)
    }

    /// Stops watching for new leaders, reads everything back and checks the history (when
    /// recording one), then closes the wrapped driver.
    public func close() async {
        let wasOpen = state.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        await hooks.stopMonitors()
        if let history, let observer = hooks.observer {
            let summary = await Self.checkHistory(history, observer: observer, topics: hooks.topics, partitions: partitionsPerTopic,
                                                  truncated: state.withLock { $0.truncated })
            state.withLock { $0.summary = summary }
        }
        await inner.close()
    }

    /// Reads back and checks; see `HistoryCheckSummary`.
    static func checkHistory(_ history: HistoryRecorder, observer: any FailoverObservableDriver, topics: [String], partitions: Int,
                             truncated: Bool) async -> HistoryCheckSummary {
        let readBack = await observer.readBack(topics: topics, partitions: partitions, timeout: FailoverTracking.readBackTimeout)
        for poll in readBack.polls { history.recordPoll(process: 1_000_000, records: poll) }
        let events = history.history
        let report = HistoryChecker().check(events)
        var read = Set<Int64>()
        var indeterminate = 0
        for event in events {
            switch event {
            case let .poll(_, records): for record in records { read.insert(record.value) }
            case .send(_, _, _, .indeterminate): indeterminate += 1
            default: break
            }
        }
        // Acknowledged but absent, at or beyond the final log end: lost, though no later read shows it.
        var beyondEnd = 0
        var unseen = 0
        for case let .send(_, partition, value, .acknowledged(offset)) in events where !read.contains(value) {
            if let end = readBack.endOffsets[partition], offset >= end - 1, readBack.complete {
                if offset >= end { beyondEnd += 1 } else { unseen += 1 }
            }
        }
        var counts: [String: Int] = [:]
        for (kind, count) in report.counts where count > 0 { counts[kind.rawValue] = count }
        var examples = report.anomalies.prefix(5).map(\.description)
        if let problem = readBack.problem { examples.append("read-back: \(problem)") }
        return HistoryCheckSummary(
            acknowledged: report.acknowledgedCount, indeterminate: indeterminate, offsetsRead: report.readCount,
            lostAcknowledged: report.lostCount + beyondEnd + unseen, duplicates: report.duplicateCount, anomalyCounts: counts,
            unseen: report.unseenCount, readBackComplete: readBack.complete, truncated: truncated, examples: Array(examples))
    }

    public func contribute(to result: inout WorkloadResult, trafficStartNanoseconds: UInt64) async {
        for index in result.faults.indices {
            let event = result.faults[index]
            guard event.error == nil, ["kill", "pause", "partition", "restart", "delay"].contains(event.verb) else { continue }
            let at = trafficStartNanoseconds &+ UInt64(max(0, event.atSeconds) * 1e9)
            if let (_, recovery) = hooks.tracker.claimRecovery(method: event.verb, near: at) {
                result.faults[index].recovery = recovery
            }
        }
        result.history = state.withLock { $0.summary }
    }

    // MARK: Hooks for the producer and injector wrappers

    /// Records `result` of a send call whose records were handed at `handedAt` with history ids `ids`.
    func completed(_ result: WorkloadSendResult, topic: String, process: Int, handedAt: UInt64, ids: [Int64]?) {
        let completedAt = result.completedAtNanoseconds ?? clock.monotonicNanoseconds()
        if result.error == nil, result.partition >= 0 {
            hooks.tracker.acknowledged(topic: topic, partition: result.partition, count: result.records.count, handedAtNanoseconds: handedAt,
                                 completedAtNanoseconds: completedAt)
        }
        guard let history, let ids else { return }
        // Each reported run is its own history "process": a driver reports the runs of one batch from
        // several threads, so their order of arrival is not their send order, and the checker's
        // send-order check (nonmonotonic-send) would flag the harness, not the broker. Read order
        // (the read-back) and every other anomaly are checked.
        let run = state.withLock { state -> Int? in
            guard state.historySends + result.records.count <= FailoverTracking.historyRecordsMax else {
                state.truncated = true
                return nil
            }
            state.historySends += result.records.count
            state.runs += 1
            return state.runs
        }
        guard let run else { return }
        let partition = HistoryPartition(topic, result.partition)
        for index in result.records where index < ids.count {
            let outcome: SendOutcome = result.error == nil && result.baseOffset >= 0
                ? .acknowledged(offset: result.baseOffset + Int64(index - result.records.lowerBound)) : .indeterminate
            history.recordSend(process: process << 40 | run, partition: partition, value: ids[index], outcome: outcome)
        }
    }
}

/// What the tracking driver and its fault injector share: the tracker, the view of the cluster,
/// the run's topics, and the tasks watching for new leaders. Thread-safe.
final class FailoverFaultHooks: Sendable {
    let observer: (any FailoverObservableDriver)?
    let tracker: RecoveryTracker
    let clock: any EngineClock
    private let state = Mutex<State>(State())

    private struct State {
        var topics: [String] = []
        var monitors: [Task<Void, Never>] = []
        var stopped = false
    }

    init(observer: (any FailoverObservableDriver)?, tracker: RecoveryTracker, clock: any EngineClock) {
        self.observer = observer
        self.tracker = tracker
        self.clock = clock
    }

    var topics: [String] { state.withLock { $0.topics } }

    func addTopics(_ names: [String]) { state.withLock { $0.topics += names } }

    /// Cancels and awaits the leader watchers; later faults start none.
    func stopMonitors() async {
        let monitors = state.withLock { state -> [Task<Void, Never>] in
            state.stopped = true
            defer { state.monitors = [] }
            return state.monitors
        }
        for monitor in monitors { monitor.cancel() }
        for monitor in monitors { await monitor.value }
    }

    /// A fault reached `brokerId` at `at`; `snapshot` is the partitions just before it.
    func faultApplied(method: String, brokerId: Int, at: UInt64, snapshot: [FailoverPartitionState]) {
        let (index, led) = tracker.faultApplied(method: method, brokerId: brokerId, atNanoseconds: at, snapshot: snapshot)
        guard let observer, !led.isEmpty else { return }
        let tracker = tracker
        let clock = clock
        let broker = Int32(clamping: brokerId)
        // Watch (bounded: 30 s, every 5 ms) for the partitions' next leader.
        let monitor = Task {
            var pending = led
            let deadline = at &+ 30_000_000_000
            while !pending.isEmpty, !Task.isCancelled, clock.monotonicNanoseconds() < deadline {
                pending = pending.filter { key in
                    guard let leader = observer.currentLeader(topic: key.topic, partition: key.partition), leader != broker else { return true }
                    tracker.leaderElected(fault: index, key: key, leader: leader, atNanoseconds: clock.monotonicNanoseconds())
                    return false
                }
                do { try await clock.sleep(nanoseconds: 5_000_000) } catch { return }
            }
        }
        let closed = state.withLock { state -> Bool in
            if !state.stopped { state.monitors.append(monitor) }
            return state.stopped
        }
        if closed { monitor.cancel() }
    }

    /// The partitions as they are now (before a fault).
    func snapshot() -> [FailoverPartitionState] {
        observer?.partitionSnapshot(topics: topics) ?? []
    }
}

/// Lets the runner add what a driver measured to the result, after the run (the driver is closed
/// by then). `trafficStartNanoseconds` is the start of traffic on the run's clock, the origin of
/// `WorkloadFaultEvent.atSeconds`.
public protocol WorkloadResultContributor: Sendable {
    /// Adds the driver's figures to `result`.
    func contribute(to result: inout WorkloadResult, trafficStartNanoseconds: UInt64) async
}
