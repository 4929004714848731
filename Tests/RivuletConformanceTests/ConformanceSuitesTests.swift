import Foundation
import Synchronization
import RivuletTransport
import Testing
@testable import RivuletConformance

/// The suites against real embedded brokers, and the runner's reporting.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ConformanceSuitesTests {
    @Test func everySuite_passesOnMemoryStorage() async throws {
        let report = await ConformanceSuites.run(ConformanceSuites.all, target: .embedded(storageURL: "memory://", tcp: false))
        #expect(report.failed == 0, "\(report.checks.filter { $0.outcome == .failed })")
        #expect(report.skipped == 0)
        #expect(report.passed >= 30)
        #expect(Set(report.checks.map { $0.name.split(separator: ".").first.map(String.init) ?? "" })
            == Set(ConformanceSuites.all.map(\.name)))
    }

    @Test(arguments: ["file", "mmap"])
    func durability_reopensTheClusterFromDisk(scheme: String) async throws {
        let directory = NSTemporaryDirectory() + "rivulet-conformance-tests-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let report = await ConformanceSuites.run([DurabilitySuite.suite], target: .embedded(storageURL: "\(scheme)://\(directory)", tcp: false))
        #expect(report.failed == 0, "\(report.checks.filter { $0.outcome == .failed })")
        #expect(report.checks.contains { $0.name == "durability.topic-survives" && $0.detail.contains("reopened from disk") })
        #expect(report.succeeded)
    }

    @Test func order_passesOverTCP() async throws {
        let report = await ConformanceSuites.run([OrderSuite.suite], target: .embedded(storageURL: "memory://", tcp: true))
        #expect(report.succeeded && report.passed == 4, "\(report.checks)")
    }

    struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }

    @Test func failingAndThrowingSuites_areReportedAsFailures() async {
        let failing = ConformanceSuite(name: "failing", summary: "always fails") { _ in
            [.check("failing.one", true, "fine"), .check("failing.two", false, "lost 3 records")]
        }
        let throwing = ConformanceSuite(name: "throwing", summary: "throws") { _ in throw Boom() }
        let printed = Printed()
        let report = await ConformanceSuites.run([failing, throwing], target: .embedded(storageURL: "memory://", tcp: false)) {
            printed.add($0.description)
        }
        #expect(report.passed == 1 && report.failed == 2)
        #expect(!report.succeeded)
        #expect(report.summaryLine == "1 passed, 2 failed")
        #expect(printed.lines == ["PASS failing.one: fine", "FAIL failing.two: lost 3 records", "FAIL throwing: stopped by an error: boom"])
    }

    @Test func externalTarget_skipsSuitesThatNeedAnEmbeddedBroker() async {
        let report = await ConformanceSuites.run([IdempotenceSuite.suite, DurabilitySuite.suite],
                                                 target: .external(bootstrap: [BrokerAddress(host: "127.0.0.1", port: 1)]))
        #expect(report.skipped == 2 && report.failed == 0 && report.passed == 0)
        #expect(!report.succeeded)
        #expect(report.summaryLine == "0 passed, 0 failed, 2 skipped")
    }

    @Test func select_byName_andUnknownNamesAreRefused() throws {
        #expect(try ConformanceSuites.select([]).count == ConformanceSuites.all.count)
        #expect(try ConformanceSuites.select(["durability", "order"]).map(\.name) == ["durability", "order"])
        #expect(throws: ConformanceSuites.UnknownSuite.self) { try ConformanceSuites.select(["nope"]) }
    }
}

final class Printed: Sendable {
    private let storage = Mutex<[String]>([])
    func add(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}
