import Foundation

extension WorkloadResult {
    /// An SVG chart of the measured phase: throughput (published and consumed records/s) per
    /// window on top, p99 publish and end-to-end latency (ms) per window below, faults as dashed
    /// vertical lines. Hand-written SVG, no dependencies.
    public var chartSVG: String {
        var svg = SVGDrawing(width: 960, height: 680)
        let left = 90.0
        let plotWidth = 700.0
        let legendX = left + plotWidth + 20
        svg.text("\(workload) on \(target)", x: left, y: 26, size: 16, weight: "bold")
        var subtitle = "\(driver), \(windows.count) windows of \(SVGDrawing.n(windowSeconds)) s"
        if stopReason != .completed { subtitle += ", \(stopReason.rawValue) (partial)" }
        svg.text(subtitle, x: left, y: 44, size: 12, color: "#555555")

        let xMaximum = max(windows.last?.endSeconds ?? 0, 1e-9)
        func x(_ seconds: Double) -> Double { left + plotWidth * min(max(seconds / xMaximum, 0), 1) }

        let panels: [(title: String, label: String, top: Double, series: [(String, [Double])])] = [
            ("Throughput", "records/s", 80, [("published", publishRate), ("consumed", consumeRate)]),
            ("Latency p99 (from the intended send time)", "ms", 380,
             [("publish p99", publishLatency99pct), ("end-to-end p99", endToEndLatency99pct)]),
        ]
        let panelHeight = 210.0
        for panel in panels {
            let maximum = panel.series.flatMap(\.1).filter(\.isFinite).max() ?? 0
            let top = svg.panel(title: panel.title, x: left, y: panel.top, width: plotWidth, height: panelHeight,
                                yMaximum: maximum * 1.05, yLabel: panel.label)
            for (index, series) in panel.series.enumerated() {
                let color = SVGDrawing.palette[index % SVGDrawing.palette.count]
                let points = zip(windows, series.1).map { window, value in
                    (x(window.endSeconds), panel.top + panelHeight - panelHeight * (value.isFinite ? value : 0) / top)
                }
                svg.polyline(points, color: color)
                let legendY = panel.top + 14 + Double(index) * 18
                svg.line(x1: legendX, y1: legendY - 4, x2: legendX + 18, y2: legendY - 4, color: color, width: 3)
                svg.text(series.0, x: legendX + 24, y: legendY, size: 12)
            }
            // Faults happen on the traffic clock; the x axis is the measured phase.
            for event in faults {
                let at = event.atSeconds - warmupSeconds
                guard at >= 0, at <= xMaximum else { continue }
                svg.line(x1: x(at), y1: panel.top, x2: x(at), y2: panel.top + panelHeight, color: "#D55E00", width: 1, dash: "4 3")
                if panel.top == panels[0].top {
                    svg.text(event.verb, x: x(at) + 3, y: panel.top + panelHeight - 6, size: 10, color: "#D55E00")
                }
            }
            for tick in SVGDrawing.niceTicks(maximum: xMaximum, count: 8) where tick <= xMaximum {
                svg.text(SVGDrawing.label(tick), x: x(tick), y: panel.top + panelHeight + 16, size: 11, anchor: "middle", color: "#555555")
            }
            svg.text("seconds since measuring began", x: left + plotWidth / 2, y: panel.top + panelHeight + 32, size: 11,
                     anchor: "middle", color: "#555555")
        }
        svg.text(summaryLine, x: left, y: 664, size: 11, color: "#333333")
        return svg.document
    }
}
