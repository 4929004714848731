import Histogram

/// Percentiles of one latency histogram in one unit (the owner's name says which: `...Ms`, `...Us`).
/// The percentile set is OMB's: average, 50, 75, 95, 99, 99.9, 99.99, 99.999 and max.
public struct LatencySummary: Sendable, Equatable {
    /// Number of samples.
    public var count: Int64
    /// Mean.
    public var avg: Double
    /// 50th percentile.
    public var p50: Double
    /// 75th percentile.
    public var p75: Double
    /// 95th percentile.
    public var p95: Double
    /// 99th percentile.
    public var p99: Double
    /// 99.9th percentile.
    public var p999: Double
    /// 99.99th percentile.
    public var p9999: Double
    /// 99.999th percentile.
    public var p99999: Double
    /// Largest sample.
    public var max: Double

    /// An empty summary (all zeros).
    public static let empty = LatencySummary(count: 0, avg: 0, p50: 0, p75: 0, p95: 0, p99: 0, p999: 0, p9999: 0, p99999: 0, max: 0)

    public init(count: Int64, avg: Double, p50: Double, p75: Double, p95: Double, p99: Double, p999: Double, p9999: Double,
                p99999: Double, max: Double) {
        self.count = count
        self.avg = avg
        self.p50 = p50
        self.p75 = p75
        self.p95 = p95
        self.p99 = p99
        self.p999 = p999
        self.p9999 = p9999
        self.p99999 = p99999
        self.max = max
    }

    /// Summarizes a histogram of nanoseconds, dividing every value by `nanosecondsPerUnit`
    /// (1e6 for milliseconds, 1e3 for microseconds). An empty histogram gives `empty`.
    init(nanoseconds histogram: Histogram<UInt64>, nanosecondsPerUnit: Double) {
        guard histogram.totalCount > 0 else {
            self = .empty
            return
        }
        func at(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / nanosecondsPerUnit }
        let mean = histogram.mean
        self.init(count: Int64(histogram.totalCount), avg: mean.isFinite ? mean / nanosecondsPerUnit : 0,
                  p50: at(50), p75: at(75), p95: at(95), p99: at(99), p999: at(99.9), p9999: at(99.99), p99999: at(99.999),
                  max: Double(histogram.max) / nanosecondsPerUnit)
    }
}

/// One point of a quantile map (OMB's `aggregated...Quantiles`): the percentile and the value
/// at or below which that percentage of samples fall.
public struct LatencyQuantile: Sendable, Equatable {
    /// Percentile, 0...100.
    public var percentile: Double
    /// The value, in the unit of the map that holds it.
    public var value: Double

    public init(percentile: Double, value: Double) {
        self.percentile = percentile
        self.value = value
    }

    /// OMB's map: HdrHistogram percentile iteration with 100 ticks per half distance, values
    /// divided by `nanosecondsPerUnit`.
    static func quantiles(nanoseconds histogram: Histogram<UInt64>, nanosecondsPerUnit: Double) -> [LatencyQuantile] {
        guard histogram.totalCount > 0 else { return [] }
        var result: [LatencyQuantile] = []
        var lastPercentile = -1.0
        for step in histogram.percentiles(ticksPerHalfDistance: 100) {
            // OMB keys a TreeMap by `getPercentile()`, which keeps the last value per percentile.
            let point = LatencyQuantile(percentile: step.percentile, value: Double(step.value) / nanosecondsPerUnit)
            if point.percentile == lastPercentile, !result.isEmpty {
                result[result.count - 1] = point
            } else {
                result.append(point)
            }
            lastPercentile = point.percentile
            if result.count >= 100_000 { break }
        }
        return result
    }
}
