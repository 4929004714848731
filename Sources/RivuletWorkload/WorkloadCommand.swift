import RivuletCore

/// What `rivulet run` and `rivulet compare` do, so the command line only parses its arguments and
/// says how to build a driver for a spec:
///
/// ```swift
/// let (result, files) = try await WorkloadCommand.run(specPath: path, overrideArguments: ["--duration", "30s"]) { spec in
///     try await KafkaWorkloadDriver.start(spec: spec)   // the Rivulet client against the spec's target
/// }
/// ```
///
/// Steps: load and validate the spec with the overrides (errors name file, line and key), build
/// the driver, install Ctrl-C as a graceful stop, run with the live progress line, write
/// `results/<name>-<target>-<timestamp>.{json,csv,svg,txt}`, and print the text report's summary
/// and the file paths through `output`.
public enum WorkloadCommand {
    /// Builds the driver for a spec (from its `target`, `storage`, `transport`, `brokers`...).
    public typealias DriverFactory = @Sendable (WorkloadSpec) async throws -> any WorkloadDriver

    /// Runs one spec; returns the result and the files written. Throws `WorkloadSpecError` for a
    /// bad spec or overrides, `WorkloadRunError` when traffic could not start, and
    /// `ResultWriter.WriteError` when the files could not be written.
    public static func run(specPath: String, overrideArguments: [String] = [], resultsDirectory: String = "results",
                           clock: any EngineClock = SystemClock(), options: WorkloadRunner.Options = WorkloadRunner.Options(),
                           progress: (any WorkloadProgressSink)? = TerminalProgressSink(), handleInterrupt: Bool = true,
                           output: @Sendable (String) -> Void = { print($0) },
                           makeDriver: DriverFactory) async throws -> (WorkloadResult, ResultWriter.Files) {
        let overrides = try WorkloadSpecOverrides.parse(arguments: overrideArguments)
        let spec = try WorkloadSpec.load(path: specPath, overrides: overrides)
        return try await run(spec: spec, resultsDirectory: resultsDirectory, clock: clock, options: options, progress: progress,
                             handleInterrupt: handleInterrupt, output: output, makeDriver: makeDriver)
    }

    /// Runs an already loaded spec; see `run(specPath:...)`.
    public static func run(spec: WorkloadSpec, resultsDirectory: String = "results", clock: any EngineClock = SystemClock(),
                           options: WorkloadRunner.Options = WorkloadRunner.Options(),
                           progress: (any WorkloadProgressSink)? = TerminalProgressSink(), handleInterrupt: Bool = true,
                           output: @Sendable (String) -> Void = { print($0) },
                           makeDriver: DriverFactory) async throws -> (WorkloadResult, ResultWriter.Files) {
        let driver = try await makeDriver(spec)
        var runOptions = options
        runOptions.progress = progress
        let runner = WorkloadRunner(spec: spec, driver: driver, clock: clock, options: runOptions)
        let interrupt = handleInterrupt ? InterruptSignal.install { runner.stop() } : nil
        defer { interrupt?.uninstall() }
        output("running \(spec.name) on \(spec.targetLabel) (\(driver.name)): warm-up \(SpecDuration.format(spec.warmupDuration)), "
               + "test \(SpecDuration.format(spec.testDuration))")
        let result = try await runner.run()
        let files = try ResultWriter.write(result, to: resultsDirectory)
        if result.isPartial { output("stopped early (\(result.stopReason.rawValue)): the result is partial") }
        if result.producersFellBehind {
            output("warning: producers ended \(result.scheduleLagRecordsAtEnd) records behind schedule; the target rate was not reached")
        }
        output("")
        output(result.textReport)
        output("results: \(files.json)\n         \(files.csv)\n         \(files.svg)\n         \(files.text)")
        return (result, files)
    }

    /// One side of a comparison: a label and the overrides that make it (`--set storage=file:///tmp/x`).
    public struct Variant: Sendable {
        /// Shown in logs; the comparison itself labels results by target.
        public var label: String
        /// Applied on top of the spec file.
        public var overrides: WorkloadSpecOverrides

        public init(label: String, overrides: WorkloadSpecOverrides) {
            self.label = label
            self.overrides = overrides
        }
    }

    /// Runs one spec once per variant, one after the other, writes each result and then the
    /// comparison (`<name>-comparison-<timestamp>.{txt,svg}`), and prints the comparison table.
    /// A variant that fails to start is reported and skipped; an interrupted variant ends the
    /// comparison with what ran so far.
    public static func compare(specPath: String, variants: [Variant], resultsDirectory: String = "results",
                               clock: any EngineClock = SystemClock(), options: WorkloadRunner.Options = WorkloadRunner.Options(),
                               progress: (any WorkloadProgressSink)? = TerminalProgressSink(), handleInterrupt: Bool = true,
                               output: @Sendable (String) -> Void = { print($0) },
                               makeDriver: DriverFactory) async throws -> [WorkloadResult] {
        // Validate every variant before running any.
        let specs = try variants.map { variant in try WorkloadSpec.load(path: specPath, overrides: variant.overrides) }
        var results: [WorkloadResult] = []
        for (variant, spec) in zip(variants, specs) {
            output("== \(variant.label)")
            do {
                let (result, _) = try await run(spec: spec, resultsDirectory: resultsDirectory, clock: clock, options: options,
                                                progress: progress, handleInterrupt: handleInterrupt, output: output, makeDriver: makeDriver)
                results.append(result)
                if result.stopReason == .cancelled || result.stopReason == .stopped { break }
            } catch let error as WorkloadRunError {
                output("\(variant.label) could not run: \(error)")
            }
        }
        guard let first = results.first else { return results }
        let name = "\(first.workload)-comparison-\(ResultWriter.timestamp(wallMilliseconds: clock.wallMilliseconds()))"
        let files = try ResultWriter.writeComparison(results, title: "\(first.workload): comparison", to: resultsDirectory, baseName: name)
        output(ResultComparison.table(results))
        output("comparison: \(files.text)\n            \(files.svg)")
        return results
    }
}
