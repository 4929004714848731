import RivuletCore

/// One conformance suite: a scenario against a fresh `ConformanceEnvironment` that returns its
/// checks. Suites are values; `ConformanceSuites.all` lists them in the order `rivulet conform`
/// runs them.
public struct ConformanceSuite: Sendable {
    /// Short name (`order`, `idempotence`...), the prefix of its check names and `--suite NAME`.
    public let name: String
    /// What it checks, one line.
    public let summary: String
    /// True when it needs an embedded broker (fault injection, restarts); skipped on external targets.
    public let needsEmbeddedBroker: Bool
    /// The scenario. Throwing fails the suite with the error as detail.
    public let run: @Sendable (ConformanceEnvironment) async throws -> [ConformanceCheck]

    public init(name: String, summary: String, needsEmbeddedBroker: Bool = false,
                run: @escaping @Sendable (ConformanceEnvironment) async throws -> [ConformanceCheck]) {
        self.name = name
        self.summary = summary
        self.needsEmbeddedBroker = needsEmbeddedBroker
        self.run = run
    }
}

/// The suites, and running them.
public enum ConformanceSuites {
    /// Every suite, in run order.
    public static let all: [ConformanceSuite] = [
        OrderSuite.suite, IdempotenceSuite.suite, PartitioningSuite.suite, OffsetsSuite.suite,
        RetentionSuite.suite, LongPollSuite.suite, MessageSizeSuite.suite, DurabilitySuite.suite, FailoverSuite.suite,
    ]

    /// The suites named (all when `names` is empty).
    ///
    /// - Throws: `UnknownSuite` naming the first unknown name and the known ones.
    public static func select(_ names: [String]) throws(UnknownSuite) -> [ConformanceSuite] {
        guard !names.isEmpty else { return all }
        return try names.map { name throws(UnknownSuite) in
            guard let suite = all.first(where: { $0.name == name }) else {
                throw UnknownSuite(name: name, known: all.map(\.name))
            }
            return suite
        }
    }

    /// A `--suite` name that does not exist.
    public struct UnknownSuite: Error, Sendable, CustomStringConvertible {
        public let name: String
        public let known: [String]
        public var description: String { "unknown suite '\(name)'; suites: \(known.joined(separator: ", "))" }
    }

    /// Runs `suites` against `target`, each on a fresh environment, handing every check to
    /// `output` as it completes; returns them all.
    public static func run(_ suites: [ConformanceSuite], target: ConformanceTarget,
                           output: @Sendable (ConformanceCheck) -> Void = { _ in }) async -> ConformanceReport {
        var report = ConformanceReport()
        for suite in suites {
            var checks: [ConformanceCheck]
            if suite.needsEmbeddedBroker, case .external = target {
                checks = [ConformanceCheck(name: suite.name, outcome: .skipped, detail: "needs an embedded broker (restart or fault injection)")]
            } else {
                do {
                    let environment = try await ConformanceEnvironment.start(target, suite: suite.name)
                    do {
                        checks = try await suite.run(environment)
                    } catch {
                        checks = [ConformanceCheck(name: suite.name, outcome: .failed, detail: "stopped by an error: \(error)")]
                    }
                    await environment.close()
                } catch {
                    checks = [ConformanceCheck(name: suite.name, outcome: .failed, detail: "could not start: \(error)")]
                }
            }
            for check in checks { output(check) }
            report.checks += checks
        }
        return report
    }
}
