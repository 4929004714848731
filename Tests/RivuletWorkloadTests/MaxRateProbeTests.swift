import RivuletCore
import Testing
@testable import RivuletWorkload

/// A simulated system with known capacities: producers can hand out at most `producerCapacity`
/// records/s, the cluster acknowledges at most `clusterCapacity`, each record is received by
/// `receivers` subscriptions that together consume at most `consumerCapacity` per second.
/// Unserved work queues up, as in a real system. Capacities jitter by `noise` per period.
private struct SimulatedSystem {
    var producerCapacity: Double
    var clusterCapacity: Double
    var consumerCapacity: Double
    var receivers = 1
    var noise = 0.0
    var generator = SeededGenerator(seed: 42)

    private var inFlight = 0.0
    private var backlog = 0.0
    private var lag = 0.0
    private var lastRate = -1.0

    init(producer: Double, cluster: Double, consumer: Double, noise: Double = 0) {
        producerCapacity = producer
        clusterCapacity = cluster
        consumerCapacity = consumer
        self.noise = noise
    }

    var capacity: Double { min(producerCapacity, clusterCapacity, consumerCapacity / Double(receivers)) }

    private mutating func jitter(_ value: Double) -> Double {
        guard noise > 0 else { return value }
        let unit = Double(generator.next() % 10_001) / 10_000 * 2 - 1
        return value * (1 + noise * unit)
    }

    /// One period of `seconds` at `rate`; returns what the runner would observe.
    mutating func period(rate: Double, seconds: Double = 1) -> MaxRateProbe.Observation {
        if rate != lastRate {
            lag = 0 // the schedule restarts at a new rate
            lastRate = rate
        }
        let handedRate = min(rate, jitter(producerCapacity))
        lag += (rate - handedRate) * seconds
        inFlight += handedRate * seconds
        let acknowledged = min(inFlight, jitter(clusterCapacity) * seconds)
        inFlight -= acknowledged
        let backlogAtStart = backlog
        backlog += acknowledged * Double(receivers)
        backlog -= min(backlog, jitter(consumerCapacity) * seconds)
        return MaxRateProbe.Observation(periodSeconds: seconds, targetRate: rate, acknowledged: Int64(acknowledged), lag: Int64(lag),
                                        backlogAtStart: Int64(backlogAtStart), backlogAtEnd: Int64(backlog), receiversPerRecord: receivers)
    }
}

@Suite struct MaxRateProbeTests {
    /// Runs the probe against `system` for `periods`; returns the probe and every step.
    private func run(_ system: inout SimulatedSystem, periods: Int, configuration: MaxRateProbe.Configuration = .init())
        -> (MaxRateProbe, [MaxRateProbe.Step]) {
        var probe = MaxRateProbe(configuration: configuration)
        var steps: [MaxRateProbe.Step] = []
        for _ in 0 ..< periods {
            steps.append(probe.observe(system.period(rate: probe.rate)))
        }
        return (probe, steps)
    }

    @Test(arguments: [
        (500.0, 1e9, 1e9),          // producer-bound, far below the start rate
        (1e9, 7_000.0, 1e9),        // cluster-bound
        (1e9, 1e9, 85_000.0),       // consumer-bound
        (1_300_000.0, 2e6, 3e6),    // producers slower than the cluster (OMB #329's shape)
        (1e9, 40_000_000.0, 1e9),   // far above the start rate
    ])
    func converges_belowTheKnownCapacity(producer: Double, cluster: Double, consumer: Double) throws {
        var system = SimulatedSystem(producer: producer, cluster: cluster, consumer: consumer)
        let capacity = system.capacity
        let (probe, steps) = run(&system, periods: 60)
        // It converges (it may be re-probing slightly higher at the very end).
        #expect(steps.contains { $0.phase == .hold })
        let settled = try #require(probe.settledRate)
        #expect(settled <= capacity, "settled \(settled) above capacity \(capacity)")
        #expect(settled >= 0.9 * capacity, "settled \(settled) far below capacity \(capacity)")
        let convergedAt = try #require(steps.firstIndex { $0.phase == .hold })
        #expect(convergedAt < 30, "took \(convergedAt) periods")
        // Once holding, the rate in force never exceeds what the system can do, except brief re-probes.
        let holding = steps[convergedAt...].filter { $0.phase == .hold }
        #expect(holding.allSatisfy { $0.nextRate <= capacity })
    }

    @Test func neverSettlesAbovePublishedRate_whenProducersLag() throws {
        // Producers top out at 2 M records/s while consumers and cluster could do 2.5 M+ (OMB #329).
        var system = SimulatedSystem(producer: 2_000_000, cluster: 3_000_000, consumer: 3_000_000)
        let (probe, steps) = run(&system, periods: 60)
        let settled = try #require(probe.settledRate)
        #expect(settled <= 2_000_000)
        #expect(settled > 1_800_000)
        // Every overloaded verdict above 2 M was for lagging producers, not the backlog.
        for step in steps where !step.sustained && step.targetRate > 2_000_000 {
            #expect(step.reason.contains("behind schedule") || step.reason.contains("acknowledged"), "\(step.reason)")
        }
    }

    @Test func noisySystem_staysWithinNoiseOfCapacity() throws {
        var system = SimulatedSystem(producer: 1e9, cluster: 250_000, consumer: 1e9, noise: 0.02)
        let (probe, steps) = run(&system, periods: 80)
        let settled = try #require(probe.settledRate)
        #expect(settled <= 250_000 * 1.02)
        #expect(settled >= 250_000 * 0.85)
        #expect(steps.suffix(30).filter { $0.sustained }.count >= 20)
    }

    @Test func transientStall_doesNotCollapseTheRate() throws {
        // OMB #163: after a stall the old controller sat at 1 msg/s for the rest of the run.
        var system = SimulatedSystem(producer: 1e9, cluster: 120_000, consumer: 1e9)
        var probe = MaxRateProbe()
        for _ in 0 ..< 30 { _ = probe.observe(system.period(rate: probe.rate)) }
        #expect(probe.converged)
        system.clusterCapacity = 0
        for _ in 0 ..< 4 { _ = probe.observe(system.period(rate: probe.rate)) }
        #expect(probe.rate < 60_000)
        system.clusterCapacity = 120_000
        var recoveredAfter: Int?
        for period in 0 ..< 30 {
            _ = probe.observe(system.period(rate: probe.rate))
            if recoveredAfter == nil, (probe.settledRate ?? 0) >= 0.8 * 120_000 { recoveredAfter = period }
        }
        let after = try #require(recoveredAfter, "never recovered; rate \(probe.rate)")
        #expect(after < 20)
        #expect(probe.rate > 1000)
        #expect((probe.settledRate ?? 0) <= 120_000)
    }

    @Test func stallWhileRampingUp_retreatsToTheLastGoodRate() throws {
        var system = SimulatedSystem(producer: 1e9, cluster: 1_000_000, consumer: 1e9)
        var probe = MaxRateProbe()
        for _ in 0 ..< 3 { _ = probe.observe(system.period(rate: probe.rate)) } // 10k, 20k, 40k sustained
        #expect(probe.rate == 80_000)
        system.clusterCapacity = 0
        _ = probe.observe(system.period(rate: probe.rate))
        #expect(probe.bad == nil, "a stalled period lowered the ceiling")
        #expect(probe.rate == 40_000)
        system.clusterCapacity = 1_000_000
        for _ in 0 ..< 40 { _ = probe.observe(system.period(rate: probe.rate)) }
        #expect((probe.settledRate ?? 0) > 900_000)
    }

    @Test func capacityIncrease_isFoundAgainByReprobing() throws {
        var system = SimulatedSystem(producer: 1e9, cluster: 50_000, consumer: 1e9)
        var probe = MaxRateProbe()
        for _ in 0 ..< 30 { _ = probe.observe(system.period(rate: probe.rate)) }
        #expect(probe.converged)
        system.clusterCapacity = 60_000
        for _ in 0 ..< 200 { _ = probe.observe(system.period(rate: probe.rate)) }
        #expect((probe.settledRate ?? 0) > 52_000)
        #expect((probe.settledRate ?? 0) <= 60_000)
    }

    @Test func capacityDrop_reopensTheSearchDownward() throws {
        var system = SimulatedSystem(producer: 1e9, cluster: 100_000, consumer: 1e9)
        var probe = MaxRateProbe()
        for _ in 0 ..< 30 { _ = probe.observe(system.period(rate: probe.rate)) }
        #expect((probe.settledRate ?? 0) > 90_000)
        system.clusterCapacity = 50_000
        for _ in 0 ..< 40 { _ = probe.observe(system.period(rate: probe.rate)) }
        let settled = try #require(probe.settledRate)
        #expect(settled <= 50_000)
        #expect(settled >= 40_000)
    }

    @Test func verdicts_nameTheSignal() {
        let probe = MaxRateProbe()
        #expect(probe.overloadReason(.init(periodSeconds: 1, targetRate: 1000, acknowledged: 1000)) == nil)
        #expect(probe.overloadReason(.init(periodSeconds: 1, targetRate: 1000, acknowledged: 900))?.contains("acknowledged") == true)
        #expect(probe.overloadReason(.init(periodSeconds: 1, targetRate: 1000, acknowledged: 1000, lag: 200))?.contains("behind") == true)
        #expect(probe.overloadReason(.init(periodSeconds: 1, targetRate: 1000, acknowledged: 1000, errors: 50))?.contains("errors") == true)
        #expect(probe.overloadReason(.init(periodSeconds: 1, targetRate: 10000, acknowledged: 10000, backlogAtStart: 0,
                                           backlogAtEnd: 900))?.contains("backlog grew") == true)
        // A large backlog that is shrinking does not count against the current rate.
        #expect(probe.overloadReason(.init(periodSeconds: 1, targetRate: 10000, acknowledged: 10000, backlogAtStart: 90000,
                                           backlogAtEnd: 80000)) == nil)
    }
}

