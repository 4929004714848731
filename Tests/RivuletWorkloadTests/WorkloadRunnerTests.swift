import Foundation
import RivuletCore
import Testing
@testable import RivuletWorkload

/// A driver without a fault injector, for the refusal test.
private struct NoFaultsDriver: WorkloadDriver {
    let inner = InMemoryWorkloadDriver()
    var name: String { "no-faults" }
    func createTopics(_ topics: [WorkloadTopic]) async throws { try await inner.createTopics(topics) }
    func createProducer(_ info: WorkloadProducerInfo) async throws -> any WorkloadProducer { try await inner.createProducer(info) }
    func createConsumer(_ info: WorkloadConsumerInfo, handler: @escaping WorkloadReceiveHandler) async throws -> any WorkloadConsumer {
        try await inner.createConsumer(info, handler: handler)
    }
    func close() async { await inner.close() }
}

/// The percentage of samples at or above `milliseconds`, read from an OMB quantile map.
private func percentAbove(_ milliseconds: Double, _ quantiles: [LatencyQuantile]) -> Double {
    guard let below = quantiles.last(where: { $0.value < milliseconds }) else { return quantiles.isEmpty ? 0 : 100 }
    return 100 - below.percentile
}

/// Waits until the in-memory driver delivered `count` records to consumers (at most 10 s).
private func waitForDeliveries(_ driver: InMemoryWorkloadDriver, _ count: Int64) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while driver.deliveredRecords.values.reduce(0, +) < count, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(10))
    }
}

// Serialized: these tests measure time, and running them side by side on a small machine would
// measure each other.
@Suite(.serialized) struct WorkloadRunnerTests {
    @Test func fixedRate_sendsAtTheRate_measuresEveryRecord_inContiguousWindows() async throws {
        let spec = TestSupport.runnerSpec(rate: 2000, test: .milliseconds(1200), window: .milliseconds(300))
        let progress = CollectingProgressSink()
        let driver = InMemoryWorkloadDriver()
        let result = try await WorkloadRunner(spec: spec, driver: driver, options: TestSupport.options(progress: progress)).run()

        #expect(result.stopReason == .completed)
        #expect((2040 ... 2760).contains(result.recordsSent), "\(result.recordsSent)")
        #expect(abs(result.aggregatedPublishRate - 2000) < 300, "\(result.aggregatedPublishRate)")
        #expect(result.publishErrors == 0)
        // Every measured record has a publish latency and, once received, an end-to-end latency.
        #expect(abs(result.aggregatedPublishLatency.count - result.recordsSent) <= 2)
        #expect(result.recordsReceived >= result.recordsSent - 5)
        #expect(result.aggregatedEndToEndLatency.count >= result.recordsReceived - 5)
        #expect(result.aggregatedPublishLatency.p50 < 200, "p50 \(result.aggregatedPublishLatency.p50) ms")
        #expect(result.endToEndUnmeasured == 0)
        // Windows tile the measured phase.
        #expect((3 ... 5).contains(result.windows.count), "\(result.windows.count) windows")
        #expect(result.windows.first?.startSeconds == 0)
        for (previous, next) in zip(result.windows, result.windows.dropFirst()) {
            #expect(abs(previous.endSeconds - next.startSeconds) < 1e-9)
        }
        #expect(abs((result.windows.last?.endSeconds ?? 0) - 1.2) < 0.1)
        // Window counts add up to the total (late completions after the last window aside), and each
        // window's rate is its count over its length. (Per-window rates vary on a loaded machine: after
        // a hiccup the schedule catches up, by design.)
        let windowed = result.windows.reduce(Int64(0)) { $0 + $1.recordsSent }
        #expect(windowed <= result.recordsSent && windowed >= result.recordsSent - 50)
        for window in result.windows {
            #expect(abs(window.publishRate * window.durationSeconds - Double(window.recordsSent)) < 1e-6)
        }
        #expect(result.publishRate.count == result.windows.count)
        #expect(result.unacknowledgedAtEnd == 0)
        // Kept its schedule (a starved machine can put the producer a little behind at the end).
        #expect(result.scheduleLagSecondsAtEnd < 0.5, "lag \(result.scheduleLagRecordsAtEnd) records")
        #expect(result.finalTargetRate == 2000)
        // One progress line per second, and the sink was finished.
        #expect(progress.updates.count >= 1)
        #expect(progress.updates.first.map { $0.publishRate > 1000 } == true)
        #expect(progress.finished)
        #expect(driver.queuedRecords == 0)
    }

    @Test(arguments: [false, true])
    func stalledDriver_latencyIncludesTheStallForEveryQueuedSend(capOutstanding: Bool) async throws {
        // 1000 records/s; the system stalls for 300 ms. Every send intended during the stall must show
        // (stall end - intended time): about 200 of them above 100 ms. Coordinated omission would show one.
        let spec = TestSupport.runnerSpec(rate: 1000, test: .milliseconds(1300), window: .milliseconds(650))
        let driver = InMemoryWorkloadDriver()
        var options = TestSupport.options()
        if capOutstanding { options.outstandingBytesMaxPerProducer = 10 * spec.messageSize }
        let runner = WorkloadRunner(spec: spec, driver: driver, options: options)
        let stall = Task {
            try await Task.sleep(for: .milliseconds(400))
            driver.stall(for: .milliseconds(300))
        }
        let result = try await runner.run()
        try await stall.value
        let latency = result.aggregatedPublishLatency
        #expect(latency.max >= 250, "max \(latency.max) ms")
        #expect(latency.p99 >= 200, "p99 \(latency.p99) ms")
        // About 250 of 1300 sends waited 50 ms or more, 200 waited 100 ms or more.
        let above50 = percentAbove(50, result.aggregatedPublishLatencyQuantiles)
        let above100 = percentAbove(100, result.aggregatedPublishLatencyQuantiles)
        #expect(above50 >= 13, "only \(above50)% of sends at or above 50 ms: the queued sends are missing")
        #expect(above100 >= 10, "only \(above100)% of sends at or above 100 ms")
        if capOutstanding {
            // The runner held the sends back: they left late, and the delay is reported too.
            #expect(result.aggregatedPublishDelayLatency.p99 >= 150_000, "delay p99 \(result.aggregatedPublishDelayLatency.p99) us")
        } else {
            // The driver held the records, not the runner: sends left on time (up to scheduling noise).
            #expect(result.aggregatedPublishDelayLatency.p99 < 150_000, "delay p99 \(result.aggregatedPublishDelayLatency.p99) us")
        }
        #expect(result.recordsSent > 1000)
    }

    @Test func producersBehindSchedule_areReported() async throws {
        // The system stops acknowledging; with at most 10 records outstanding the producer cannot
        // send, falls behind its schedule, and the result must say so instead of looking clean.
        let spec = TestSupport.runnerSpec(rate: 1000, test: .milliseconds(700), window: .milliseconds(350))
        let driver = InMemoryWorkloadDriver()
        var options = TestSupport.options()
        options.outstandingBytesMaxPerProducer = 10 * spec.messageSize
        options.closeTimeout = .milliseconds(100)
        let stall = Task {
            try await waitForDeliveries(driver, 3)
            driver.stall(for: .seconds(60))
        }
        let result = try await WorkloadRunner(spec: spec, driver: driver, options: options).run()
        try await stall.value
        #expect(result.scheduleLagRecordsAtEnd > 400, "\(result.scheduleLagRecordsAtEnd)")
        #expect(result.scheduleLagSecondsAtEnd > 0.4)
        #expect(result.unacknowledgedAtEnd == 10)
        let fellBehind = result.producersFellBehind
        #expect(fellBehind)
        #expect(result.textReport.contains("WARNING: producers ended"))
        #expect(ResultComparison.table([result]).contains("behind schedule"))
    }

    @Test func warmup_isExcludedByIntendedSendTime() async throws {
        // A 400 ms stall from 300 ms to 700 ms straddles the end of a 500 ms warm-up. Records intended
        // during the warm-up complete after measuring began, with latencies up to 400 ms; they must
        // not count. Records intended after 500 ms see at most 200 ms.
        let spec = TestSupport.runnerSpec(rate: 1000, test: .milliseconds(700), warmup: .milliseconds(500), window: .milliseconds(350))
        let driver = InMemoryWorkloadDriver()
        let stall = Task {
            // Traffic has started once more than the readiness record arrived.
            try await waitForDeliveries(driver, 3)
            try await Task.sleep(for: .milliseconds(300))
            driver.stall(for: .milliseconds(400))
        }
        let result = try await WorkloadRunner(spec: spec, driver: driver, options: TestSupport.options()).run()
        try await stall.value
        #expect(result.aggregatedPublishLatency.max < 320, "max \(result.aggregatedPublishLatency.max) ms includes warm-up records")
        #expect(result.aggregatedPublishLatency.max > 120, "max \(result.aggregatedPublishLatency.max) ms misses the stall")
        #expect(result.aggregatedEndToEndLatency.max < 320)
        #expect(abs(result.warmupSeconds - 0.5) < 1e-6)
        // Counts are by observation time (as in OMB): the stalled warm-up records completed during the
        // test and are counted, but their latencies are not.
        #expect(result.aggregatedPublishLatency.count < result.recordsSent - 100,
                "\(result.aggregatedPublishLatency.count) latency samples for \(result.recordsSent) records")
    }

    @Test func backlog_buildsWithConsumersPaused_thenDrains() async throws {
        var spec = TestSupport.runnerSpec(rate: 40_000, test: .milliseconds(300), window: .milliseconds(100), partitions: 4,
                                          consumers: 2, messageSize: 512)
        spec.consumerBacklogSizeGB = 0.005 // 5.4 MB = 10,486 records of 512 bytes
        spec.backlogDrainRatio = 1.0
        let driver = InMemoryWorkloadDriver()
        let result = try await WorkloadRunner(spec: spec, driver: driver, options: TestSupport.options()).run()
        #expect(result.stopReason == .completed)
        let report = try #require(result.backlogReport)
        let capacity = spec.backlogBytesRequested / 512
        #expect(report.requestedBytes == spec.backlogBytesRequested)
        #expect(report.drainLevel == 1000)
        #expect(report.peakBacklog >= capacity * 9 / 10, "peak \(report.peakBacklog)")
        let build = try #require(report.buildSeconds)
        #expect(build > 0.15 && build < 1.5, "build \(build) s")
        #expect(report.drainSeconds != nil)
        #expect(result.windows.map(\.backlog).max() ?? 0 >= capacity / 2)
        #expect(result.finalBacklog < 2000)
        // The test phase ran for its duration after the drain, as in OMB.
        #expect(result.measuredSeconds >= build + 0.3)
        #expect(driver.pausedConsumers.isEmpty)
    }

    @Test func maxRateProbe_settlesAtOrBelowTheDriversCapacity() async throws {
        var spec = TestSupport.runnerSpec(rate: 0, test: .seconds(4), window: .milliseconds(500), partitions: 4)
        spec.producersPerTopic = 2
        let driver = InMemoryWorkloadDriver(configuration: .init(produceCapacityRecordsPerSecond: 5_000))
        var options = TestSupport.options(probePeriod: .milliseconds(250))
        options.probe.startRate = 1_000
        let result = try await WorkloadRunner(spec: spec, driver: driver, options: options).run()
        let probe = try #require(result.maxRateProbe)
        let steps = probe.steps.map { "\(Int($0.targetRate)):\($0.sustained ? "ok" : $0.reason)" }
        let settled = try #require(probe.settledRate, "\(steps)")
        #expect(settled <= 5_000, "settled \(settled) above the capacity of 5,000; \(steps)")
        // How close it gets depends on how noisy this machine is (the simulated-system tests in
        // MaxRateProbeTests check precision); here: it must not collapse.
        #expect(settled >= 500, "settled \(settled); \(steps)")
        #expect(probe.converged, "\(steps)")
        #expect(probe.steps.count >= 10)
        #expect(probe.steps.contains { !$0.sustained })
        #expect(result.finalTargetRate <= 5_000)
    }

    @Test func cancellation_returnsThePartialResult() async throws {
        let spec = TestSupport.runnerSpec(rate: 1000, test: .seconds(20), window: .milliseconds(200))
        let driver = InMemoryWorkloadDriver()
        let runner = WorkloadRunner(spec: spec, driver: driver, options: TestSupport.options())
        let task = Task { try await runner.run() }
        try await waitForDeliveries(driver, 400)
        task.cancel()
        let started = ContinuousClock.now
        let result = try await task.value
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(result.stopReason == .cancelled)
        #expect(result.isPartial)
        #expect(result.recordsSent > 300)
        #expect(result.windows.count >= 1)
        #expect(result.trafficSeconds < 10)
        #expect(result.summaryLine.contains("records sent"))
        #expect(driver.queuedRecords >= 0)
    }

    @Test func ctrlC_stopsTheRun_andReturnsThePartialResult() async throws {
        let spec = TestSupport.runnerSpec(rate: 1000, test: .seconds(20), window: .milliseconds(200))
        let driver = InMemoryWorkloadDriver()
        let runner = WorkloadRunner(spec: spec, driver: driver, options: TestSupport.options())
        let interrupt = InterruptSignal.install { runner.stop() }
        defer { interrupt.uninstall() }
        let presser = Task {
            try await waitForDeliveries(driver, 300)
            kill(getpid(), SIGINT) // process-directed, like Ctrl-C from the terminal
        }
        let result = try await runner.run()
        try await presser.value
        #expect(result.stopReason == .stopped)
        #expect(result.recordsSent > 200)
        #expect(result.trafficSeconds < 10)
    }

    @Test func stop_returnsThePartialResult() async throws {
        let spec = TestSupport.runnerSpec(rate: 1000, test: .seconds(20), window: .milliseconds(200))
        let driver = InMemoryWorkloadDriver()
        let runner = WorkloadRunner(spec: spec, driver: driver, options: TestSupport.options())
        let stopper = Task {
            try await waitForDeliveries(driver, 300)
            runner.stop()
        }
        let result = try await runner.run()
        try await stopper.value
        #expect(result.stopReason == .stopped)
        #expect(result.recordsSent > 200)
        #expect(result.measuredSeconds < 10)
    }

    @Test func maxRunDuration_boundsTheRun() async throws {
        let spec = TestSupport.runnerSpec(rate: 500, test: .seconds(30), window: .milliseconds(100))
        var options = TestSupport.options()
        options.maxRunDuration = .milliseconds(300)
        let result = try await WorkloadRunner(spec: spec, driver: InMemoryWorkloadDriver(), options: options).run()
        #expect(result.stopReason == .deadline)
        #expect(result.trafficSeconds < 3)
    }

    @Test func faults_areFiredUndoneAndRecorded() async throws {
        var spec = TestSupport.runnerSpec(rate: 2000, test: .milliseconds(1000), window: .milliseconds(250), partitions: 2, consumers: 2)
        spec.brokers = 2
        spec.replicationFactor = 2
        spec.faults = [
            try WorkloadFault.parse("at 200ms kill leader of partition 0 for 300ms"),
            try WorkloadFault.parse("at 300ms kill consumer 0"),
            try WorkloadFault.parse("at 400ms add consumer"),
            try WorkloadFault.parse("at 100ms delay broker 1 by 5ms for 100ms"),
        ]
        let driver = InMemoryWorkloadDriver(configuration: .init(brokers: 2, leaderElectionDelay: .milliseconds(100)))
        let result = try await WorkloadRunner(spec: spec, driver: driver, options: TestSupport.options()).run()
        #expect(result.faults.count == 4)
        let kill = try #require(result.faults.first { $0.verb == "kill" })
        #expect(kill.brokerId == 0)
        #expect(kill.error == nil)
        #expect(kill.recoveryTimeMs == 100)
        let ended = try #require(kill.endedAtSeconds)
        #expect(abs(ended - kill.atSeconds - 0.3) < 0.1)
        #expect((result.publishErrorCounts["NOT_LEADER_OR_FOLLOWER"] ?? 0) > 0)
        let killConsumer = try #require(result.faults.first { $0.verb == "kill-consumer" })
        #expect(killConsumer.consumerIndex == 0)
        #expect(killConsumer.error == nil)
        #expect(killConsumer.rebalanceTimeMs == 0)
        let added = try #require(result.faults.first { $0.verb == "add-consumer" })
        #expect(added.consumerIndex == 2)
        let delay = try #require(result.faults.first { $0.verb == "delay" })
        #expect(delay.brokerId == 1)
        #expect(delay.endedAtSeconds != nil)
        // Consumers kept receiving after the rebalance.
        #expect(result.recordsReceived > result.recordsSent / 2)
        #expect(driver.leader(topic: "missing", partition: 0) == nil)
    }

    @Test func brokerFaults_withoutAnInjector_areRefusedBeforeStarting() async throws {
        var spec = TestSupport.runnerSpec()
        spec.faults = [try WorkloadFault.parse("at 100ms kill broker 0")]
        await #expect(throws: WorkloadRunError.self) {
            _ = try await WorkloadRunner(spec: spec, driver: NoFaultsDriver(), options: TestSupport.options()).run()
        }
    }

    @Test func setupFailure_andInvalidSpec_throw() async throws {
        var spec = TestSupport.runnerSpec()
        spec.brokers = 2
        spec.replicationFactor = 2 // the driver has one broker
        do {
            _ = try await WorkloadRunner(spec: spec, driver: InMemoryWorkloadDriver(), options: TestSupport.options()).run()
            Issue.record("expected a setup failure")
        } catch let error as WorkloadRunError {
            guard case .setupFailed(let stage, _) = error else { throw error }
            #expect(stage == "creating topics")
        }
        var invalid = TestSupport.runnerSpec()
        invalid.producerRate = -1
        do {
            _ = try await WorkloadRunner(spec: invalid, driver: InMemoryWorkloadDriver(), options: TestSupport.options()).run()
            Issue.record("expected an invalid spec")
        } catch let error as WorkloadRunError {
            guard case .invalidSpec(let specError) = error else { throw error }
            #expect(specError.key == "producerRate")
        }
    }

    @Test func producersOnly_withKeys_runWithoutConsumers() async throws {
        var spec = TestSupport.runnerSpec(rate: 1000, test: .milliseconds(300), window: .milliseconds(100), partitions: 4,
                                          subscriptions: 0, consumers: 0)
        spec.keyDistributor = .keyRoundRobin
        let result = try await WorkloadRunner(spec: spec, driver: InMemoryWorkloadDriver(), options: TestSupport.options()).run()
        #expect(result.stopReason == .completed)
        #expect(result.recordsSent > 200)
        #expect(result.recordsReceived == 0)
        #expect(result.finalBacklog == 0)
        #expect(result.aggregatedEndToEndLatency.count == 0)
    }
}
