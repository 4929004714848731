import ArgumentParser
import Foundation
import RivuletConformance
import RivuletTransport

/// `rivulet conform`: runs the conformance suites on each storage backend (and transport), or
/// against an external cluster, printing `PASS|FAIL name: detail` per check and `N passed, M failed`.
struct ConformCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conform",
        abstract: "Run the conformance suites",
        discussion: """
            Each suite runs on a fresh embedded broker per storage backend (file and mmap in temporary
            directories unless a URL is given), or against --target kafka://host:port (suites that need to
            restart brokers or inject faults are skipped there). Exits 1 when any check fails.
            Examples:
              rivulet conform --storage memory,file,mmap
              rivulet conform --storage file --suite durability --suite order
              rivulet conform --target kafka://127.0.0.1:9092
            """)

    @Option(help: "Comma-separated storages: memory, file, mmap, or memory://, file:///dir, mmap:///dir.")
    var storage: String = "memory"

    @Option(help: "Comma-separated transports to the embedded broker: inproc, tcp.")
    var transport: String = "inproc"

    @Option(name: .customLong("suite"), parsing: .singleValue, help: "Run only this suite (repeatable). See --list.")
    var suites: [String] = []

    @Option(help: "Check an external cluster instead: kafka://host:port[,host:port].")
    var target: String?

    @Flag(help: "List the suites and exit.")
    var list = false

    func run() async throws {
        WorkloadCLI.quietLogging()
        if list {
            for suite in ConformanceSuites.all { print("\(suite.name): \(suite.summary)") }
            return
        }
        let selected: [ConformanceSuite]
        do { selected = try ConformanceSuites.select(suites) } catch { throw ValidationError("\(error)") }
        var targets: [ConformanceTarget] = []
        var temporary: [String] = []
        if let target {
            guard target.hasPrefix("kafka://") else { throw ValidationError("--target \(target): expected kafka://host:port") }
            var servers: [BrokerAddress] = []
            for part in target.dropFirst("kafka://".count).split(separator: ",") {
                guard let address = BrokerAddress(String(part)) else { throw ValidationError("--target: \(part) is not host:port") }
                servers.append(address)
            }
            guard !servers.isEmpty else { throw ValidationError("--target: no address") }
            targets = [.external(bootstrap: servers)]
        } else {
            let transports = transport.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for name in transports where name != "inproc" && name != "tcp" {
                throw ValidationError("--transport \(name): expected inproc or tcp")
            }
            for item in storage.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
                let (url, directory) = try WorkloadCLI.storageURL(item)
                if let directory { temporary.append(directory) }
                for name in transports { targets.append(.embedded(storageURL: url, tcp: name == "tcp")) }
            }
            guard !targets.isEmpty else { throw ValidationError("--storage: name at least one storage") }
        }
        defer { for directory in temporary { try? FileManager.default.removeItem(atPath: directory) } }
        var total = ConformanceReport()
        for target in targets {
            print("== conformance on \(target)")
            let report = await ConformanceSuites.run(selected, target: target) { check in print(check.description) }
            print("\(report.summaryLine) (\(target))")
            total.checks += report.checks
        }
        if targets.count > 1 { print("== all targets") }
        print(total.summaryLine)
        if !total.succeeded { throw ExitCode(1) }
    }
}
