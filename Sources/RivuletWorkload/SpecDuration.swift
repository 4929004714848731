/// The duration grammar of workload specs and fault lines: a non-negative number followed by a unit,
/// with no space: `250us`, `500ms`, `10s`, `1.5s`, `2m`, `1h`. Units: `ns`, `us` (or `µs`), `ms`, `s`,
/// `m`, `h`. A bare number is rejected because its unit would be a guess.
public enum SpecDuration {
    /// The largest accepted duration: 10,000 hours, far beyond any run, well inside `Int64` nanoseconds.
    public static let maximum: Duration = .seconds(36_000_000)

    /// Parses `text` (surrounding spaces ignored); nil when it is not a number followed by a known unit,
    /// is negative, not finite, or longer than `maximum`.
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingSpaces()
        guard let unitStart = trimmed.firstIndex(where: { $0.isLetter }) else { return nil }
        let numberText = String(trimmed[..<unitStart]).replacingUnderscores()
        let unit = String(trimmed[unitStart...])
        guard !numberText.isEmpty, numberText.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              let number = Double(numberText), number.isFinite, number >= 0 else { return nil }
        let nanosecondsPerUnit: Double
        switch unit {
        case "ns": nanosecondsPerUnit = 1
        case "us", "µs": nanosecondsPerUnit = 1e3
        case "ms": nanosecondsPerUnit = 1e6
        case "s": nanosecondsPerUnit = 1e9
        case "m": nanosecondsPerUnit = 60e9
        case "h": nanosecondsPerUnit = 3600e9
        default: return nil
        }
        let nanoseconds = (number * nanosecondsPerUnit).rounded()
        guard nanoseconds <= Double(maximum.nanosecondsClamped) else { return nil }
        return .nanoseconds(Int64(nanoseconds))
    }

    /// Prints `duration` in the largest unit that represents it exactly (`90s` prints as `90s`,
    /// `120s` as `2m`, `1500ms` as `1500ms`), so `parse(format(d)) == d`.
    public static func format(_ duration: Duration) -> String {
        let nanoseconds = duration.nanosecondsClamped
        if nanoseconds == 0 { return "0s" }
        let units: [(UInt64, String)] = [(3_600_000_000_000, "h"), (60_000_000_000, "m"), (1_000_000_000, "s"),
                                         (1_000_000, "ms"), (1_000, "us"), (1, "ns")]
        for (size, name) in units where nanoseconds % size == 0 {
            return "\(nanoseconds / size)\(name)"
        }
        return "\(nanoseconds)ns"
    }
}

extension Duration {
    /// This duration in nanoseconds, clamped to `0...UInt64.max` (negative durations read as zero).
    @inlinable
    public var nanosecondsClamped: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds < 0) { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (sum, overflow2) = whole.addingReportingOverflow(UInt64(max(0, attoseconds / 1_000_000_000)))
        return overflow2 ? .max : sum
    }

    /// This duration in seconds as a `Double`.
    @inlinable
    public var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    /// A duration from a number of seconds; negative or non-finite inputs give zero.
    public static func secondsDouble(_ seconds: Double) -> Duration {
        guard seconds.isFinite, seconds > 0 else { return .zero }
        return .nanoseconds(Int64(min(seconds * 1e9, 9.0e18).rounded()))
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" || first == "\r" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" || last == "\r" { slice = slice.dropLast() }
        return String(slice)
    }

    /// The text with `_` digit separators removed (`100_000` -> `100000`).
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
