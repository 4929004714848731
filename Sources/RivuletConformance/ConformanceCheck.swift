/// The outcome of one conformance check: `PASS`, `FAIL` or `SKIP` (the target cannot run it,
/// for example a broker restart on an external cluster).
public struct ConformanceCheck: Sendable, Hashable, CustomStringConvertible {
    /// Passed, failed or skipped.
    public enum Outcome: String, Sendable, Hashable {
        case passed = "PASS"
        case failed = "FAIL"
        case skipped = "SKIP"
    }

    /// `suite.check`, such as `order.exactly-once`.
    public var name: String
    /// The outcome.
    public var outcome: Outcome
    /// What was measured (for a pass) or what went wrong (for a failure).
    public var detail: String

    public init(name: String, outcome: Outcome, detail: String) {
        self.name = name
        self.outcome = outcome
        self.detail = detail
    }

    /// A passing or failing check.
    public static func check(_ name: String, _ passed: Bool, _ detail: String) -> ConformanceCheck {
        ConformanceCheck(name: name, outcome: passed ? .passed : .failed, detail: detail)
    }

    /// `PASS name: detail`.
    public var description: String { "\(outcome.rawValue) \(name): \(detail)" }
}

/// Every check of a conformance run, with the totals `rivulet conform` prints.
public struct ConformanceReport: Sendable {
    /// The checks in the order they ran.
    public var checks: [ConformanceCheck]

    public init(checks: [ConformanceCheck] = []) { self.checks = checks }

    /// Checks that passed.
    public var passed: Int { checks.count { $0.outcome == .passed } }
    /// Checks that failed.
    public var failed: Int { checks.count { $0.outcome == .failed } }
    /// Checks the target could not run.
    public var skipped: Int { checks.count { $0.outcome == .skipped } }
    /// True when nothing failed (and something passed).
    public var succeeded: Bool { failed == 0 && passed > 0 }

    /// `N passed, M failed` (and `, K skipped` when some were).
    public var summaryLine: String {
        "\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : "")
    }
}
