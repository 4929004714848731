import Foundation

extension WorkloadResult {
    /// The final summary in the shape of Kafka's `kafka-producer-perf-test` (same format strings:
    /// percentiles as whole milliseconds), over the measured phase:
    /// `N records sent, X records/sec (Y MB/sec), A ms avg latency, B ms max latency, p50 ms 50th,
    /// p95 ms 95th, p99 ms 99th, p999 ms 99.9th.` Latencies are publish latencies from the intended
    /// send time; MB is 2^20 bytes.
    public var summaryLine: String {
        let latency = aggregatedPublishLatency
        return String(format: "%lld records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "
                      + "%lld ms 50th, %lld ms 95th, %lld ms 99th, %lld ms 99.9th.",
                      recordsSent, aggregatedPublishRate, publishThroughputBytesPerSecond / 1_048_576, latency.avg, latency.max,
                      Int64(latency.p50), Int64(latency.p95), Int64(latency.p99), Int64(latency.p999))
    }

    /// A plain-text report: header, per-window table, whole-run latencies, faults, probe, backlog,
    /// and the summary line.
    public var textReport: String {
        var lines: [String] = []
        lines.append("workload: \(workload)    driver: \(driver)    target: \(target)")
        var status = "status: \(stopReason.rawValue)"
        if let stopDetail { status += " (\(stopDetail))" }
        status += String(format: "    warm-up %.1f s, measured %.1f s, windows of %g s", warmupSeconds, measuredSeconds, windowSeconds)
        lines.append(status)
        lines.append("environment: \(environment.host), \(environment.cores) cores, \(environment.os), Swift \(environment.swiftVersion)"
                     + (environment.gitCommit.map { ", commit \($0.prefix(12))" } ?? ""))
        lines.append("")
        let header = ["t (s)", "pub msg/s", "pub MB/s", "cons msg/s", "backlog", "pub p50 ms", "pub p99 ms", "pub p99.9 ms",
                      "pub max ms", "delay p99 us", "e2e p50 ms", "e2e p99 ms", "errors"]
        var rows: [[String]] = []
        for window in windows {
            rows.append([
                String(format: "%.1f", window.endSeconds), formatRate(window.publishRate),
                String(format: "%.2f", window.publishThroughputBytesPerSecond / 1_048_576), formatRate(window.consumeRate),
                groupThousands(window.backlog), Self.ms(window.publishLatencyMs, \.p50), Self.ms(window.publishLatencyMs, \.p99),
                Self.ms(window.publishLatencyMs, \.p999), Self.ms(window.publishLatencyMs, \.max),
                window.publishDelayLatencyUs.count > 0 ? String(format: "%.0f", window.publishDelayLatencyUs.p99) : "-",
                Self.ms(window.endToEndLatencyMs, \.p50), Self.ms(window.endToEndLatencyMs, \.p99), groupThousands(window.publishErrors),
            ])
        }
        lines += Self.table(header: header, rows: rows)
        lines.append("")
        lines.append("whole measured phase      avg      p50      p75      p95      p99    p99.9   p99.99      max")
        for (name, unit, summary) in [("publish latency", "ms", aggregatedPublishLatency),
                                      ("publish delay", "us", aggregatedPublishDelayLatency),
                                      ("end-to-end latency", "ms", aggregatedEndToEndLatency)] {
            let values = [summary.avg, summary.p50, summary.p75, summary.p95, summary.p99, summary.p999, summary.p9999, summary.max]
            lines.append((name + " (" + unit + ")").padding(toLength: 24, withPad: " ", startingAt: 0)
                         + values.map { (summary.count > 0 ? Self.ms($0) : "-").leftPadded(9) }.joined())
        }
        lines.append(String(format: "records: %lld sent, %lld received, %lld errors, %lld unacknowledged at the end; final backlog %lld",
                            recordsSent, recordsReceived, publishErrors, unacknowledgedAtEnd, finalBacklog))
        if producersFellBehind {
            lines.append(String(format: "WARNING: producers ended %lld records (%.2f s) behind their schedule: the target rate was not "
                                + "reached, and latencies cover only records that were sent.", scheduleLagRecordsAtEnd, scheduleLagSecondsAtEnd))
        }
        if !publishErrorCounts.isEmpty {
            lines.append("errors by code: " + publishErrorCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if !faults.isEmpty {
            lines.append("")
            lines.append("faults:")
            for event in faults {
                var line = String(format: "  %7.2f s  ", event.atSeconds) + event.fault
                if let broker = event.brokerId { line += " -> broker \(broker)" }
                if let consumer = event.consumerIndex { line += " -> consumer \(consumer)" }
                if let ended = event.endedAtSeconds { line += String(format: ", undone at %.2f s", ended) }
                if let recovery = event.throughputRecoveryMs { line += String(format: ", throughput recovered in %.0f ms", recovery) }
                if let recovery = event.recoveryTimeMs { line += String(format: ", recovery %.0f ms (injector)", recovery) }
                if let error = event.error { line += ", error: \(error)" }
                lines.append(line)
                if let recovery = event.recovery { lines += recovery.textLines }
            }
        }
        if let history {
            lines.append("")
            lines += history.textLines
        }
        if let probe = maxRateProbe {
            lines.append("")
            let settled = probe.settledRate.map { formatRate($0) + " records/s" } ?? "none"
            let converged = probe.convergedAfterSeconds.map { String(format: "converged after %.1f s", $0) } ?? "not converged"
            lines.append("max-rate probe: settled at \(settled), \(converged), \(probe.steps.count) steps")
        }
        if let backlog = backlogReport {
            lines.append("")
            let built = backlog.buildSeconds.map { String(format: "%.1f s", $0) } ?? "-"
            let drained = backlog.drainSeconds.map { String(format: "%.1f s", $0) } ?? "-"
            lines.append("backlog: \(backlog.requestedBytes) bytes requested, built in \(built), drained to \(backlog.drainLevel) records "
                         + "in \(drained), peak \(backlog.peakBacklog) records")
        }
        lines.append("")
        lines.append(summaryLine)
        return lines.joined(separator: "\n") + "\n"
    }

    /// A percentile of `summary`, or `-` when it has no samples.
    static func ms(_ summary: LatencySummary, _ value: KeyPath<LatencySummary, Double>) -> String {
        summary.count > 0 ? ms(summary[keyPath: value]) : "-"
    }

    static func ms(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        if value >= 100 { return String(format: "%.0f", value) }
        if value >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    /// Right-aligned columns separated by two spaces.
    static func table(header: [String], rows: [[String]]) -> [String] {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in cell.leftPadded(index < widths.count ? widths[index] : cell.count) }
                .joined(separator: "  ")
        }
        return [render(header), render(widths.map { String(repeating: "-", count: $0) })] + rows.map(render)
    }
}

extension String {
    /// The text right-aligned in `width` characters.
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
