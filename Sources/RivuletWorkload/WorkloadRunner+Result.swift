extension WorkloadRunner {
    /// Turns what the run recorded into a `WorkloadResult`.
    func buildResult(context: RunContext, outcome: PhaseOutcome, events: [WorkloadFaultEvent], unacknowledged: Int64,
                     scheduleLag: (records: Int64, seconds: Double), startedAtWallMs: Int64,
                     environment: WorkloadEnvironment) -> WorkloadResult {
        let final = context.measurements.final()
        let measureStart = final.measureStartNanoseconds
        let windows = final.windows.map { window -> WorkloadWindow in
            let duration = max(Double(window.endNanoseconds &- window.startNanoseconds) / 1e9, 1e-9)
            let origin = measureStart ?? window.startNanoseconds
            return WorkloadWindow(
                startSeconds: Double(window.startNanoseconds &- origin) / 1e9, endSeconds: Double(window.endNanoseconds &- origin) / 1e9,
                publishRate: Double(window.counters.acknowledged) / duration, publishErrorRate: Double(window.counters.errors) / duration,
                consumeRate: Double(window.counters.received) / duration,
                publishThroughputBytesPerSecond: Double(window.counters.acknowledgedBytes) / duration,
                consumeThroughputBytesPerSecond: Double(window.counters.receivedBytes) / duration,
                backlog: window.backlog, recordsSent: window.counters.acknowledged, recordsReceived: window.counters.received,
                publishErrors: window.counters.errors, publishLatencyMs: window.publish, publishDelayLatencyUs: window.publishDelay,
                endToEndLatencyMs: window.endToEnd)
        }
        let windowSeconds = windows.reduce(0) { $0 + $1.durationSeconds }
        let measuredSeconds = measureStart.map { Double(outcome.endNanoseconds &- $0) / 1e9 } ?? 0
        let rateSpan = windowSeconds > 0 ? windowSeconds : max(measuredSeconds, 1e-9)
        let sentInWindows = windows.reduce(Int64(0)) { $0 + $1.recordsSent }
        let receivedInWindows = windows.reduce(Int64(0)) { $0 + $1.recordsReceived }
        let bytesSentInWindows = windows.reduce(0.0) { $0 + $1.publishThroughputBytesPerSecond * $1.durationSeconds }
        let bytesReceivedInWindows = windows.reduce(0.0) { $0 + $1.consumeThroughputBytesPerSecond * $1.durationSeconds }
        let warmupSeconds = measureStart.map { Double($0 &- context.trafficStart) / 1e9 } ?? Double(outcome.endNanoseconds &- context.trafficStart) / 1e9

        let session = context.session.state.withLock { $0 }
        let seconds = session.seconds
        let faultEvents = events.map { event -> WorkloadFaultEvent in
            var event = event
            let consumerFault = event.verb == "kill-consumer" || event.verb == "add-consumer"
            let hold = event.endedAtSeconds.map { max(0, $0 - event.atSeconds) }
            event.throughputRecoveryMs = Self.recoveryMilliseconds(after: event.atSeconds, holdSeconds: hold, seconds: seconds,
                                                                   trafficStart: context.trafficStart, useConsume: consumerFault)
            return event
        }
        var probeReport: MaxRateProbeReport?
        if spec.probesMaximumRate {
            probeReport = MaxRateProbeReport(settledRate: session.probeSettledRate, converged: session.probeConverged,
                                             convergedAfterSeconds: session.probeConvergedAtSeconds, steps: session.probeSteps)
        }

        return WorkloadResult(
            workload: spec.name, driver: driver.name, messageSize: Int64(spec.messageSize), topics: spec.topics,
            partitions: spec.partitionsPerTopic, producersPerTopic: spec.producersPerTopic, consumersPerTopic: spec.consumerPerSubscription,
            aggregatedPublishLatency: LatencySummary(nanoseconds: final.total.publish, nanosecondsPerUnit: 1e6),
            aggregatedPublishDelayLatency: LatencySummary(nanoseconds: final.total.publishDelay, nanosecondsPerUnit: 1e3),
            aggregatedEndToEndLatency: LatencySummary(nanoseconds: final.total.endToEnd, nanosecondsPerUnit: 1e6),
            aggregatedPublishLatencyQuantiles: LatencyQuantile.quantiles(nanoseconds: final.total.publish, nanosecondsPerUnit: 1e6),
            aggregatedPublishDelayLatencyQuantiles: LatencyQuantile.quantiles(nanoseconds: final.total.publishDelay, nanosecondsPerUnit: 1e3),
            aggregatedEndToEndLatencyQuantiles: LatencyQuantile.quantiles(nanoseconds: final.total.endToEnd, nanosecondsPerUnit: 1e6),
            windows: windows, target: spec.targetLabel, stopReason: outcome.reason, stopDetail: outcome.detail,
            startedAtWallMs: startedAtWallMs, warmupSeconds: warmupSeconds, measuredSeconds: measuredSeconds,
            trafficSeconds: Double(outcome.endNanoseconds &- context.trafficStart) / 1e9,
            recordsSent: final.measured.acknowledged, publishErrors: final.measured.errors, recordsReceived: final.measured.received,
            bytesSent: final.measured.acknowledgedBytes, bytesReceived: final.measured.receivedBytes,
            aggregatedPublishRate: Double(sentInWindows) / rateSpan, aggregatedConsumeRate: Double(receivedInWindows) / rateSpan,
            publishThroughputBytesPerSecond: bytesSentInWindows / rateSpan, consumeThroughputBytesPerSecond: bytesReceivedInWindows / rateSpan,
            publishErrorCounts: final.errorCounts, unacknowledgedAtEnd: unacknowledged,
            scheduleLagRecordsAtEnd: scheduleLag.records, scheduleLagSecondsAtEnd: scheduleLag.seconds,
            endToEndUnmeasured: final.endToEndUnmeasured,
            clampedLatencySamples: final.clampedSamples,
            finalBacklog: WorkloadMeasurements.backlog(final.allTime, receiversPerRecord: context.measurements.receiversPerRecord),
            finalTargetRate: context.rateControl.current.rate, faults: faultEvents, maxRateProbe: probeReport,
            backlogReport: session.backlog, windowSeconds: spec.window.secondsDouble,
            spec: spec.effectiveSettings.map { WorkloadResult.SpecSetting(key: $0.key, value: $0.value) }, environment: environment)
    }

    /// Milliseconds from a fault at `atSeconds` until the per-second rate (publish, or consume for
    /// consumer faults) is back to 90% of its mean over the up to 5 seconds before the fault:
    /// 0 when it never fell below that within 10 seconds (plus the fault's own duration), nil when
    /// it fell and never came back or there is no baseline. Resolution: one second.
    static func recoveryMilliseconds(after atSeconds: Double, holdSeconds: Double?, seconds: [WorkloadMeasurements.Second],
                                     trafficStart: UInt64, useConsume: Bool) -> Double? {
        func end(_ second: WorkloadMeasurements.Second) -> Double { Double(second.endNanoseconds &- trafficStart) / 1e9 }
        func rate(_ second: WorkloadMeasurements.Second) -> Double {
            let count = useConsume ? second.counters.received : second.counters.acknowledged
            return Double(count) / max(second.seconds, 1e-9)
        }
        let before = seconds.filter { end($0) <= atSeconds && end($0) > atSeconds - 5 && $0.seconds > 0.5 }
        guard !before.isEmpty else { return nil }
        let baseline = before.map(rate).reduce(0, +) / Double(before.count)
        guard baseline > 0 else { return nil }
        let threshold = 0.9 * baseline
        let after = seconds.filter { end($0) > atSeconds }
        guard let dip = after.firstIndex(where: { rate($0) < threshold && end($0) <= atSeconds + 10 + (holdSeconds ?? 0) }) else {
            return after.isEmpty ? nil : 0
        }
        guard let recovered = after[dip...].first(where: { rate($0) >= threshold }) else { return nil }
        return (end(recovered) - atSeconds) * 1000
    }
}
