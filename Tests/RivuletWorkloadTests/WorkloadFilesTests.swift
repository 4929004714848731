import Foundation
import Testing
@testable import RivuletWorkload

@Suite struct WorkloadFilesTests {
    static let specFiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: TestSupport.workloadsDirectory)) ?? []
        return names.filter { $0.hasSuffix(".spec") }.sorted()
    }()

    @Test func workloadsDirectory_hasTheRequiredSpecs() {
        for name in ["quickstart.spec", "1-topic-16-partitions-1kb.spec", "max-rate.spec", "backlog.spec", "latency-fixed-rate.spec",
                     "storage-memory.spec", "storage-file.spec", "storage-mmap.spec"] {
            #expect(Self.specFiles.contains(name), "workloads/\(name) is missing")
        }
    }

    @Test(arguments: specFiles)
    func everySpec_parses_andStartsWithAHeaderComment(name: String) throws {
        let path = TestSupport.workloadsDirectory + "/" + name
        let spec = try WorkloadSpec.load(path: path, environment: [:])
        #expect(spec.sourcePath == path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("# "), "\(name) needs a header comment saying what it measures")
        #expect(text.split(separator: "\n").prefix(while: { $0.hasPrefix("#") }).count >= 2)
        if name.hasPrefix("storage-") {
            let scheme = String(name.dropFirst("storage-".count).dropLast(".spec".count))
            #expect(spec.storage.scheme == scheme)
        }
    }

    @Test func quickstart_isAbout10SecondsEmbeddedInMemory() throws {
        let spec = try WorkloadSpec.load(path: TestSupport.workloadsDirectory + "/quickstart.spec", environment: [:])
        #expect(spec.target == .embedded)
        #expect(spec.storage == .memory)
        #expect((8 ... 12).contains((spec.warmupDuration + spec.testDuration).secondsDouble))
        let maxRate = try WorkloadSpec.load(path: TestSupport.workloadsDirectory + "/max-rate.spec", environment: [:])
        #expect(maxRate.probesMaximumRate)
        let backlog = try WorkloadSpec.load(path: TestSupport.workloadsDirectory + "/backlog.spec", environment: [:])
        #expect(backlog.consumerBacklogSizeGB > 0)
    }

    @Test func verbatimOMBWorkload_runsUnchanged() throws {
        // workloads/omb/1-topic-16-partitions-1kb.yaml is a byte-for-byte copy of OMB's file.
        let path = TestSupport.workloadsDirectory + "/omb/1-topic-16-partitions-1kb.yaml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("payloadFile: \"payload/payload-1Kb.data\""))
        let spec = try WorkloadSpec.load(path: path, environment: [:])
        #expect(spec.name == "1 producer / 1 consumers on 1 topic")
        #expect(spec.topics == 1)
        #expect(spec.partitionsPerTopic == 16)
        #expect(spec.messageSize == 1024)
        #expect(spec.payloadData?.count == 1024)
        #expect(spec.subscriptionsPerTopic == 1)
        #expect(spec.consumerPerSubscription == 1)
        #expect(spec.producersPerTopic == 1)
        #expect(spec.producerRate == 50000)
        #expect(spec.consumerBacklogSizeGB == 0)
        #expect(spec.testDuration == .seconds(900))
        #expect(spec.warmupDuration == .seconds(60))
        #expect(spec.keyDistributor == .noKey)
        let shortened = try WorkloadSpec.load(path: path, overrides: WorkloadSpecOverrides(testDuration: .seconds(10)), environment: [:])
        #expect(shortened.testDuration == .seconds(10))
    }

    @Test func specKeysDocument_matchesTheKeyTable() throws {
        let path = TestSupport.sourcesDirectory + "/SPEC-KEYS.md"
        let expected = WorkloadSpecKey.referenceMarkdown()
        if ProcessInfo.processInfo.environment["RIVULET_UPDATE_DOCS"] == "1" {
            try expected.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let document = try String(contentsOfFile: path, encoding: .utf8)
        #expect(document == expected, "SPEC-KEYS.md is stale: run RIVULET_UPDATE_DOCS=1 swift test --filter specKeysDocument")
        for key in WorkloadSpecKey.allCases { #expect(document.contains("| `\(key.rawValue)` |")) }
    }

    @Test func maxRateDocument_explainsTheAlgorithm() throws {
        let document = try String(contentsOfFile: TestSupport.sourcesDirectory + "/MAX-RATE.md", encoding: .utf8)
        #expect(document.contains("#163"))
        #expect(document.contains("#329"))
        #expect(document.contains("settled rate"))
    }
}
