import Histogram
import NIOCore
import Synchronization

/// The runner's recorders: HdrHistograms (nanoseconds, 3 significant digits) of publish latency,
/// publish delay and end-to-end latency per window and over the whole measured phase, a
/// one-second publish histogram for the live progress line, and counters.
///
/// Rules (also in the README):
/// - Publish latency = completion time - intended send time; publish delay = the time the batch
///   was handed to the driver - intended send time (OMB's "publish delay"); end-to-end latency =
///   receive time - intended send time read from the payload. All on the runner's `EngineClock`.
/// - Warm-up exclusion is by intended send time: a record intended before measuring began adds
///   no latency sample, even if it completes later. Counts and rates are by observation time, as
///   in OMB (a window's rate is what was acknowledged during it).
/// - Latencies above one hour are recorded as one hour and counted in `clampedSamples`.
///
/// Isolation: thread-safe; one lock acquisition per completion callback or received batch.
final class WorkloadMeasurements: Sendable {
    /// Counters of one span of time.
    struct Counters: Sendable, Equatable {
        var acknowledged: Int64 = 0
        var acknowledgedBytes: Int64 = 0
        var errors: Int64 = 0
        var received: Int64 = 0
        var receivedBytes: Int64 = 0
    }

    /// The three latency histograms of one span, in nanoseconds.
    struct Histograms: Sendable {
        var publish = WorkloadMeasurements.makeHistogram()
        var publishDelay = WorkloadMeasurements.makeHistogram()
        var endToEnd = WorkloadMeasurements.makeHistogram()

        mutating func reset() {
            publish.reset()
            publishDelay.reset()
            endToEnd.reset()
        }

        mutating func add(_ other: Histograms) {
            publish.add(other.publish)
            publishDelay.add(other.publishDelay)
            endToEnd.add(other.endToEnd)
        }
    }

    /// A closed window, before it becomes a `WorkloadWindow`.
    struct ClosedWindow: Sendable {
        var startNanoseconds: UInt64
        var endNanoseconds: UInt64
        var counters: Counters
        var backlog: Int64
        var publish: LatencySummary
        var publishDelay: LatencySummary
        var endToEnd: LatencySummary
    }

    /// One second of traffic for the progress line and the recovery-time measurement.
    struct Second: Sendable {
        var endNanoseconds: UInt64
        var seconds: Double
        var counters: Counters
        var publishP99Ms: Double
        var backlog: Int64
    }

    struct State: Sendable {
        var measuring = false
        var measureStartNanoseconds: UInt64 = .max
        var windowStartNanoseconds: UInt64 = 0
        var window = Histograms()
        var windowCounters = Counters()
        var total = Histograms()
        var measured = Counters()
        var allTime = Counters()
        var secondStartNanoseconds: UInt64 = 0
        var secondPublish = WorkloadMeasurements.makeHistogram()
        var secondCounters = Counters()
        var windows: [ClosedWindow] = []
        var clampedSamples: Int64 = 0
        var endToEndUnmeasured: Int64 = 0
        var errorCounts: [String: Int64] = [:]
        var frozen = false
    }

    /// Latencies are clamped to one hour.
    static let highestTrackableNanoseconds: UInt64 = 3_600_000_000_000
    /// Distinct error codes kept for the report.
    static let errorCodesMax = 32

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestTrackableNanoseconds,
                          numberOfSignificantValueDigits: .three)
    }

    /// Records each sent record is received by (subscriptions per topic), for the backlog.
    let receiversPerRecord: Int64
    /// Bytes per record value.
    let messageSize: Int64
    private let state: Mutex<State>
    /// Records handed to drivers so far (all time), for the max-rate probe's lag.
    let handedToDriver = Atomic<Int64>(0)

    init(receiversPerRecord: Int, messageSize: Int, startNanoseconds: UInt64) {
        self.receiversPerRecord = Int64(receiversPerRecord)
        self.messageSize = Int64(messageSize)
        var initial = State()
        initial.windowStartNanoseconds = startNanoseconds
        initial.secondStartNanoseconds = startNanoseconds
        state = Mutex(initial)
    }

    // MARK: Recording (hot path)

    /// Records the outcome of `result.records` of a batch whose records were intended at
    /// `intended` and handed to the driver at `handedAtNanoseconds`; `now` is the completion time.
    func recordSend(_ result: WorkloadSendResult, intended: [UInt64], handedAtNanoseconds: UInt64, now: UInt64) {
        let lower = max(0, min(result.records.lowerBound, intended.count))
        let upper = max(lower, min(result.records.upperBound, intended.count))
        let count = Int64(upper - lower)
        guard count > 0 else { return }
        state.withLock { state in
            if state.frozen { return }
            if let error = result.error {
                state.windowCounters.errors += count
                state.secondCounters.errors += count
                state.allTime.errors += count
                if state.measuring { state.measured.errors += count }
                if state.errorCounts[error.code] != nil || state.errorCounts.count < Self.errorCodesMax {
                    state.errorCounts[error.code, default: 0] += count
                }
                return
            }
            let bytes = count * messageSize
            state.windowCounters.acknowledged += count
            state.windowCounters.acknowledgedBytes += bytes
            state.secondCounters.acknowledged += count
            state.secondCounters.acknowledgedBytes += bytes
            state.allTime.acknowledged += count
            state.allTime.acknowledgedBytes += bytes
            let measureStart = state.measureStartNanoseconds
            let measuring = state.measuring
            if measuring {
                state.measured.acknowledged += count
                state.measured.acknowledgedBytes += bytes
            }
            for index in lower ..< upper {
                let intendedAt = intended[index]
                let latency = now > intendedAt ? now - intendedAt : 0
                let latencyValue = Self.clamp(latency, &state.clampedSamples)
                state.secondPublish.record(latencyValue)
                guard measuring, intendedAt >= measureStart else { continue }
                state.window.publish.record(latencyValue)
                let delay = handedAtNanoseconds > intendedAt ? handedAtNanoseconds - intendedAt : 0
                state.window.publishDelay.record(Self.clamp(delay, &state.clampedSamples))
            }
        }
    }

    /// Records a batch a consumer received at `now`.
    func recordReceived(_ batch: WorkloadReceivedBatch, now: UInt64) {
        guard !batch.values.isEmpty else { return }
        state.withLock { state in
            if state.frozen { return }
            let count = Int64(batch.values.count)
            var bytes: Int64 = 0
            let measuring = state.measuring
            let measureStart = state.measureStartNanoseconds
            for value in batch.values {
                bytes += Int64(value.readableBytes)
                guard let intendedAt = PayloadTimestamp.read(from: value), intendedAt <= now else {
                    state.endToEndUnmeasured += 1
                    continue
                }
                guard measuring, intendedAt >= measureStart else { continue }
                state.window.endToEnd.record(Self.clamp(now - intendedAt, &state.clampedSamples))
            }
            state.windowCounters.received += count
            state.windowCounters.receivedBytes += bytes
            state.secondCounters.received += count
            state.secondCounters.receivedBytes += bytes
            state.allTime.received += count
            state.allTime.receivedBytes += bytes
            if measuring {
                state.measured.received += count
                state.measured.receivedBytes += bytes
            }
        }
    }

    @inline(__always)
    private static func clamp(_ value: UInt64, _ clamped: inout Int64) -> UInt64 {
        if value > highestTrackableNanoseconds {
            clamped += 1
            return highestTrackableNanoseconds
        }
        return max(1, value)
    }

    // MARK: Phases and windows

    /// Starts the measured phase at `now`: clears the window, starts counting measured totals,
    /// and ignores latency samples of records intended before `now` from here on.
    func beginMeasurement(at now: UInt64) {
        state.withLock { state in
            state.measuring = true
            state.measureStartNanoseconds = now
            state.windowStartNanoseconds = now
            state.window.reset()
            state.windowCounters = Counters()
            state.measured = Counters()
        }
    }

    /// True once `beginMeasurement` ran.
    var isMeasuring: Bool { state.withLock { $0.measuring } }

    /// The start of the measured phase, or nil before it.
    var measureStartNanoseconds: UInt64? { state.withLock { $0.measuring ? $0.measureStartNanoseconds : nil } }

    /// The start of the current window.
    var windowStartNanoseconds: UInt64 { state.withLock { $0.windowStartNanoseconds } }

    /// Closes the current window at `now` (when measuring and it is not empty in time) and starts the next.
    func closeWindow(at now: UInt64) {
        state.withLock { state in
            guard state.measuring, !state.frozen, state.windowStartNanoseconds != .max, now > state.windowStartNanoseconds else { return }
            let backlog = Self.backlog(state.allTime, receiversPerRecord: receiversPerRecord)
            state.windows.append(ClosedWindow(
                startNanoseconds: state.windowStartNanoseconds, endNanoseconds: now, counters: state.windowCounters, backlog: backlog,
                publish: LatencySummary(nanoseconds: state.window.publish, nanosecondsPerUnit: 1e6),
                publishDelay: LatencySummary(nanoseconds: state.window.publishDelay, nanosecondsPerUnit: 1e3),
                endToEnd: LatencySummary(nanoseconds: state.window.endToEnd, nanosecondsPerUnit: 1e6)))
            state.total.add(state.window)
            state.window.reset()
            state.windowCounters = Counters()
            state.windowStartNanoseconds = now
        }
    }

    /// Ends the measured phase's windows at `now`: closes the current window when it lasted at
    /// least `minimumNanoseconds` (or when no window closed yet), otherwise folds its samples into
    /// the totals only. Samples recorded afterwards (late completions) reach the totals at `freeze()`.
    func closeFinalWindow(at now: UInt64, minimumNanoseconds: UInt64) {
        let fold = state.withLock { state -> Bool in
            guard state.measuring else { return false }
            let length = now > state.windowStartNanoseconds ? now - state.windowStartNanoseconds : 0
            if length >= max(1, minimumNanoseconds) || (state.windows.isEmpty && length > 0) { return false }
            state.total.add(state.window)
            state.window.reset()
            state.windowCounters = Counters()
            state.windowStartNanoseconds = max(state.windowStartNanoseconds, now)
            return true
        }
        if !fold { closeWindow(at: now) }
        state.withLock { $0.windowStartNanoseconds = .max }
    }

    /// Stops recording: folds samples recorded since the last window into the totals and ignores
    /// everything after (errors from closing producers are not the workload's).
    func freeze() {
        state.withLock { state in
            guard !state.frozen else { return }
            state.total.add(state.window)
            state.window.reset()
            state.frozen = true
        }
    }

    /// Ends the current second at `now` and returns it.
    func takeSecond(at now: UInt64) -> Second {
        state.withLock { state in
            let seconds = Double(now > state.secondStartNanoseconds ? now - state.secondStartNanoseconds : 0) / 1e9
            let p99 = state.secondPublish.totalCount > 0 ? Double(state.secondPublish.valueAtPercentile(99)) / 1e6 : 0
            let second = Second(endNanoseconds: now, seconds: seconds, counters: state.secondCounters, publishP99Ms: p99,
                                backlog: Self.backlog(state.allTime, receiversPerRecord: receiversPerRecord))
            state.secondCounters = Counters()
            state.secondPublish.reset()
            state.secondStartNanoseconds = now
            return second
        }
    }

    /// Counters since the start of traffic (never reset).
    var allTime: Counters { state.withLock { $0.allTime } }

    /// The consumer backlog now, in records: receivers x acknowledged - received, at least 0 (OMB's formula).
    var backlog: Int64 { state.withLock { Self.backlog($0.allTime, receiversPerRecord: receiversPerRecord) } }

    static func backlog(_ counters: Counters, receiversPerRecord: Int64) -> Int64 {
        max(0, receiversPerRecord * counters.acknowledged - counters.received)
    }

    /// Everything the result needs, after the last window closed.
    struct Final: Sendable {
        var windows: [ClosedWindow]
        var total: Histograms
        var measured: Counters
        var allTime: Counters
        var clampedSamples: Int64
        var endToEndUnmeasured: Int64
        var errorCounts: [String: Int64]
        var measureStartNanoseconds: UInt64?
    }

    func final() -> Final {
        state.withLock { state in
            Final(windows: state.windows, total: state.total, measured: state.measured, allTime: state.allTime,
                  clampedSamples: state.clampedSamples, endToEndUnmeasured: state.endToEndUnmeasured, errorCounts: state.errorCounts,
                  measureStartNanoseconds: state.measuring ? state.measureStartNanoseconds : nil)
        }
    }
}
