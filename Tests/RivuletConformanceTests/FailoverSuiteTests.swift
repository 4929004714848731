import RivuletConformance
import Testing

/// The failover conformance suite on a 3-broker in-process cluster: with acks=all and
/// min.insync.replicas=2 a seeded kill/restart schedule loses no acknowledged record and the
/// checker finds no anomaly; with acks=1 the loss is measured (and reported, not asserted zero).
@Suite("Failover conformance", .serialized)
struct FailoverSuiteTests {
    @Test func seededKillRestartSchedule_acksAllLosesNothing_acksOneLossIsMeasured() async throws {
        let settings = FailoverSuite.Settings(seed: 0xFA11, cycles: 2, producers: 4, sendsMaxPerProducer: 2500, partitions: 3)
        let checks = try await FailoverSuite.checks(.embedded(storageURL: "memory://", tcp: false), prefix: "failover-test", settings: settings)
        for check in checks { print(check.description) }
        #expect(checks.count == 5)
        for check in checks {
            #expect(check.outcome == .passed, "\(check)")
        }
        let measured = try #require(checks.first { $0.name == "failover.acks-1.loss-measured" })
        #expect(measured.detail.contains("acknowledged records lost"), "the acks=1 loss is reported: \(measured.detail)")
    }

    @Test func suite_isListedForRivuletConform() throws {
        let selected = try ConformanceSuites.select(["failover"])
        #expect(selected.map(\.name) == ["failover"])
        #expect(selected[0].needsEmbeddedBroker)
    }
}
