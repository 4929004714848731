import Foundation

/// Minimal hand-written SVG: escaped text, fixed-precision coordinates, "nice" axis ticks, and
/// line and bar panels. No dependencies; output is well-formed XML.
struct SVGDrawing {
    private(set) var body: [String] = []
    let width: Double
    let height: Double

    /// A color per series, colorblind-friendly.
    static let palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// The finished document.
    var document: String {
        var lines = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" "
                         + "viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">",
                     "<rect x=\"0\" y=\"0\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" fill=\"#ffffff\"/>"]
        lines += body
        lines.append("</svg>")
        return lines.joined(separator: "\n") + "\n"
    }

    mutating func text(_ value: String, x: Double, y: Double, size: Double = 12, anchor: String = "start", weight: String = "normal",
                       color: String = "#222222", rotate: Double? = nil) {
        var attributes = "x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" font-size=\"\(Self.n(size))\" text-anchor=\"\(anchor)\" fill=\"\(color)\""
        if weight != "normal" { attributes += " font-weight=\"\(weight)\"" }
        if let rotate { attributes += " transform=\"rotate(\(Self.n(rotate)) \(Self.n(x)) \(Self.n(y)))\"" }
        body.append("<text \(attributes)>\(Self.escape(value))</text>")
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, color: String = "#999999", width: Double = 1, dash: String? = nil) {
        var attributes = "x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\" stroke=\"\(color)\" "
            + "stroke-width=\"\(Self.n(width))\""
        if let dash { attributes += " stroke-dasharray=\"\(dash)\"" }
        body.append("<line \(attributes)/>")
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, title: String? = nil) {
        let open = "<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(max(0, width)))\" height=\"\(Self.n(max(0, height)))\" fill=\"\(fill)\""
        if let title {
            body.append(open + "><title>\(Self.escape(title))</title></rect>")
        } else {
            body.append(open + "/>")
        }
    }

    mutating func polyline(_ points: [(Double, Double)], color: String) {
        guard !points.isEmpty else { return }
        let text = points.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " ")
        body.append("<polyline points=\"\(text)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\"/>")
        for point in points {
            body.append("<circle cx=\"\(Self.n(point.0))\" cy=\"\(Self.n(point.1))\" r=\"2.5\" fill=\"\(color)\"/>")
        }
    }

    /// A framed plot area with a title, a y axis from 0 to a nice maximum, and horizontal grid lines.
    /// Returns the y scale's maximum.
    mutating func panel(title: String, x: Double, y: Double, width: Double, height: Double, yMaximum: Double, yLabel: String) -> Double {
        let ticks = Self.niceTicks(maximum: yMaximum)
        let top = ticks.last ?? 1
        text(title, x: x, y: y - 10, size: 14, weight: "bold")
        for tick in ticks {
            let tickY = y + height - height * tick / top
            line(x1: x, y1: tickY, x2: x + width, y2: tickY, color: "#e5e5e5")
            text(Self.label(tick), x: x - 6, y: tickY + 4, size: 11, anchor: "end", color: "#555555")
        }
        line(x1: x, y1: y, x2: x, y2: y + height, color: "#444444")
        line(x1: x, y1: y + height, x2: x + width, y2: y + height, color: "#444444")
        text(yLabel, x: x - 56, y: y + height / 2, size: 11, anchor: "middle", color: "#555555", rotate: -90)
        return top
    }

    /// Round tick values from 0 to the first one at or above `maximum` (steps of 1, 2 or 5 times a
    /// power of ten).
    static func niceTicks(maximum: Double, count: Int = 5) -> [Double] {
        let top = maximum.isFinite && maximum > 0 ? maximum : 1
        let raw = top / Double(max(1, count))
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        // From 0 up to the first tick at or above the maximum, so every value fits under the top line.
        var ticks: [Double] = [0]
        while (ticks.last ?? 0) < top, ticks.count < 50 {
            ticks.append(Double(ticks.count) * step)
        }
        return ticks
    }

    /// Axis labels: `12k`, `1.5M`, `0.25`.
    static func label(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 1e9 { return trim(value / 1e9) + "G" }
        if magnitude >= 1e6 { return trim(value / 1e6) + "M" }
        if magnitude >= 1e4 { return trim(value / 1e3) + "k" }
        return trim(value)
    }

    private static func trim(_ value: Double) -> String {
        var text = String(format: "%.2f", value)
        while text.contains("."), text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A coordinate with two decimals; never NaN or infinite.
    static func n(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        return trim(value)
    }

    static func escape(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            default:
                // XML 1.0 forbids most control characters.
                if scalar.value < 0x20, scalar != "\t", scalar != "\n", scalar != "\r" { continue }
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
