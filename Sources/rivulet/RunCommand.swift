import ArgumentParser
import RivuletCore
import RivuletWorkload

/// `rivulet run SPEC`: runs one workload spec and writes `results/<name>-<target>-<time>.*`.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a workload spec",
        discussion: """
            Runs the spec on its target (default: an embedded broker on memory:// over the in-process
            transport), prints a progress line each second and a summary, and writes JSON, CSV, SVG and
            text results. Ctrl-C stops the run and still writes the partial result.
            Examples:
              rivulet run workloads/quickstart.spec
              rivulet run workloads/omb/1-topic-16-partitions-1kb.yaml --duration 30s
              rivulet run workloads/quickstart.spec --storage file --transport tcp
              rivulet run workloads/quickstart.spec --target kafka://127.0.0.1:9092
            """)

    @Argument(help: "The workload spec file (key: value lines; OMB workload files work unchanged).")
    var spec: String

    @Option(help: "The measured phase's length (30s, 2m), replacing testDurationMinutes/Seconds.")
    var duration: String?

    @Option(name: .customLong("set"), parsing: .singleValue, help: "Override a spec key: --set producerRate=5000. Repeatable.")
    var settings: [String] = []

    @Option(help: "Embedded storage: memory, file, mmap (a temporary directory), or memory://, file:///dir, mmap:///dir.")
    var storage: String?

    @Option(help: "Transport to the embedded broker: inproc or tcp (a real listener on a free 127.0.0.1 port).")
    var transport: String?

    @Option(help: "Drive an external cluster instead: kafka://host:port[,host:port].")
    var target: String?

    @Option(help: "The directory for result files.")
    var results: String = "results"

    @Option(name: .customLong("consumer-mode"),
            help: "groups: consumers join a consumer group per subscription; assigned: the harness assigns partitions.")
    var consumerMode: String = "groups"

    @Flag(help: "No live progress line.")
    var quiet = false

    func run() async throws {
        WorkloadCLI.quietLogging()
        var arguments: [String] = []
        if let duration { arguments += ["--duration", duration] }
        for setting in settings { arguments += ["--set", setting] }
        if let storage {
            let (url, temporary) = try WorkloadCLI.storageURL(storage)
            if let temporary { WorkloadCLI.temporaryDirectories.withLock { _ = $0.insert(temporary) } }
            arguments += ["--set", "storage=\(url)"]
        }
        if let transport { arguments += ["--set", "transport=\(transport)"] }
        if let target { arguments += ["--set", "target=\(target)"] }
        let mode = try WorkloadCLI.consumerMode(consumerMode)
        let clock = SystemClock()
        let result: WorkloadResult
        do {
            (result, _) = try await WorkloadCommand.run(specPath: spec, overrideArguments: arguments, resultsDirectory: results,
                                                        clock: clock, progress: quiet ? nil : TerminalProgressSink(),
                                                        makeDriver: WorkloadCLI.makeDriver(clock: clock, consumerMode: mode))
        } catch {
            throw WorkloadCLI.fail(error)
        }
        if result.stopReason == .stopped || result.stopReason == .cancelled { throw ExitCode(130) }
        if result.stopReason == .failed { throw ExitCode(1) }
    }
}
