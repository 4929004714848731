import ArgumentParser
import Foundation
import RivuletCore
import RivuletWorkload

/// `rivulet compare SPEC --storage memory,file,mmap [--transport inproc,tcp]`: one run per
/// combination, then one side-by-side table and an SVG bar chart.
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run a spec on several backends side by side",
        discussion: """
            Runs the spec once per storage x transport combination, one after the other, writes each
            run's results, then prints a comparison table and writes <name>-comparison-<time>.{txt,svg}.
            Example: rivulet compare workloads/quickstart.spec --storage memory,file,mmap --transport inproc,tcp
            """)

    @Argument(help: "The workload spec file.")
    var spec: String

    @Option(help: "Comma-separated storages: memory, file, mmap (temporary directories), or URLs.")
    var storage: String = "memory,file,mmap"

    @Option(help: "Comma-separated transports: inproc, tcp.")
    var transport: String?

    @Option(help: "The measured phase's length of each run (30s, 2m).")
    var duration: String?

    @Option(name: .customLong("set"), parsing: .singleValue, help: "Override a spec key in every run. Repeatable.")
    var settings: [String] = []

    @Option(help: "The directory for result files.")
    var results: String = "results"

    @Option(name: .customLong("consumer-mode"),
            help: "groups: consumers join a consumer group per subscription; assigned: the harness assigns partitions.")
    var consumerMode: String = "groups"

    @Flag(help: "No live progress line.")
    var quiet = false

    func run() async throws {
        WorkloadCLI.quietLogging()
        var common: [String] = []
        if let duration { common += ["--duration", duration] }
        for setting in settings { common += ["--set", setting] }
        let storages = storage.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let transports = transport.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        guard !storages.isEmpty else { throw ValidationError("--storage: name at least one storage") }
        var variants: [WorkloadCommand.Variant] = []
        for storageText in storages {
            for transportText in transports ?? [""] {
                let (url, temporary) = try WorkloadCLI.storageURL(storageText)
                if let temporary { WorkloadCLI.temporaryDirectories.withLock { _ = $0.insert(temporary) } }
                var arguments = common + ["--set", "storage=\(url)"]
                if !transportText.isEmpty { arguments += ["--set", "transport=\(transportText)"] }
                let overrides: WorkloadSpecOverrides
                do { overrides = try WorkloadSpecOverrides.parse(arguments: arguments) } catch { throw WorkloadCLI.fail(error) }
                let label = transportText.isEmpty ? storageText : "\(storageText)/\(transportText)"
                variants.append(WorkloadCommand.Variant(label: label, overrides: overrides))
            }
        }
        let mode = try WorkloadCLI.consumerMode(consumerMode)
        let clock = SystemClock()
        let outcomes: [WorkloadResult]
        do {
            outcomes = try await WorkloadCommand.compare(specPath: spec, variants: variants, resultsDirectory: results, clock: clock,
                                                         progress: quiet ? nil : TerminalProgressSink(),
                                                         makeDriver: WorkloadCLI.makeDriver(clock: clock, consumerMode: mode))
        } catch {
            throw WorkloadCLI.fail(error)
        }
        if outcomes.contains(where: { $0.stopReason == .stopped || $0.stopReason == .cancelled }) { throw ExitCode(130) }
        if outcomes.count < variants.count { throw ExitCode(1) }
    }
}
