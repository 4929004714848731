import Foundation

/// Several results side by side (what `rivulet compare` prints and saves): a text table and an
/// SVG bar chart of throughput and latency.
public enum ResultComparison {
    /// The label of a result in comparisons: its target, plus the workload name when the
    /// results compared are of different workloads.
    public static func labels(_ results: [WorkloadResult]) -> [String] {
        let sameWorkload = Set(results.map(\.workload)).count <= 1
        return results.map { sameWorkload ? $0.target : "\($0.workload) on \($0.target)" }
    }

    /// A table with one row per result: throughput, publish and end-to-end latency percentiles,
    /// errors and status.
    public static func table(_ results: [WorkloadResult]) -> String {
        let header = ["result", "msg/s", "MB/s", "pub p50 ms", "pub p99 ms", "pub p99.9 ms", "pub max ms", "e2e p50 ms", "e2e p99 ms",
                      "errors", "status"]
        let rows = zip(labels(results), results).map { label, result in
            [label, formatRate(result.aggregatedPublishRate),
             String(format: "%.2f", result.publishThroughputBytesPerSecond / 1_048_576),
             WorkloadResult.ms(result.aggregatedPublishLatency, \.p50), WorkloadResult.ms(result.aggregatedPublishLatency, \.p99),
             WorkloadResult.ms(result.aggregatedPublishLatency, \.p999), WorkloadResult.ms(result.aggregatedPublishLatency, \.max),
             WorkloadResult.ms(result.aggregatedEndToEndLatency, \.p50), WorkloadResult.ms(result.aggregatedEndToEndLatency, \.p99),
             groupThousands(result.publishErrors), result.stopReason.rawValue + (result.producersFellBehind ? ", behind schedule" : "")]
        }
        return WorkloadResult.table(header: header, rows: rows).joined(separator: "\n") + "\n"
    }

    /// A bar chart: published records/s per result on the left, p50/p99 publish and p99
    /// end-to-end latency per result on the right.
    public static func chartSVG(_ results: [WorkloadResult], title: String = "Comparison") -> String {
        let names = labels(results)
        var svg = SVGDrawing(width: 1000, height: 480)
        svg.text(title, x: 60, y: 28, size: 16, weight: "bold")
        let panelTop = 70.0
        let panelHeight = 280.0
        let panels: [(title: String, label: String, left: Double, width: Double, series: [(String, [Double])])] = [
            ("Throughput", "records/s", 80, 360, [("published", results.map(\.aggregatedPublishRate))]),
            ("Latency", "ms", 560, 400, [("publish p50", results.map(\.aggregatedPublishLatency.p50)),
                                        ("publish p99", results.map(\.aggregatedPublishLatency.p99)),
                                        ("end-to-end p99", results.map(\.aggregatedEndToEndLatency.p99))]),
        ]
        for panel in panels {
            let maximum = panel.series.flatMap(\.1).filter(\.isFinite).max() ?? 0
            let top = svg.panel(title: panel.title, x: panel.left, y: panelTop, width: panel.width, height: panelHeight,
                                yMaximum: maximum * 1.05, yLabel: panel.label)
            let groupWidth = panel.width / Double(max(1, results.count))
            let barWidth = groupWidth * 0.8 / Double(max(1, panel.series.count))
            for (resultIndex, name) in names.enumerated() {
                let groupLeft = panel.left + groupWidth * Double(resultIndex) + groupWidth * 0.1
                for (seriesIndex, series) in panel.series.enumerated() where resultIndex < series.1.count {
                    let value = series.1[resultIndex].isFinite ? series.1[resultIndex] : 0
                    let barHeight = panelHeight * value / top
                    svg.rect(x: groupLeft + barWidth * Double(seriesIndex), y: panelTop + panelHeight - barHeight, width: barWidth * 0.92,
                             height: barHeight, fill: SVGDrawing.palette[seriesIndex % SVGDrawing.palette.count],
                             title: "\(name) \(series.0): \(SVGDrawing.label(value)) \(panel.label)")
                }
                svg.text(name, x: groupLeft + groupWidth * 0.4, y: panelTop + panelHeight + 16, size: 10, anchor: "end",
                         color: "#333333", rotate: -30)
            }
            for (seriesIndex, series) in panel.series.enumerated() {
                let legendX = panel.left + Double(seriesIndex) * 120
                let legendY = panelTop + panelHeight + 110
                svg.rect(x: legendX, y: legendY - 10, width: 12, height: 12, fill: SVGDrawing.palette[seriesIndex % SVGDrawing.palette.count])
                svg.text(series.0, x: legendX + 16, y: legendY, size: 11)
            }
        }
        return svg.document
    }
}
