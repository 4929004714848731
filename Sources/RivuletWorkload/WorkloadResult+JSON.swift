extension WorkloadResult {
    /// The result as JSON: OMB's `TestResult` fields first, in OMB's order and units (so OMB's
    /// tooling reads the file), then Rivulet's fields. Key order is fixed.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("workload", .string(workload)),
            ("driver", .string(driver)),
            ("messageSize", .integer(messageSize)),
            ("topics", .integer(Int64(topics))),
            ("partitions", .integer(Int64(partitions))),
            ("producersPerTopic", .integer(Int64(producersPerTopic))),
            ("consumersPerTopic", .integer(Int64(consumersPerTopic))),
            ("publishRate", .doubles(publishRate)),
            ("publishErrorRate", .doubles(publishErrorRate)),
            ("consumeRate", .doubles(consumeRate)),
            ("backlog", .integers(backlog)),
        ]
        members += Self.series("publishLatency", windows.map(\.publishLatencyMs), integers: false)
        members += Self.series("publishDelayLatency", windows.map(\.publishDelayLatencyUs), integers: true)
        members += Self.aggregated("aggregatedPublishLatency", aggregatedPublishLatency, integers: false)
        members += Self.aggregated("aggregatedPublishDelayLatency", aggregatedPublishDelayLatency, integers: true)
        members.append(("aggregatedPublishLatencyQuantiles", .quantiles(aggregatedPublishLatencyQuantiles, integers: false)))
        members.append(("aggregatedPublishDelayLatencyQuantiles", .quantiles(aggregatedPublishDelayLatencyQuantiles, integers: true)))
        members += Self.series("endToEndLatency", windows.map(\.endToEndLatencyMs), integers: false)
        members.append(("aggregatedEndToEndLatencyQuantiles", .quantiles(aggregatedEndToEndLatencyQuantiles, integers: false)))
        members += Self.aggregated("aggregatedEndToEndLatency", aggregatedEndToEndLatency, integers: false)

        // Rivulet's fields.
        members += [
            ("target", .string(target)),
            ("stopReason", .string(stopReason.rawValue)),
            ("stopDetail", stopDetail.map(JSONValue.string) ?? .null),
            ("startedAtWallMs", .integer(startedAtWallMs)),
            ("warmupSeconds", .number(warmupSeconds)),
            ("measuredSeconds", .number(measuredSeconds)),
            ("trafficSeconds", .number(trafficSeconds)),
            ("windowSeconds", .number(windowSeconds)),
            ("recordsSent", .integer(recordsSent)),
            ("recordsReceived", .integer(recordsReceived)),
            ("publishErrors", .integer(publishErrors)),
            ("bytesSent", .integer(bytesSent)),
            ("bytesReceived", .integer(bytesReceived)),
            ("aggregatedPublishRate", .number(aggregatedPublishRate)),
            ("aggregatedConsumeRate", .number(aggregatedConsumeRate)),
            ("publishThroughputBytesPerSecond", .number(publishThroughputBytesPerSecond)),
            ("consumeThroughputBytesPerSecond", .number(consumeThroughputBytesPerSecond)),
            ("publishThroughputBytesPerSecondPerWindow", .doubles(windows.map(\.publishThroughputBytesPerSecond))),
            ("consumeThroughputBytesPerSecondPerWindow", .doubles(windows.map(\.consumeThroughputBytesPerSecond))),
            ("windowStartSeconds", .doubles(windows.map(\.startSeconds))),
            ("windowEndSeconds", .doubles(windows.map(\.endSeconds))),
            ("publishErrorCounts", .object(publishErrorCounts.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) })),
            ("unacknowledgedAtEnd", .integer(unacknowledgedAtEnd)),
            ("scheduleLagRecordsAtEnd", .integer(scheduleLagRecordsAtEnd)),
            ("scheduleLagSecondsAtEnd", .number(scheduleLagSecondsAtEnd)),
            ("endToEndUnmeasured", .integer(endToEndUnmeasured)),
            ("clampedLatencySamples", .integer(clampedLatencySamples)),
            ("finalBacklog", .integer(finalBacklog)),
            ("finalTargetRate", .number(finalTargetRate)),
        ]
        members += [
            ("faults", .array(faults.map(\.json))),
            ("maxRateProbe", maxRateProbe?.json ?? .null),
            ("backlogReport", backlogReport?.json ?? .null),
            ("history", history?.json ?? .null),
            ("spec", .object(spec.map { ($0.key, .string($0.value)) })),
            ("environment", environment.json),
        ]
        return .object(members)
    }

    /// The JSON text, pretty-printed.
    public var jsonText: String { json.rendered(pretty: true) + "\n" }

    private static func series(_ prefix: String, _ summaries: [LatencySummary], integers: Bool) -> [(String, JSONValue)] {
        let values: [(String, (LatencySummary) -> Double)] = [
            ("Avg", \.avg), ("50pct", \.p50), ("75pct", \.p75), ("95pct", \.p95), ("99pct", \.p99), ("999pct", \.p999),
            ("9999pct", \.p9999), ("99999pct", \.p99999), ("Max", \.max),
        ]
        return values.map { suffix, read in
            let numbers = summaries.map(read)
            // OMB types the delay percentiles as long and the averages as double.
            return (prefix + suffix, integers && suffix != "Avg" ? .integers(numbers.map { Int64($0) }) : .doubles(numbers))
        }
    }

    private static func aggregated(_ prefix: String, _ summary: LatencySummary, integers: Bool) -> [(String, JSONValue)] {
        let values: [(String, Double)] = [
            ("Avg", summary.avg), ("50pct", summary.p50), ("75pct", summary.p75), ("95pct", summary.p95), ("99pct", summary.p99),
            ("999pct", summary.p999), ("9999pct", summary.p9999), ("99999pct", summary.p99999), ("Max", summary.max),
        ]
        return values.map { suffix, value in
            (prefix + suffix, integers && suffix != "Avg" ? .integer(Int64(value)) : .number(value))
        }
    }
}

extension JSONValue {
    static func doubles(_ values: [Double]) -> JSONValue { .array(values.map { .number($0) }) }
    static func integers(_ values: [Int64]) -> JSONValue { .array(values.map { .integer($0) }) }

    /// OMB's `Map<Double, ...>`: keys are percentiles printed as doubles (`"50.0"`).
    static func quantiles(_ quantiles: [LatencyQuantile], integers: Bool) -> JSONValue {
        .object(quantiles.map { quantile in
            ("\(quantile.percentile)", integers ? .integer(Int64(quantile.value)) : .number(quantile.value))
        })
    }

    static func optional(_ value: Double?) -> JSONValue { value.map { .number($0) } ?? .null }
    static func optional(_ value: Int?) -> JSONValue { value.map { .integer(Int64($0)) } ?? .null }
    static func optional(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
}

extension WorkloadFaultEvent {
    var json: JSONValue {
        .object([
            ("fault", .string(fault)), ("verb", .string(verb)), ("atSeconds", .number(atSeconds)),
            ("endedAtSeconds", .optional(endedAtSeconds)), ("brokerId", .optional(brokerId)),
            ("consumerIndex", .optional(consumerIndex)), ("error", .optional(error)), ("undoError", .optional(undoError)),
            ("recoveryTimeMs", .optional(recoveryTimeMs)), ("rebalanceTimeMs", .optional(rebalanceTimeMs)),
            ("throughputRecoveryMs", .optional(throughputRecoveryMs)), ("detail", .optional(detail)),
            ("recovery", recovery?.json ?? .null),
        ])
    }
}

extension MaxRateProbeReport {
    var json: JSONValue {
        .object([
            ("settledRate", .optional(settledRate)), ("converged", .bool(converged)),
            ("convergedAfterSeconds", .optional(convergedAfterSeconds)),
            ("steps", .array(steps.map { step in
                .object([
                    ("atSeconds", .number(step.atSeconds)), ("targetRate", .number(step.targetRate)),
                    ("achievedRate", .number(step.achievedRate)), ("sustained", .bool(step.sustained)),
                    ("reason", .string(step.reason)), ("nextRate", .number(step.nextRate)), ("phase", .string(step.phase)),
                ])
            })),
        ])
    }
}

extension BacklogReport {
    var json: JSONValue {
        .object([
            ("requestedBytes", .integer(requestedBytes)), ("buildSeconds", .optional(buildSeconds)),
            ("drainSeconds", .optional(drainSeconds)), ("peakBacklog", .integer(peakBacklog)),
            ("drainLevel", .integer(drainLevel)), ("drainConsumeRate", .optional(drainConsumeRate)),
        ])
    }
}

extension WorkloadEnvironment {
    var json: JSONValue {
        .object([
            ("host", .string(host)), ("cores", .integer(Int64(cores))), ("os", .string(os)),
            ("swiftVersion", .string(swiftVersion)), ("gitCommit", .optional(gitCommit)),
        ])
    }
}
