import Foundation
import Synchronization
import Testing
@testable import RivuletWorkload

@Suite(.serialized) struct WorkloadCommandTests {
    private func writeSpec(_ directory: String, name: String = "cmd.spec") throws -> String {
        let path = directory + "/" + name
        let text = TestSupport.specText("windowSeconds: 0.2").replacingOccurrences(of: "testDurationSeconds: 1", with: "testDurationSeconds: 5")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func run_loadsOverridesRunsAndWritesFiles() async throws {
        let directory = try TestSupport.temporaryDirectory()
        let path = try writeSpec(directory)
        let lines = Mutex<[String]>([])
        let (result, files) = try await WorkloadCommand.run(
            specPath: path, overrideArguments: ["--duration", "400ms", "--set", "producerRate=800"], resultsDirectory: directory + "/results",
            options: TestSupport.options(), progress: nil, handleInterrupt: false,
            output: { line in lines.withLock { $0.append(line) } }) { _ in InMemoryWorkloadDriver() }
        #expect(result.stopReason == .completed)
        #expect(result.spec.contains { $0.key == "producerRate" && $0.value == "800" })
        #expect(abs(result.measuredSeconds - 0.4) < 0.2)
        #expect(FileManager.default.fileExists(atPath: files.json))
        let printed = lines.withLock { $0 }
        #expect(printed.contains { $0.contains(result.summaryLine) })
        #expect(printed.contains { $0.contains("whole measured phase") }, "the text report (tables) is printed")
        #expect(printed.contains { $0.contains(files.svg) })
    }

    @Test func run_badOverride_failsBeforeBuildingADriver() async throws {
        let directory = try TestSupport.temporaryDirectory()
        let path = try writeSpec(directory)
        let built = Mutex(false)
        await #expect(throws: WorkloadSpecError.self) {
            _ = try await WorkloadCommand.run(specPath: path, overrideArguments: ["--set", "partitionsPerTopic=0"],
                                              resultsDirectory: directory, progress: nil, handleInterrupt: false, output: { _ in }) { _ in
                built.withLock { $0 = true }
                return InMemoryWorkloadDriver()
            }
        }
        #expect(!built.withLock { $0 })
    }

    @Test func compare_runsEachVariant_andWritesTheComparison() async throws {
        let directory = try TestSupport.temporaryDirectory()
        let path = try writeSpec(directory)
        let variants = [
            WorkloadCommand.Variant(label: "memory", overrides: WorkloadSpecOverrides(testDuration: .milliseconds(300))),
            WorkloadCommand.Variant(label: "file", overrides: WorkloadSpecOverrides(
                testDuration: .milliseconds(300), settings: [.init(key: "storage", value: "file:///tmp/rivulet-compare-test")])),
        ]
        let lines = Mutex<[String]>([])
        let results = try await WorkloadCommand.compare(
            specPath: path, variants: variants, resultsDirectory: directory, options: TestSupport.options(), progress: nil,
            handleInterrupt: false, output: { line in lines.withLock { $0.append(line) } }) { _ in InMemoryWorkloadDriver() }
        #expect(results.map(\.target) == ["embedded-memory-inproc", "embedded-file-inproc"])
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(files.contains { $0.hasPrefix("test-comparison-") && $0.hasSuffix(".svg") })
        #expect(files.filter { $0.hasSuffix(".json") }.count == 2)
        #expect(lines.withLock { $0 }.contains { $0.contains("embedded-file-inproc") })
    }
}
