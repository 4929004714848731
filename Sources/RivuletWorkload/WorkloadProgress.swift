import Foundation

/// One second of a running workload, for the live progress line.
public struct WorkloadProgress: Sendable, Equatable {
    /// Seconds since the start of traffic.
    public var elapsedSeconds: Double
    /// `warmup`, `test`, `backlog-build`, `backlog-drain` or `stopping`.
    public var phase: String
    /// The producer rate in force, records/s.
    public var targetRate: Double
    /// Records acknowledged per second during the last second.
    public var publishRate: Double
    /// Value bytes acknowledged per second during the last second.
    public var publishBytesPerSecond: Double
    /// 99th percentile publish latency (from the intended send time) of the last second, milliseconds.
    public var publishLatencyP99Ms: Double
    /// Records received per second during the last second.
    public var consumeRate: Double
    /// Consumer backlog now, records.
    public var backlog: Int64
    /// Failed sends during the last second.
    public var errors: Int64

    /// The line shown to people, for example
    /// `[  12s test] 50,012 msg/s  48.84 MB/s  p99 3.21 ms | consume 50,001 msg/s | backlog 120 | errors 0`.
    public var line: String {
        let elapsed = String(format: "%4.0fs", elapsedSeconds)
        var text = "[\(elapsed) \(phase)] \(formatRate(publishRate)) msg/s  "
        text += String(format: "%.2f MB/s  p99 %.2f ms", publishBytesPerSecond / 1_048_576, publishLatencyP99Ms)
        text += " | consume \(formatRate(consumeRate)) msg/s | backlog \(groupThousands(backlog)) | errors \(groupThousands(errors))"
        if phase == "warmup" || phase == "test", targetRate > 0 { text += " | target \(formatRate(targetRate))" }
        return text
    }
}

/// Receives progress once per second while a workload runs. Called from the runner's ticker
/// task, never concurrently with itself.
public protocol WorkloadProgressSink: Sendable {
    /// A new second of progress.
    func update(_ progress: WorkloadProgress)
    /// The run is over; finish the line.
    func finish()
}

/// Writes progress to standard output: redrawn in place (carriage return, erase line) when
/// stdout is a terminal, one plain line per second otherwise (logs, CI).
public final class TerminalProgressSink: WorkloadProgressSink {
    private let isTerminal: Bool

    /// `isTerminal` nil asks the system whether stdout is a terminal.
    public init(isTerminal: Bool? = nil) {
        self.isTerminal = isTerminal ?? (isatty(STDOUT_FILENO) == 1)
    }

    public func update(_ progress: WorkloadProgress) {
        let text = isTerminal ? "\r\u{1B}[2K" + progress.line : progress.line + "\n"
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    public func finish() {
        if isTerminal { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }
}
