import RivuletCore
import Synchronization

/// Runs one workload against one driver and returns its result.
///
/// ```swift
/// let spec = try WorkloadSpec.load(path: "workloads/quickstart.spec", overrides: overrides)
/// let result = try await WorkloadRunner(spec: spec, driver: driver).run()
/// let files = try ResultWriter.write(result, to: "results")
/// ```
///
/// Sequence (OMB's): create topics, consumers, then producers; send one readiness record per
/// producer and wait until every subscription received one; start producers (one task each, on
/// their `RateSchedule`); warm up; measure for the test duration, in windows; with
/// `consumerBacklogSizeGB`, pause consumers until the backlog is built, resume them, wait for the
/// drain, then measure the test duration; stop producers, wait (bounded) for outstanding sends,
/// undo pending faults, close everything including the driver.
///
/// Cancellation: cancelling the task that awaits `run()` (Ctrl-C) or calling `stop()` ends the
/// run early and still returns the partial result (`stopReason` says why); cleanup runs in full.
/// Bounded: every wait has a deadline (`Options`), producers have a bound on outstanding sends,
/// and the whole run has `maxRunDuration`.
///
/// Isolation: `Sendable`; `run()` may be called once. Time and randomness come from the
/// `EngineClock` and the spec's `seed`.
public final class WorkloadRunner: Sendable {
    /// Knobs that are not part of the workload.
    public struct Options: Sendable {
        /// Where the live progress line goes (nil: nowhere).
        public var progress: (any WorkloadProgressSink)?
        /// The max-rate probe's control period.
        public var probeControlPeriod: Duration
        /// The max-rate probe's tuning.
        public var probe: MaxRateProbe.Configuration
        /// Whether to send readiness records and wait for consumers before load (OMB does).
        public var waitForConsumers: Bool
        /// How long to wait for readiness.
        public var readinessTimeout: Duration
        /// How long to wait for outstanding sends after producers stop.
        public var closeTimeout: Duration
        /// Bound on value bytes sent and not completed, per producer (Kafka's `buffer.memory`).
        public var outstandingBytesMaxPerProducer: Int
        /// Records per `send` call at most.
        public var batchRecordsMax: Int
        /// Value bytes per `send` call at most (at least one record).
        public var batchBytesMax: Int
        /// Hard limit on the run from the start of traffic; nil: warm-up + test + 1 minute, plus
        /// 1 hour when building a backlog.
        public var maxRunDuration: Duration?
        /// The environment to report; nil captures `WorkloadEnvironment.current()`.
        public var environment: WorkloadEnvironment?

        public init(progress: (any WorkloadProgressSink)? = nil, probeControlPeriod: Duration = .seconds(1),
                    probe: MaxRateProbe.Configuration = MaxRateProbe.Configuration(), waitForConsumers: Bool = true,
                    readinessTimeout: Duration = .seconds(60), closeTimeout: Duration = .seconds(5),
                    outstandingBytesMaxPerProducer: Int = 32 << 20, batchRecordsMax: Int = 1000, batchBytesMax: Int = 8 << 20,
                    maxRunDuration: Duration? = nil, environment: WorkloadEnvironment? = nil) {
            self.progress = progress
            self.probeControlPeriod = probeControlPeriod
            self.probe = probe
            self.waitForConsumers = waitForConsumers
            self.readinessTimeout = readinessTimeout
            self.closeTimeout = closeTimeout
            self.outstandingBytesMaxPerProducer = outstandingBytesMaxPerProducer
            self.batchRecordsMax = batchRecordsMax
            self.batchBytesMax = batchBytesMax
            self.maxRunDuration = maxRunDuration
            self.environment = environment
        }
    }

    /// The workload (validated again by `run()`).
    public let spec: WorkloadSpec
    /// The system under test; `run()` closes it.
    public let driver: any WorkloadDriver
    /// The clock of every schedule, measurement and wait (and of the payload timestamps).
    public let clock: any EngineClock
    /// Knobs that are not part of the workload.
    public let options: Options
    private let stopRequest = StopFlag()

    /// A runner for one run of `spec` against `driver`.
    public init(spec: WorkloadSpec, driver: any WorkloadDriver, clock: any EngineClock = SystemClock(), options: Options = Options()) {
        self.spec = spec
        self.driver = driver
        self.clock = clock
        self.options = options
    }

    /// Asks a running `run()` to stop early; it returns the partial result with `stopReason == .stopped`.
    /// Safe from any thread, including a signal handler's dispatch source.
    public func stop() { stopRequest.set() }

    /// Runs the workload. Throws `WorkloadRunError` only when traffic could not start (invalid
    /// spec, broker faults without an injector, setup or readiness failure), after closing what it
    /// created and the driver; otherwise returns the result, partial or complete.
    public func run() async throws -> WorkloadResult {
        do {
            try spec.validate()
        } catch {
            await driver.close()
            throw WorkloadRunError.invalidSpec(error)
        }
        if driver.faultInjector == nil, let fault = spec.faults.first(where: \.needsInjector) {
            await driver.close()
            throw WorkloadRunError.faultInjectionUnsupported(driver: driver.name, fault: fault.description)
        }
        let environment = options.environment ?? WorkloadEnvironment.current()
        var generator = SeededGenerator(seed: spec.seed)
        let payloads = PayloadPool(spec: spec, generator: &generator)
        let keys = KeyPool(generator: &generator)
        let runId = String(UInt32(truncatingIfNeeded: UInt64(bitPattern: clock.wallMilliseconds()) ^ generator.next()), radix: 36)
        let measurements = WorkloadMeasurements(receiversPerRecord: spec.subscriptionsPerTopic, messageSize: spec.messageSize,
                                                startNanoseconds: clock.monotonicNanoseconds())
        let clock = clock
        // One epoch per rate; the real first epoch starts with traffic, after readiness.
        let rateControl = RateControl(rate: 1, startNanoseconds: clock.monotonicNanoseconds())
        let consumers = ConsumerRegistry(driver: driver) { batch in
            measurements.recordReceived(batch, now: clock.monotonicNanoseconds())
        }

        // Setup: topics, consumers, producers.
        let topicNames = (0 ..< spec.topics).map { "rivulet-\(runId)-\(String(1_0000 + $0).dropFirst())" }
        var producers: [ProducerWorker] = []
        var stage = "creating topics"
        do {
            try await driver.createTopics(topicNames.map {
                WorkloadTopic(name: $0, partitions: spec.partitionsPerTopic, replicationFactor: spec.replicationFactor,
                              minInsyncReplicas: spec.minInsyncReplicas)
            })
            stage = "creating consumers"
            for topic in topicNames {
                for subscription in 0 ..< spec.subscriptionsPerTopic {
                    let subscriptionName = "sub-\(String(1000 + subscription).dropFirst())-\(runId)"
                    for _ in 0 ..< spec.consumerPerSubscription {
                        _ = try await consumers.create(topic: topic, subscription: subscriptionName)
                    }
                }
            }
            stage = "waiting for consumer groups to settle"
            try await driver.consumersReady(timeout: options.readinessTimeout)
            stage = "creating producers"
            let outstandingMax = max(1, options.outstandingBytesMaxPerProducer / max(1, spec.messageSize))
            for (topicIndex, topic) in topicNames.enumerated() {
                for producerIndex in 0 ..< spec.producersPerTopic {
                    let index = topicIndex * spec.producersPerTopic + producerIndex
                    let producer = try await driver.createProducer(
                        WorkloadProducerInfo(index: index, topic: topic, config: WorkloadProducerConfig(spec: spec)))
                    producers.append(ProducerWorker(
                        index: index, topic: topic, producer: producer, measurements: measurements,
                        rateControl: rateControl, payloads: payloads, keys: keys,
                        keyType: spec.keyDistributor, seed: spec.seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15, clock: clock,
                        producerCount: spec.totalProducers,
                        maxBatchRecords: max(1, min(options.batchRecordsMax, options.batchBytesMax / max(1, spec.messageSize))),
                        maxOutstandingRecords: outstandingMax))
                }
            }
        } catch {
            await closeEverything(producers: producers, consumers: consumers)
            throw WorkloadRunError.setupFailed(stage: stage, reason: "\(error)")
        }

        // Readiness: one record per producer, until every subscription has received one (OMB).
        if options.waitForConsumers, spec.subscriptionsPerTopic > 0 {
            let expected = Int64(spec.topics * spec.subscriptionsPerTopic)
            for producer in producers {
                if let error = await producer.sendProbe(timeout: options.readinessTimeout) {
                    await closeEverything(producers: producers, consumers: consumers)
                    throw WorkloadRunError.setupFailed(stage: "sending readiness records", reason: "\(error)")
                }
            }
            let deadline = clock.monotonicNanoseconds() &+ options.readinessTimeout.nanosecondsClamped
            while measurements.allTime.received < expected, clock.monotonicNanoseconds() < deadline, !Task.isCancelled {
                try? await clock.sleep(nanoseconds: 5_000_000)
            }
            let received = measurements.allTime.received
            if received < expected {
                await closeEverything(producers: producers, consumers: consumers)
                throw WorkloadRunError.consumersNotReady(received: received, expected: expected,
                                                         timeoutSeconds: options.readinessTimeout.secondsDouble)
            }
        }

        // Traffic.
        let trafficStart = clock.monotonicNanoseconds()
        let trafficStartWallMs = clock.wallMilliseconds()
        let initialRate = spec.probesMaximumRate ? MaxRateProbe(configuration: options.probe).rate : spec.producerRate
        rateControl.set(rate: initialRate, now: trafficStart, handed: measurements.handedToDriver.load(ordering: .relaxed))
        let workers = producers
        let session = RunSession(phase: spec.warmupDuration > .zero ? "warmup" : "test")
        let scheduler = FaultScheduler(faults: spec.faults, injector: driver.faultInjector, consumers: consumers, clock: clock,
                                       trafficStartNanoseconds: trafficStart)
        let produceStop = StopFlag()
        let backgroundStop = StopFlag()
        let context = RunContext(spec: spec, clock: clock, options: options, measurements: measurements, session: session,
                                 rateControl: rateControl, consumers: consumers, trafficStart: trafficStart, stopRequest: stopRequest)

        let outcome = await withTaskGroup(of: Void.self) { group -> PhaseOutcome in
            for worker in workers {
                group.addTask { await worker.run(stop: produceStop) }
            }
            group.addTask { await context.tick(stop: backgroundStop) }
            if spec.probesMaximumRate {
                group.addTask { await context.probe(stop: backgroundStop) }
            }
            if !spec.faults.isEmpty {
                group.addTask { await scheduler.run(stop: backgroundStop) }
            }
            let outcome = await context.orchestrate()
            produceStop.set()
            backgroundStop.set()
            group.cancelAll()
            return outcome
        }

        // Cleanup runs in a fresh task so that a cancelled run still drains, undoes faults and closes.
        let cleanup = Task {
            await self.finish(context: context, workers: workers, consumers: consumers, scheduler: scheduler, outcome: outcome)
        }
        let unacknowledged = await cleanup.value
        let lags = workers.map { $0.lagAtEnd(outcome.endNanoseconds &- 1) }
        let lag = (records: lags.reduce(Int64(0)) { $0 + $1.records }, seconds: lags.map(\.seconds).max() ?? 0)
        var result = buildResult(context: context, outcome: outcome, events: scheduler.events, unacknowledged: unacknowledged,
                                 scheduleLag: lag, startedAtWallMs: trafficStartWallMs, environment: environment)
        // A driver that measured more (recovery after faults, the history check) adds it.
        if let contributor = driver as? any WorkloadResultContributor {
            await contributor.contribute(to: &result, trafficStartNanoseconds: trafficStart)
        }
        return result
    }

    /// Closes the final window, waits for outstanding sends, undoes faults, closes everything.
    /// Returns the number of sends still unacknowledged after the wait.
    private func finish(context: RunContext, workers: [ProducerWorker], consumers: ConsumerRegistry, scheduler: FaultScheduler,
                        outcome: PhaseOutcome) async -> Int64 {
        context.measurements.closeFinalWindow(at: outcome.endNanoseconds, minimumNanoseconds: context.finalWindowMinimumNanoseconds)
        context.session.setPhase("stopping")
        let deadline = clock.monotonicNanoseconds() &+ options.closeTimeout.nanosecondsClamped
        func outstanding() -> Int { workers.reduce(0) { $0 + $1.outstanding.load(ordering: .relaxed) } }
        while outstanding() > 0, clock.monotonicNanoseconds() < deadline {
            try? await clock.sleep(nanoseconds: 1_000_000)
        }
        let unacknowledged = Int64(outstanding())
        context.measurements.freeze()
        await scheduler.undoOutstanding()
        await closeEverything(producers: workers, consumers: consumers)
        options.progress?.finish()
        return unacknowledged
    }

    private func closeEverything(producers: [ProducerWorker], consumers: ConsumerRegistry) async {
        for producer in producers { await producer.producer.close() }
        await consumers.closeAll()
        await driver.close()
    }
}

/// How the phases ended.
struct PhaseOutcome: Sendable {
    var reason: WorkloadStopReason
    var detail: String?
    var measureStartNanoseconds: UInt64?
    var endNanoseconds: UInt64
}

/// Run state shared between the orchestrator, the ticker and the probe.
final class RunSession: Sendable {
    struct State: Sendable {
        var phase: String
        var seconds: [WorkloadMeasurements.Second] = []
        var probeSteps: [MaxRateProbeReport.Step] = []
        var probeSettledRate: Double?
        var probeConvergedAtSeconds: Double?
        var probeConverged = false
        var backlog: BacklogReport?
    }

    let state: Mutex<State>

    init(phase: String) { state = Mutex(State(phase: phase)) }

    var phase: String { state.withLock { $0.phase } }
    func setPhase(_ phase: String) { state.withLock { $0.phase = phase } }
}

/// What the orchestrator, ticker and probe tasks need; all `Sendable`.
struct RunContext: Sendable {
    let spec: WorkloadSpec
    let clock: any EngineClock
    let options: WorkloadRunner.Options
    let measurements: WorkloadMeasurements
    let session: RunSession
    let rateControl: RateControl
    let consumers: ConsumerRegistry
    let trafficStart: UInt64
    let stopRequest: StopFlag

    var deadlineNanoseconds: UInt64 {
        let limit = options.maxRunDuration
            ?? spec.warmupDuration + spec.testDuration + .seconds(60) + (spec.consumerBacklogSizeGB > 0 ? .seconds(3600) : .zero)
        return trafficStart &+ limit.nanosecondsClamped
    }

    /// A final partial window shorter than this is folded into the totals only (OMB reports full windows).
    var finalWindowMinimumNanoseconds: UInt64 { spec.window.nanosecondsClamped / 10 }

    private func seconds(since start: UInt64, _ now: UInt64) -> Double { Double(now &- start) / 1e9 }

    /// Sleeps until `deadline`; returns why it stopped early, or nil when the deadline was reached.
    func wait(until deadline: UInt64) async -> (WorkloadStopReason, String?)? {
        let hardDeadline = deadlineNanoseconds
        while true {
            if Task.isCancelled { return (.cancelled, "cancelled") }
            if stopRequest.isSet { return (.stopped, "stop requested") }
            let now = clock.monotonicNanoseconds()
            if now >= hardDeadline {
                return (.deadline, "the run reached its limit of \(formatNumber(seconds(since: trafficStart, hardDeadline))) s")
            }
            if now >= deadline { return nil }
            do {
                try await clock.sleep(nanoseconds: min(deadline, hardDeadline) - now > 20_000_000 ? 20_000_000 : min(deadline, hardDeadline) - now)
            } catch {
                return (.cancelled, "cancelled")
            }
        }
    }

    /// Warm-up, optional backlog build and drain, test. Returns when done or interrupted.
    func orchestrate() async -> PhaseOutcome {
        func interrupted(_ reason: (WorkloadStopReason, String?)) -> PhaseOutcome {
            PhaseOutcome(reason: reason.0, detail: reason.1, measureStartNanoseconds: measurements.measureStartNanoseconds,
                         endNanoseconds: clock.monotonicNanoseconds())
        }
        // Measuring starts exactly at the end of the warm-up, so a record's phase is decided by its
        // intended send time alone (with no warm-up, the very first record is measured).
        let measureStart = trafficStart &+ spec.warmupDuration.nanosecondsClamped
        if let reason = await wait(until: measureStart) { return interrupted(reason) }
        measurements.beginMeasurement(at: measureStart)
        session.setPhase("test")
        var testEnd = measureStart &+ spec.testDuration.nanosecondsClamped

        if spec.consumerBacklogSizeGB > 0 {
            let requestedBytes = spec.backlogBytesRequested
            let capacity = requestedBytes / Int64(spec.messageSize)
            let drainLevel = max(1000, Int64((1 - spec.backlogDrainRatio) * Double(capacity)))
            var report = BacklogReport(requestedBytes: requestedBytes, buildSeconds: nil, drainSeconds: nil, peakBacklog: 0,
                                       drainLevel: drainLevel, drainConsumeRate: nil)
            session.setPhase("backlog-build")
            await consumers.pauseAll()
            let buildStart = clock.monotonicNanoseconds()
            while measurements.backlog * Int64(spec.messageSize) < requestedBytes {
                report.peakBacklog = max(report.peakBacklog, measurements.backlog)
                session.state.withLock { $0.backlog = report }
                if let reason = await wait(until: clock.monotonicNanoseconds() &+ 10_000_000) {
                    await consumers.resumeAll()
                    return interrupted(reason)
                }
            }
            let drainStart = clock.monotonicNanoseconds()
            report.buildSeconds = seconds(since: buildStart, drainStart)
            report.peakBacklog = max(report.peakBacklog, measurements.backlog)
            session.state.withLock { $0.backlog = report }
            let receivedAtDrainStart = measurements.allTime.received
            await consumers.resumeAll()
            session.setPhase("backlog-drain")
            while measurements.backlog > drainLevel {
                report.peakBacklog = max(report.peakBacklog, measurements.backlog)
                if let reason = await wait(until: clock.monotonicNanoseconds() &+ 10_000_000) {
                    session.state.withLock { $0.backlog = report }
                    return interrupted(reason)
                }
            }
            let drained = clock.monotonicNanoseconds()
            report.drainSeconds = seconds(since: drainStart, drained)
            if let drainSeconds = report.drainSeconds, drainSeconds > 0 {
                report.drainConsumeRate = Double(measurements.allTime.received - receivedAtDrainStart) / drainSeconds
            }
            session.state.withLock { $0.backlog = report }
            session.setPhase("test")
            // OMB: after draining, the test runs for its duration again before it may end.
            testEnd = max(testEnd, drained &+ spec.testDuration.nanosecondsClamped)
        }

        // Producers send nothing intended at or after the end, even if this task wakes late.
        rateControl.endSchedule(at: testEnd)
        if let reason = await wait(until: testEnd) { return interrupted(reason) }
        return PhaseOutcome(reason: .completed, detail: nil, measureStartNanoseconds: measureStart, endNanoseconds: testEnd)
    }

    /// Once per second: the progress line and the per-second samples; at each window boundary
    /// of the measured phase: closes the window.
    func tick(stop: StopFlag) async {
        let second: UInt64 = 1_000_000_000
        let windowLength = max(1_000_000, spec.window.nanosecondsClamped)
        var nextSecond = trafficStart &+ second
        while !stop.isSet, !Task.isCancelled {
            let windowStart = measurements.isMeasuring ? measurements.windowStartNanoseconds : UInt64.max
            let windowEnd = windowStart > UInt64.max - windowLength ? UInt64.max : windowStart + windowLength
            let next = min(nextSecond, windowEnd)
            let now = clock.monotonicNanoseconds()
            if now < next {
                do { try await clock.sleep(nanoseconds: min(next - now, 20_000_000)) } catch { return }
                continue
            }
            if stop.isSet { return }
            if now >= windowEnd { measurements.closeWindow(at: now) }
            if now >= nextSecond {
                let sample = measurements.takeSecond(at: now)
                let phase = session.phase
                session.state.withLock { $0.seconds.append(sample) }
                if let progress = options.progress {
                    let seconds = max(sample.seconds, 1e-9)
                    progress.update(WorkloadProgress(
                        elapsedSeconds: self.seconds(since: trafficStart, now), phase: phase, targetRate: rateControl.current.rate,
                        publishRate: Double(sample.counters.acknowledged) / seconds,
                        publishBytesPerSecond: Double(sample.counters.acknowledgedBytes) / seconds,
                        publishLatencyP99Ms: sample.publishP99Ms, consumeRate: Double(sample.counters.received) / seconds,
                        backlog: sample.backlog, errors: sample.counters.errors))
                }
                nextSecond = max(nextSecond &+ second, now &+ second / 2)
            }
        }
    }

    /// The max-rate probe's control loop (`producerRate: 0`).
    func probe(stop: StopFlag) async {
        var probe = MaxRateProbe(configuration: options.probe)
        let period = max(10_000_000, options.probeControlPeriod.nanosecondsClamped)
        let receivers = spec.subscriptionsPerTopic
        var lastTime = clock.monotonicNanoseconds()
        var last = measurements.allTime
        var lastBacklog = measurements.backlog
        while !stop.isSet, !Task.isCancelled {
            let next = lastTime &+ period
            while clock.monotonicNanoseconds() < next {
                if stop.isSet || Task.isCancelled { return }
                do { try await clock.sleep(nanoseconds: min(next - clock.monotonicNanoseconds(), 20_000_000)) } catch { return }
            }
            let now = clock.monotonicNanoseconds()
            let counters = measurements.allTime
            let backlog = measurements.backlog
            let epoch = rateControl.current
            let handed = measurements.handedToDriver.load(ordering: .relaxed)
            let expected = epoch.rate * Double(now &- epoch.startNanoseconds) / 1e9
            let lag = max(0, Int64(expected.rounded(.down)) - (handed - epoch.handedAtStart))
            let observation = MaxRateProbe.Observation(
                periodSeconds: Double(now &- lastTime) / 1e9, targetRate: epoch.rate,
                acknowledged: counters.acknowledged - last.acknowledged, errors: counters.errors - last.errors, lag: lag,
                backlogAtStart: receivers > 0 ? lastBacklog : nil, backlogAtEnd: receivers > 0 ? backlog : nil,
                receiversPerRecord: receivers)
            let step = probe.observe(observation)
            if step.nextRate != epoch.rate {
                rateControl.set(rate: step.nextRate, now: clock.monotonicNanoseconds(), handed: measurements.handedToDriver.load(ordering: .relaxed))
            }
            let at = seconds(since: trafficStart, now)
            let settled = probe.settledRate
            let converged = probe.converged
            session.state.withLock { state in
                state.probeSteps.append(MaxRateProbeReport.Step(
                    atSeconds: at, targetRate: step.targetRate, achievedRate: step.achievedRate, sustained: step.sustained,
                    reason: step.reason, nextRate: step.nextRate, phase: step.phase.rawValue))
                state.probeSettledRate = settled
                state.probeConverged = converged
                if converged, state.probeConvergedAtSeconds == nil { state.probeConvergedAtSeconds = at }
            }
            lastTime = now
            last = counters
            lastBacklog = backlog
        }
    }
}
