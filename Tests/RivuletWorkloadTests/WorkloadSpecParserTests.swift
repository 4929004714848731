import Foundation
import RivuletWire
import Testing
@testable import RivuletWorkload

@Suite struct WorkloadSpecParserTests {
    // MARK: Keys and values

    @Test func parse_everyKey_setsEveryField() throws {
        let directory = try TestSupport.temporaryDirectory()
        let payload = [UInt8](repeating: 7, count: 100)
        _ = FileManager.default.createFile(atPath: directory + "/p.data", contents: Data(payload))
        let text = """
        name: every key
        topics: 3
        partitionsPerTopic: 7
        keyDistributor: RANDOM_NANO
        messageSize: 100
        useRandomizedPayloads: false
        randomBytesRatio: 0.25
        randomizedPayloadPoolSize: 9
        payloadFile: p.data
        subscriptionsPerTopic: 2
        producersPerTopic: 4
        consumerPerSubscription: 5
        producerRate: 12345
        consumerBacklogSizeGB: 2
        backlogDrainRatio: 0.5
        testDurationMinutes: 3
        warmupDurationMinutes: 2
        windowSeconds: 2.5
        acks: 1
        lingerMs: 7
        batchSizeBytes: 65536
        compression: zstd
        storage: mmap:///var/tmp/rivulet
        transport: tcp
        target: kafka://broker-a:9092,broker-b:9093
        brokers: 5
        replicationFactor: 3
        minInsyncReplicas: 2
        coordinator: memory://shared
        brokerSessionTimeoutMs: 500
        replicaLagTimeMaxMs: 2000
        replicaFetchBackoffMs: 50
        replicaFetchWaitMaxMs: 100
        requestTimeoutMs: 2000
        retryBackoffMaxMs: 100
        checkHistory: false
        seed: 18446744073709551615
        fault: at 1s kill broker 1 for 2s
        fault: at 2s add consumer
        """
        let spec = try WorkloadSpec.parse(text: text, source: "every.spec", baseDirectory: directory)
        #expect(spec.name == "every key")
        #expect(spec.topics == 3)
        #expect(spec.partitionsPerTopic == 7)
        #expect(spec.keyDistributor == .randomNano)
        #expect(spec.messageSize == 100)
        #expect(spec.useRandomizedPayloads == false)
        #expect(spec.randomBytesRatio == 0.25)
        #expect(spec.randomizedPayloadPoolSize == 9)
        #expect(spec.payloadFile == "p.data")
        #expect(spec.payloadData == payload)
        #expect(spec.subscriptionsPerTopic == 2)
        #expect(spec.producersPerTopic == 4)
        #expect(spec.consumerPerSubscription == 5)
        #expect(spec.producerRate == 12345)
        #expect(spec.consumerBacklogSizeGB == 2)
        #expect(spec.backlogDrainRatio == 0.5)
        #expect(spec.testDuration == .seconds(180))
        #expect(spec.warmupDuration == .seconds(120))
        #expect(spec.window == .milliseconds(2500))
        #expect(spec.acks == .leader)
        #expect(spec.lingerMs == 7)
        #expect(spec.batchSizeBytes == 65536)
        #expect(spec.compression == .zstd)
        #expect(spec.storage == .mmap(directory: "/var/tmp/rivulet"))
        #expect(spec.transport == .tcp)
        #expect(spec.target == .kafka(bootstrap: [WorkloadHostPort(host: "broker-a", port: 9092), WorkloadHostPort(host: "broker-b", port: 9093)]))
        #expect(spec.brokers == 5)
        #expect(spec.replicationFactor == 3)
        #expect(spec.minInsyncReplicas == 2)
        #expect(spec.coordinator == .url("memory://shared"))
        #expect(spec.brokerSessionTimeoutMs == 500 && spec.replicaLagTimeMaxMs == 2000 && spec.replicaFetchBackoffMs == 50)
        #expect(spec.replicaFetchWaitMaxMs == 100 && spec.requestTimeoutMs == 2000 && spec.retryBackoffMaxMs == 100)
        #expect(!spec.checkHistory)
        #expect(spec.seed == UInt64.max)
        #expect(spec.faults == [WorkloadFault(at: .seconds(1), action: .kill(.broker(1)), duration: .seconds(2)),
                                WorkloadFault(at: .seconds(2), action: .addConsumer)])
        // Every key of the table appears in the test text, so a new key cannot go untested.
        for key in WorkloadSpecKey.allCases where key != .testDurationSeconds && key != .warmupDurationSeconds {
            #expect(text.contains("\n\(key.rawValue):") || text.hasPrefix("\(key.rawValue):"), "key \(key.rawValue) not covered")
        }
    }

    @Test func parse_omittedKeys_useOMBAndRivuletDefaults() throws {
        let spec = try WorkloadSpec.parse(text: """
        topics: 1
        partitionsPerTopic: 1
        messageSize: 10
        useRandomizedPayloads: true
        randomizedPayloadPoolSize: 1
        subscriptionsPerTopic: 0
        consumerPerSubscription: 0
        producersPerTopic: 1
        producerRate: 5
        testDurationMinutes: 1
        """, source: "defaults.spec", defaultName: "defaults")
        #expect(spec.name == "defaults")
        #expect(spec.keyDistributor == .noKey)
        #expect(spec.warmupDuration == .seconds(60))
        #expect(spec.backlogDrainRatio == 1.0)
        #expect(spec.consumerBacklogSizeGB == 0)
        #expect(spec.randomBytesRatio == 0)
        #expect(spec.window == .seconds(10))
        #expect(spec.acks == .all)
        #expect(spec.lingerMs == 5)
        #expect(spec.batchSizeBytes == 16384)
        #expect(spec.compression == .none)
        #expect(spec.storage == .memory)
        #expect(spec.transport == .inproc)
        #expect(spec.target == .embedded)
        #expect(spec.brokers == 1)
        #expect(spec.replicationFactor == 1)
        #expect(spec.minInsyncReplicas == 1)
        #expect(spec.seed == 1)
        #expect(spec.faults.isEmpty)
        #expect(spec.targetLabel == "embedded-memory-inproc")
    }

    @Test func parse_quotesCommentsAndBlankLines() throws {
        let spec = try WorkloadSpec.parse(text: """
        # a whole-line comment

        name: "1 topic # not a comment"   # a trailing comment
        topics: 1 # trailing
        partitionsPerTopic: '2'
        keyDistributor: "KEY_ROUND_ROBIN"
        messageSize: 1_024
        useRandomizedPayloads: TRUE
        randomizedPayloadPoolSize: 1
        subscriptionsPerTopic: 1
        consumerPerSubscription: 1
        producersPerTopic: 1
        producerRate: 50000
        \t
        testDurationSeconds: 0.5
        warmupDurationSeconds: 0
        storage: file:///tmp/x#y
        """)
        #expect(spec.name == "1 topic # not a comment")
        #expect(spec.partitionsPerTopic == 2)
        #expect(spec.keyDistributor == .keyRoundRobin)
        #expect(spec.messageSize == 1024)
        #expect(spec.useRandomizedPayloads)
        #expect(spec.testDuration == .milliseconds(500))
        #expect(spec.storage == .file(directory: "/tmp/x#y"))
    }

    @Test func parse_placeholders_expandFromEnvironmentWithDefaults() throws {
        let spec = try WorkloadSpec.parse(text: TestSupport.specText("seed: ${SEED}\nbrokers: ${BROKERS:-3}\nreplicationFactor: ${RF:-2}"),
                                          environment: ["SEED": "99", "RF": "1"])
        #expect(spec.seed == 99)
        #expect(spec.brokers == 3)
        #expect(spec.replicationFactor == 1)
        #expect(throws: WorkloadSpecError.self) {
            try WorkloadSpec.parse(text: TestSupport.specText("seed: ${MISSING}"), environment: [:])
        }
    }

    @Test func effectiveSpec_roundTrips() throws {
        let spec = try WorkloadSpec.parse(text: TestSupport.specText("""
        fault: at 500ms delay leader of partition 1 by 20ms for 1s
        fault: at 0.25s pause broker 0 for 100ms
        acks: 0
        compression: lz4
        target: kafka://localhost:9092
        replicationFactor: 3
        """), source: "round.spec")
        var again = try WorkloadSpec.parse(text: spec.specText, source: "round.spec")
        again.sourcePath = spec.sourcePath
        #expect(again == spec)
        #expect(spec.effectiveSettings.first?.key == "name")
        #expect(spec.effectiveSettings.filter { $0.key == "fault" }.count == 2)
    }

    @Test(arguments: WorkloadSpecKey.allCases)
    func extremeValues_neverCrash_andFailWithTheKey(key: WorkloadSpecKey) {
        // Every key with hostile values: the spec is either accepted or rejected naming the key;
        // it never traps (overflowing products, huge doubles, bad text).
        let values = ["9223372036854775807", "-9223372036854775808", "99999999999999999999999", "1e308", "-1e308", "4.9e-324",
                      "nan", "inf", "0x10", "", "\"", "'", "${", "at", "at 1s", "kafka://", "file://", "1_", "_", "-0", "\u{0}"]
        for value in values {
            var lines = TestSupport.specText().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            lines.removeAll { $0.hasPrefix(key.rawValue + ":") }
            lines.append("\(key.rawValue): \(value)")
            do {
                let spec = try WorkloadSpec.parse(text: lines.joined(separator: "\n"), source: "x.spec")
                #expect(spec.topics >= 1)
            } catch {
                // Rejected on the key itself, or on the key a combined limit belongs to; always named.
                #expect(error.key != nil, "\(key.rawValue): \(value): \(error)")
                #expect(error.source == "x.spec")
            }
        }
    }

    @Test func hugeProducts_areRejectedNotTrapped() throws {
        let huge = "9223372036854775807"
        for (key, value) in [("partitionsPerTopic", huge), ("producersPerTopic", huge), ("consumerPerSubscription", huge),
                             ("randomizedPayloadPoolSize", huge), ("consumerBacklogSizeGB", "1e300")] {
            var lines = TestSupport.specText().split(separator: "\n").map(String.init).filter { !$0.hasPrefix(key + ":") }
            lines = lines.map { $0 == "topics: 1" ? "topics: 3" : $0 }
            lines.append("\(key): \(value)")
            let found = try #require(error(lines.joined(separator: "\n")))
            #expect(found.key == key, "\(found)")
        }
    }

    // MARK: Errors name the file, the line and the key

    private func error(_ text: String, source: String = "bad.spec", baseDirectory: String? = nil,
                       overrides: WorkloadSpecOverrides = WorkloadSpecOverrides()) -> WorkloadSpecError? {
        do {
            _ = try WorkloadSpec.parse(text: text, source: source, baseDirectory: baseDirectory, overrides: overrides)
            return nil
        } catch {
            return error
        }
    }

    @Test func unknownKey_namesFileLineKey_andSuggests() throws {
        let found = try #require(error(TestSupport.specText("partitionPerTopic: 4")))
        #expect(found.kind == .unknownKey)
        #expect(found.source == "bad.spec")
        #expect(found.line == 13)
        #expect(found.key == "partitionPerTopic")
        #expect(found.description.hasPrefix("bad.spec:13: key 'partitionPerTopic': unknown key"))
        #expect(found.description.contains("did you mean 'partitionsPerTopic'"))
    }

    @Test(arguments: [
        ("topics: two", "topics", "expected an integer"),
        ("producerRate: fast", "producerRate", "expected a number"),
        ("producerRate: -5", "producerRate", "must not be negative"),
        ("useRandomizedPayloads: yes", "useRandomizedPayloads", "expected true or false"),
        ("keyDistributor: HASHED", "keyDistributor", "NO_KEY, KEY_ROUND_ROBIN or RANDOM_NANO"),
        ("acks: 2", "acks", "expected 0, 1, all or -1"),
        ("compression: brotli", "compression", "none, gzip, snappy, lz4 or zstd"),
        ("storage: s3://bucket", "storage", "supported: memory://, file:///dir, mmap:///dir"),
        ("storage: file://relative/dir", "storage", "absolute directory"),
        ("transport: udp", "transport", "inproc or tcp"),
        ("target: kafka://localhost", "target", "needs a port"),
        ("target: pulsar://x:1", "target", "supported: embedded, kafka://host:port"),
        ("windowSeconds: 0", "windowSeconds", "above zero"),
        ("randomBytesRatio: 1.5", "randomBytesRatio", "0...1"),
        ("backlogDrainRatio: 2", "backlogDrainRatio", "0...1"),
        ("seed: -1", "seed", "0...2^64-1"),
        ("fault: at 1s explode broker 0", "fault", "unknown fault verb 'explode'"),
        ("lingerMs: -1", "lingerMs", "must not be negative"),
        ("brokers: 0", "brokers", "1...1000"),
    ])
    func badValue_namesLineAndKey(line: String, key: String, message: String) throws {
        // Replace the key's line when the base spec has one, else append it.
        var lines = TestSupport.specText().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let expectedLine: Int
        if let index = lines.firstIndex(where: { $0.hasPrefix(key + ":") }) {
            lines[index] = line
            expectedLine = index + 1
        } else {
            lines[12] = line
            expectedLine = 13
        }
        let found = try #require(error(lines.joined(separator: "\n")))
        #expect(found.line == expectedLine, "\(found)")
        #expect(found.key == key, "\(found)")
        #expect(found.description.contains("bad.spec:\(expectedLine): key '\(key)'"), "\(found)")
        #expect(found.description.contains(message), "\(found)")
    }

    @Test func zeroPartitions_isAnErrorNamingTheLine() throws {
        let text = TestSupport.specText().replacingOccurrences(of: "partitionsPerTopic: 2", with: "partitionsPerTopic: 0")
        let found = try #require(error(text))
        #expect(found.line == 3)
        #expect(found.key == "partitionsPerTopic")
        #expect(found.description.contains("must be at least 1"))
    }

    @Test func messageSizeBelowTimestamp_isAnError() throws {
        let text = TestSupport.specText().replacingOccurrences(of: "messageSize: 64", with: "messageSize: 4")
        let found = try #require(error(text))
        #expect(found.key == "messageSize")
        #expect(found.line == 4)
    }

    @Test(arguments: ["topics", "partitionsPerTopic", "messageSize", "subscriptionsPerTopic", "producersPerTopic",
                      "consumerPerSubscription", "producerRate", "testDurationSeconds"])
    func missingRequiredKey_isAnErrorNamingTheKey(key: String) throws {
        let text = TestSupport.specText().split(separator: "\n").filter { !$0.hasPrefix(key + ":") }.joined(separator: "\n")
        let found = try #require(error(text))
        #expect(found.kind == .missingKey)
        #expect(found.source == "bad.spec")
        let expected = key == "testDurationSeconds" ? "testDurationMinutes" : key
        #expect(found.key == expected)
        #expect(found.description.contains("is required"))
    }

    @Test func missingPayloadFile_withoutRandomPayloads_isAMissingKey() throws {
        let text = TestSupport.specText().replacingOccurrences(of: "useRandomizedPayloads: true", with: "useRandomizedPayloads: false")
        let found = try #require(error(text))
        #expect(found.kind == .missingKey)
        #expect(found.key == "payloadFile")
    }

    @Test func unreadablePayloadFile_namesTheLine() throws {
        let directory = try TestSupport.temporaryDirectory()
        let text = TestSupport.specText("payloadFile: no-such-file.data").replacingOccurrences(
            of: "useRandomizedPayloads: true", with: "useRandomizedPayloads: false")
        let found = try #require(error(text, baseDirectory: directory))
        #expect(found.kind == .unreadablePayloadFile)
        #expect(found.line == 13)
        #expect(found.key == "payloadFile")
        #expect(found.description.contains("cannot read 'no-such-file.data'"))
    }

    @Test func payloadFileOfWrongLength_isAnError() throws {
        let directory = try TestSupport.temporaryDirectory()
        _ = FileManager.default.createFile(atPath: directory + "/short.data", contents: Data([1, 2, 3]))
        let text = TestSupport.specText("payloadFile: short.data").replacingOccurrences(
            of: "useRandomizedPayloads: true", with: "useRandomizedPayloads: false")
        let found = try #require(error(text, baseDirectory: directory))
        #expect(found.kind == .unreadablePayloadFile)
        #expect(found.description.contains("is 3 bytes but messageSize is 64"))
    }

    @Test func duplicateKey_namesBothLines() throws {
        let found = try #require(error(TestSupport.specText("topics: 2")))
        #expect(found.kind == .duplicateKey)
        #expect(found.line == 13)
        #expect(found.description.contains("already set on line 2"))
    }

    @Test func lineWithoutColon_isASyntaxError() throws {
        let found = try #require(error(TestSupport.specText("just some words")))
        #expect(found.kind == .syntax)
        #expect(found.line == 13)
    }

    @Test func unterminatedQuote_isASyntaxError() throws {
        let found = try #require(error(TestSupport.specText("name2: x").replacingOccurrences(of: "name: test", with: "name: \"test")))
        #expect(found.kind == .syntax)
        #expect(found.line == 1)
        #expect(found.key == "name")
    }

    @Test func minutesAndSecondsTogether_conflict() throws {
        let found = try #require(error(TestSupport.specText("testDurationMinutes: 1")))
        #expect(found.kind == .conflict)
        #expect(found.key == "testDurationMinutes")
        #expect(found.line == 13)
        #expect(found.description.contains("conflicts with 'testDurationSeconds'"))
    }

    @Test func backlogWithMaxRateProbe_isRefusedAsInOMB() throws {
        let text = TestSupport.specText("consumerBacklogSizeGB: 1").replacingOccurrences(of: "producerRate: 1000", with: "producerRate: 0")
        let found = try #require(error(text))
        #expect(found.kind == .conflict)
        #expect(found.key == "consumerBacklogSizeGB")
        #expect(found.line == 13)
    }

    @Test func replicationAboveBrokers_isAnError() throws {
        let found = try #require(error(TestSupport.specText("brokers: 2\nreplicationFactor: 3")))
        #expect(found.key == "replicationFactor")
        #expect(found.line == 14)
        let isr = try #require(error(TestSupport.specText("brokers: 3\nreplicationFactor: 2\nminInsyncReplicas: 3")))
        #expect(isr.key == "minInsyncReplicas")
        #expect(isr.line == 15)
    }

    @Test func faultOnMissingBrokerPartitionOrConsumer_isAnError() throws {
        let broker = try #require(error(TestSupport.specText("fault: at 0.5s kill broker 1")))
        #expect(broker.key == "fault")
        #expect(broker.line == 13)
        #expect(broker.description.contains("broker 1 does not exist"))
        let partition = try #require(error(TestSupport.specText("fault: at 0.5s kill leader of partition 2")))
        #expect(partition.description.contains("partition 2 does not exist"))
        let consumer = try #require(error(TestSupport.specText("fault: at 0.5s kill consumer 1")))
        #expect(consumer.description.contains("consumer 1 does not exist"))
        // ...unless a consumer was added before.
        _ = try WorkloadSpec.parse(text: TestSupport.specText("fault: at 0.2s add consumer\nfault: at 0.5s kill consumer 1"))
        let late = try #require(error(TestSupport.specText("fault: at 5s add consumer")))
        #expect(late.description.contains("after the run ends"))
    }

    @Test func unreadableSpecFile_isAnError() {
        #expect {
            try WorkloadSpec.load(path: "/no/such/dir/x.spec")
        } throws: { error in
            guard let error = error as? WorkloadSpecError else { return false }
            return error.kind == .unreadableFile && error.source == "/no/such/dir/x.spec"
        }
    }

    // MARK: Overrides

    @Test func overrides_durationAndSet_applyOnTopOfTheFile() throws {
        let overrides = try WorkloadSpecOverrides.parse(arguments: [
            "--duration", "10s", "--set", "producerRate=5000", "--set=name=override", "--set", "fault=at 1s add consumer",
            "--set", "warmupDurationMinutes=1",
        ])
        #expect(overrides.testDuration == .seconds(10))
        let spec = try WorkloadSpec.parse(text: TestSupport.specText(), overrides: overrides)
        #expect(spec.testDuration == .seconds(10))
        #expect(spec.producerRate == 5000)
        #expect(spec.name == "override")
        #expect(spec.faults == [WorkloadFault(at: .seconds(1), action: .addConsumer)])
        #expect(spec.warmupDuration == .seconds(60))
    }

    @Test func overrides_errorsNameTheOverride() throws {
        let unknown = try #require(error(TestSupport.specText(), overrides: WorkloadSpecOverrides(settings: [.init(key: "producerRat", value: "1")])))
        #expect(unknown.kind == .unknownKey)
        #expect(unknown.source == "--set producerRat=1")
        #expect(unknown.line == nil)
        let negative = try #require(error(TestSupport.specText(), overrides: WorkloadSpecOverrides(settings: [.init(key: "producerRate", value: "-1")])))
        #expect(negative.description == "--set producerRate=-1: key 'producerRate': must not be negative (got '-1')")
        #expect(throws: WorkloadSpecError.self) { try WorkloadSpecOverrides.parse(arguments: ["--duration", "ten"]) }
        #expect(throws: WorkloadSpecError.self) { try WorkloadSpecOverrides.parse(arguments: ["--set", "novalue"]) }
        #expect(throws: WorkloadSpecError.self) { try WorkloadSpecOverrides.parse(arguments: ["--bogus"]) }
        #expect(throws: WorkloadSpecError.self) { try WorkloadSpecOverrides.parse(arguments: ["--duration"]) }
    }

    @Test func durationOverride_satisfiesAMissingDuration() throws {
        let text = TestSupport.specText().split(separator: "\n").filter { !$0.hasPrefix("testDurationSeconds") }.joined(separator: "\n")
        let spec = try WorkloadSpec.parse(text: text, overrides: WorkloadSpecOverrides(testDuration: .milliseconds(1500)))
        #expect(spec.testDuration == .milliseconds(1500))
    }

    @Test func programmaticSpec_validateReportsTheKey() {
        var spec = WorkloadSpec(name: "code")
        spec.partitionsPerTopic = 0
        #expect {
            try spec.validate()
        } throws: { error in
            (error as? WorkloadSpecError)?.key == "partitionsPerTopic"
        }
    }
}
