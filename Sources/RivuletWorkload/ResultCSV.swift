import Foundation

extension WorkloadResult {
    /// The CSV header: one column per window figure, units in the names.
    public static let csvColumns: [String] = {
        var columns = ["window", "startSeconds", "endSeconds", "publishRate", "publishErrorRate", "consumeRate",
                       "publishThroughputBytesPerSecond", "consumeThroughputBytesPerSecond", "backlog", "recordsSent",
                       "recordsReceived", "publishErrors"]
        let percentiles = ["Avg", "50pct", "75pct", "95pct", "99pct", "999pct", "9999pct", "Max"]
        columns += percentiles.map { "publishLatency\($0)Ms" }
        columns += percentiles.map { "publishDelayLatency\($0)Us" }
        columns += percentiles.map { "endToEndLatency\($0)Ms" }
        return columns
    }()

    /// One row per window (RFC 4180, comma-separated, `\n` line ends, a header row first).
    public var csvText: String {
        var lines = [Self.csvColumns.joined(separator: ",")]
        for (index, window) in windows.enumerated() {
            var fields = [String(index + 1), Self.csvNumber(window.startSeconds, 3), Self.csvNumber(window.endSeconds, 3),
                          Self.csvNumber(window.publishRate, 1), Self.csvNumber(window.publishErrorRate, 1),
                          Self.csvNumber(window.consumeRate, 1), Self.csvNumber(window.publishThroughputBytesPerSecond, 1),
                          Self.csvNumber(window.consumeThroughputBytesPerSecond, 1), String(window.backlog),
                          String(window.recordsSent), String(window.recordsReceived), String(window.publishErrors)]
            for summary in [window.publishLatencyMs, window.publishDelayLatencyUs, window.endToEndLatencyMs] {
                fields += [summary.avg, summary.p50, summary.p75, summary.p95, summary.p99, summary.p999, summary.p9999, summary.max]
                    .map { Self.csvNumber($0, 3) }
            }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvNumber(_ value: Double, _ decimals: Int) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : ""
    }
}
