/// Finds the maximum sustainable producer rate when a spec says `producerRate: 0`.
///
/// A pure state machine: every control period the runner hands it an `Observation` (what the
/// producers were asked to do, what they achieved, how far behind schedule they are, how the
/// consumers' backlog moved) and applies the rate it returns. `MAX-RATE.md` explains the design;
/// in short:
///
/// - **Verdict.** A period is *sustained* only if the producers kept their schedule (due but
///   unsent records at most `lagToleranceSeconds` worth), the acknowledged rate reached
///   `1 - achievedTolerance` of the target, errors stayed under `errorTolerance`, and consumers
///   kept up (backlog growth under `backlogGrowthTolerance` of the period's records, and no growing
///   standing backlog above `backlogToleranceSeconds` worth). Otherwise it is *overloaded*.
///   Checking the producers' own schedule and acknowledgements, not only the consumer backlog, is
///   what keeps the probe from settling on a rate the producers never achieve (OMB #329: 2.5 M
///   msg/s chosen where producers managed 2 M).
/// - **Bracket.** `good` is the highest target rate sustained, `bad` the lowest that overloaded.
///   Without a `bad`, the rate grows by `growthFactor` per sustained period; with both, it
///   bisects; when `bad - good <= convergenceTolerance x good` it holds at the settled rate,
///   `min(good, acknowledged rate in the period that set good) x (1 - holdMargin)`, which
///   therefore never exceeds what was really acknowledged, and leaves queues built while probing
///   above capacity room to drain.
/// - **No collapse.** After an overload without a known `good` rate the next rate is
///   `min(achieved, target / 2)`, floored at `minimumRate`; bisection from there climbs back in
///   a few periods. A period that acknowledged under `stallFraction` of its target (a stall, a
///   fault) never lowers the ceiling, and a sustained rate at or above the ceiling clears it.
///   OMB's old controller derived the next rate from a backlog count and could sit at 1 msg/s for
///   a whole run (OMB #163); here no rate is derived from a stale backlog, and a shrinking backlog
///   never counts against the current rate.
/// - **Settling.** After an overload changes the rate, the next `settlePeriodsAfterOverload`
///   periods run at the new rate without a verdict: acknowledgements of records queued during the
///   overload flush into them and would make a rate above capacity look sustained.
/// - **Hold.** While holding, `holdFailuresToReopen` consecutive overloads reopen the search
///   downward (capacity dropped); after `reprobeAfterHoldPeriods` sustained periods it tries a
///   rate midway to `good x (1 + 2 x convergenceTolerance)`, so one noisy early overload does not
///   cap the rate forever. The reported settled rate is always `settledRate`.
public struct MaxRateProbe: Sendable {
    /// Tuning; the defaults suit control periods of 1 to 10 seconds.
    public struct Configuration: Sendable, Equatable {
        /// First rate tried, records/s over all producers (OMB starts at 10,000).
        public var startRate: Double = 10_000
        /// Lowest rate ever set.
        public var minimumRate: Double = 1
        /// Highest rate ever set.
        public var maximumRate: Double = 1e9
        /// Rate multiplier per sustained period while no overload is known.
        public var growthFactor: Double = 2
        /// The search stops when `bad - good <= convergenceTolerance x good`.
        public var convergenceTolerance: Double = 0.02
        /// A period is overloaded when acknowledgements fall below `1 - achievedTolerance` of the target.
        public var achievedTolerance: Double = 0.05
        /// A period is overloaded when more than this many seconds of sends are due but unsent.
        public var lagToleranceSeconds: Double = 0.05
        /// A period is overloaded when errors exceed this fraction of the period's records.
        public var errorTolerance: Double = 0.01
        /// A period is overloaded when the consumer backlog grew by more than this fraction of the
        /// records the consumers should have received in the period.
        public var backlogGrowthTolerance: Double = 0.05
        /// ... or when a backlog above this many seconds of records is still growing (by more than
        /// a fifth of `backlogGrowthTolerance`).
        public var backlogToleranceSeconds: Double = 1.0
        /// Consecutive overloads while holding that reopen the search.
        public var holdFailuresToReopen: Int = 2
        /// Sustained periods while holding before trying a slightly higher rate; 0 never retries.
        public var reprobeAfterHoldPeriods: Int = 10
        /// A period that acknowledged less than this fraction of its target is a stall: it never
        /// lowers the ceiling (it says nothing about capacity).
        public var stallFraction: Double = 0.1
        /// Periods to wait, at the new rate, after a rate change caused by an overload before judging
        /// again: acknowledgements of records queued during the overload flush into the next period
        /// and would make a rate above capacity look sustained.
        public var settlePeriodsAfterOverload: Int = 1
        /// The settled rate is this fraction below the highest sustained rate, so queues built while
        /// probing above capacity drain instead of standing (which would inflate latency).
        public var holdMargin: Double = 0.02

        public init() {}
    }

    /// What happened during one control period.
    public struct Observation: Sendable, Equatable {
        /// Length of the period in seconds.
        public var periodSeconds: Double
        /// The rate that was in force, records/s.
        public var targetRate: Double
        /// Records acknowledged (successfully) during the period.
        public var acknowledged: Int64
        /// Records that failed during the period.
        public var errors: Int64
        /// Records due by the schedule but not yet handed to the driver at the end of the period.
        public var lag: Int64
        /// The consumer backlog (records) at the start of the period; nil without consumers.
        public var backlogAtStart: Int64?
        /// The consumer backlog (records) at the end of the period; nil without consumers.
        public var backlogAtEnd: Int64?
        /// Records each sent record should be received (subscriptions per topic).
        public var receiversPerRecord: Int

        public init(periodSeconds: Double, targetRate: Double, acknowledged: Int64, errors: Int64 = 0, lag: Int64 = 0,
                    backlogAtStart: Int64? = nil, backlogAtEnd: Int64? = nil, receiversPerRecord: Int = 1) {
            self.periodSeconds = periodSeconds
            self.targetRate = targetRate
            self.acknowledged = acknowledged
            self.errors = errors
            self.lag = lag
            self.backlogAtStart = backlogAtStart
            self.backlogAtEnd = backlogAtEnd
            self.receiversPerRecord = receiversPerRecord
        }
    }

    /// Where the search is.
    public enum Phase: String, Sendable {
        /// Growing by `growthFactor` until the first overload.
        case rampUp
        /// Bisecting between `good` and `bad`.
        case bisect
        /// Converged; holding at `good`.
        case hold
    }

    /// One decision, for reports (`MaxRateProbeReport.steps`).
    public struct Step: Sendable, Equatable {
        /// The rate that was in force, records/s.
        public var targetRate: Double
        /// The acknowledged rate achieved, records/s.
        public var achievedRate: Double
        /// True when the period was sustained.
        public var sustained: Bool
        /// Why it was overloaded (empty when sustained).
        public var reason: String
        /// The rate set for the next period.
        public var nextRate: Double
        /// The phase after this decision.
        public var phase: Phase
    }

    /// The tuning in use.
    public let configuration: Configuration
    /// The rate to apply now, records/s.
    public private(set) var rate: Double
    /// The highest target rate sustained so far (0 when none): the bracket's lower end.
    public private(set) var good: Double = 0
    /// The acknowledged rate in the period that set `good`.
    public private(set) var goodAchieved: Double = 0
    /// The lowest rate that overloaded, if any.
    public private(set) var bad: Double?
    /// The current phase.
    public private(set) var phase: Phase = .rampUp
    private var holdFailures = 0
    private var holdSuccesses = 0
    private var settling = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        rate = min(max(configuration.startRate, configuration.minimumRate), configuration.maximumRate)
    }

    /// The rate the probe has settled on: the highest sustained target, capped at what was
    /// acknowledged in that period, so it is never above what the producers achieved; nil before
    /// any period was sustained.
    public var settledRate: Double? { good > 0 ? min(good, goodAchieved) * (1 - configuration.holdMargin) : nil }

    /// True once the bracket has closed.
    public var converged: Bool { phase == .hold }

    /// Judges one period; returns nil when sustained, or the reason it was overloaded.
    public func overloadReason(_ observation: Observation) -> String? {
        let period = max(observation.periodSeconds, 1e-9)
        let target = observation.targetRate
        let expected = target * period
        let achieved = Double(observation.acknowledged) / period
        if Double(observation.errors) > max(1, expected * configuration.errorTolerance) {
            return "\(observation.errors) send errors"
        }
        if Double(observation.lag) > max(10, target * configuration.lagToleranceSeconds) {
            return "producers \(observation.lag) records behind schedule"
        }
        if achieved < target * (1 - configuration.achievedTolerance) {
            return "acknowledged \(formatRate(achieved)) of \(formatRate(target)) records/s"
        }
        if let start = observation.backlogAtStart, let end = observation.backlogAtEnd, observation.receiversPerRecord > 0 {
            let receivers = Double(observation.receiversPerRecord)
            let growth = Double(end - start)
            if growth > max(100, expected * receivers * configuration.backlogGrowthTolerance) {
                return "consumer backlog grew by \(end - start) records"
            }
            let standingLimit = max(1000, target * receivers * configuration.backlogToleranceSeconds)
            if Double(end) > standingLimit, growth > max(10, expected * receivers * configuration.backlogGrowthTolerance / 5) {
                return "consumer backlog of \(end) records still growing"
            }
        }
        return nil
    }

    /// Records one period and returns the decision; `rate` is the rate to apply next.
    public mutating func observe(_ observation: Observation) -> Step {
        let period = max(observation.periodSeconds, 1e-9)
        let target = observation.targetRate
        let achieved = Double(observation.acknowledged) / period
        if settling > 0 {
            settling -= 1
            return Step(targetRate: target, achievedRate: achieved, sustained: overloadReason(observation) == nil,
                        reason: "settling after an overload", nextRate: rate, phase: phase)
        }
        let reason = overloadReason(observation)
        let next: Double
        if reason == nil {
            next = sustained(target: target, achieved: achieved)
        } else if phase == .hold {
            next = overloadedWhileHolding(target: target, achieved: achieved)
        } else {
            next = overloaded(target: target, achieved: achieved)
        }
        let previous = rate
        rate = min(max(next, configuration.minimumRate), configuration.maximumRate)
        if reason != nil, rate != previous { settling = configuration.settlePeriodsAfterOverload }
        return Step(targetRate: target, achievedRate: achieved, sustained: reason == nil, reason: reason ?? "",
                    nextRate: rate, phase: phase)
    }

    private mutating func sustained(target: Double, achieved: Double) -> Double {
        holdFailures = 0
        if target >= good {
            good = target
            goodAchieved = achieved
        }
        // A sustained rate at or above the ceiling means the ceiling is stale (the system got faster,
        // or the ceiling came from a bad moment): drop it and ramp up again.
        if let ceiling = bad, target >= ceiling {
            bad = nil
        }
        if phase == .hold {
            holdSuccesses += 1
            if configuration.reprobeAfterHoldPeriods > 0, holdSuccesses >= configuration.reprobeAfterHoldPeriods {
                holdSuccesses = 0
                let ceiling = max(bad ?? 0, good * (1 + 2 * configuration.convergenceTolerance))
                bad = ceiling
                phase = .bisect
                return (good + ceiling) / 2
            }
            return settledRate ?? good
        }
        guard let ceiling = bad else {
            phase = .rampUp
            return target * configuration.growthFactor
        }
        return bisectOrHold(ceiling: ceiling)
    }

    private mutating func overloaded(target: Double, achieved: Double) -> Double {
        // A period that acknowledged almost nothing (a stall, a fault) says nothing about capacity:
        // it must not lower the ceiling, or the probe would collapse (OMB #163).
        if achieved >= configuration.stallFraction * target {
            bad = min(bad ?? .infinity, target)
        }
        if good > 0, good < (bad ?? .infinity) {
            guard let ceiling = bad else {
                // Stalled while ramping up: go back to the last rate that worked.
                phase = .bisect
                return good
            }
            return bisectOrHold(ceiling: ceiling)
        }
        // Nothing sustained below the ceiling: step down to what was achieved, at most half.
        good = 0
        goodAchieved = 0
        phase = .bisect
        return min(achieved, target / 2)
    }

    private mutating func overloadedWhileHolding(target: Double, achieved: Double) -> Double {
        holdFailures += 1
        holdSuccesses = 0
        guard holdFailures >= configuration.holdFailuresToReopen else { return target }
        // Capacity dropped: the hold rate becomes the ceiling; search downward from what was achieved.
        holdFailures = 0
        bad = target
        good = 0
        goodAchieved = 0
        phase = .bisect
        return min(achieved, target / 2)
    }

    private mutating func bisectOrHold(ceiling: Double) -> Double {
        if ceiling - good <= configuration.convergenceTolerance * good {
            phase = .hold
            holdSuccesses = 0
            return settledRate ?? good
        }
        phase = .bisect
        return (good + ceiling) / 2
    }
}

/// Prints a rate with thousands separators and no decimals (`1,250,000`).
func formatRate(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    return groupThousands(Int64(value.rounded()))
}

/// `1234567` -> `1,234,567`.
func groupThousands(_ value: Int64) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (offset, character) in digits.enumerated() {
        if offset > 0, (digits.count - offset) % 3 == 0 { result.append(",") }
        result.append(character)
    }
    return value < 0 ? "-" + result : result
}
