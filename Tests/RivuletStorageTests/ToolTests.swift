import Logging
import NIOCore
import RivuletCore
import RivuletWire
import Testing
@testable import RivuletStorage

/// The tools on top of the log: the read-only dump, the roundtrip check, and the `rivulet log` CLI.
@Suite struct ToolTests {
    static let t0: Int64 = 1_700_000_000_000

    @Test(arguments: Backend.allCases)
    func roundtrip_writesReadsAndChecksEveryBatch(backend: Backend) throws {
        let harness = try Harness(backend)
        let report = try LogRoundtrip.run(engine: harness.engine, topicPartition: TopicPartition(topic: "rt", partition: 0),
                                          batches: 40, batchBytes: 5000, config: LogConfig(segmentBytes: 64 * 1024),
                                          clock: SystemClock())
        #expect(report.batchesVerified == 40)
        #expect(report.totalBytes == 200_000)
        #expect(report.logEndOffsetAfterReopen == (backend.isDurable ? 40 : nil))
        #expect(try harness.engine.partitions().isEmpty)   // deleted afterwards
        #expect(throws: LogRoundtrip.Failure.self) {
            try LogRoundtrip.run(engine: harness.engine, topicPartition: TopicPartition(topic: "rt", partition: 0), batches: 1,
                                 batchBytes: 10, config: LogConfig(), clock: SystemClock())
        }
    }

    @Test(arguments: Backend.durable)
    func dump_listsEveryBatch_andFlagsACorruptOne(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(segmentBytes: 2000))
        var appended: [AppendedBatch] = []
        for index in 0 ..< 12 { appended.append(try append(log, makeBatch(records: 2, valueBytes: 200, timestampMs: Self.t0 + Int64(index)))) }
        let segmentCount = log.internals.segmentSummaries.count
        try log.close()

        func dump() throws -> (batches: [LogDump.Batch], ends: [LogDump.SegmentEnd]) {
            var batches: [LogDump.Batch] = []
            var ends: [LogDump.SegmentEnd] = []
            for segment in try LogDump.segments(storageURL: harness.url, topicPartition: harness.topicPartition) {
                ends.append(try LogDump.scan(segment) { batches.append($0) })
            }
            return (batches, ends)
        }
        let clean = try dump()
        #expect(clean.ends.count == segmentCount)
        #expect(clean.batches.map(\.header.baseOffset) == appended.map(\.baseOffset))
        #expect(clean.batches.allSatisfy { $0.isChecksumValid })
        #expect(clean.ends.allSatisfy { $0.problem == nil })

        // Corrupt a value byte of the third batch and cut the last segment mid-batch.
        let files = try harness.segmentFiles()
        var bytes = try fileBytes(files[0])
        let third = clean.batches[2]
        bytes[third.position + 100] ^= 0xFF
        try writeFile(files[0], bytes)
        let last = try fileBytes(files[files.count - 1])
        try truncateFile(files[files.count - 1], to: last.count - 5)
        let damaged = try dump()
        #expect(damaged.batches.filter { !$0.isChecksumValid }.map(\.header.baseOffset) == [third.header.baseOffset])
        #expect(damaged.batches.count == appended.count - 1)   // the torn last batch is not listed
        if case .incompleteBatch? = damaged.ends.last?.problem {} else { Issue.record("torn end not reported: \(String(describing: damaged.ends.last))") }

        #expect(throws: StorageError.self) { try LogDump.segments(storageURL: "memory://", topicPartition: harness.topicPartition) }
        #expect(throws: StorageError.logNotFound(partition: "none-0")) {
            try LogDump.segments(storageURL: harness.url, topicPartition: TopicPartition(topic: "none", partition: 0))
        }
    }

    @Test func cli_dumpVerify_exitsNonZeroOnlyForACorruptLog() throws {
        guard let executable = CrashTests.rivuletExecutable() else {
            Issue.record("no rivulet or rivulet-tool executable next to the test binary; run `swift build`")
            return
        }
        let harness = try Harness(.file)
        let log = try harness.open()
        for index in 0 ..< 5 { try append(log, makeBatch(records: 3, valueBytes: 50, timestampMs: Self.t0 + Int64(index))) }
        try log.close()
        try harness.engine.close()
        let clock = SystemClock()

        func run(_ extra: [String]) throws -> (status: Int32, output: [String]) {
            let child = try CrashTests.Child([executable, "log", "dump", "--storage", harness.url, "--topic", "events",
                                              "--partition", "0"] + extra)
            var lines: [String] = []
            while let line = child.readLine(deadlineNanoseconds: clock.monotonicNanoseconds() + 20_000_000_000, clock: clock) {
                lines.append(line)
            }
            return (child.wait(), lines)
        }
        let clean = try run(["--verify", "--records"])
        #expect(clean.status == 0)
        #expect(clean.output.filter { $0.hasPrefix("baseOffset:") }.count == 5)
        #expect(clean.output.filter { $0.hasPrefix("| offset:") }.count == 15)
        #expect(clean.output.last?.hasPrefix("Summary: segments: 1 batches: 5 records: 15") == true)

        let path = try harness.segmentFiles()[0]
        var bytes = try fileBytes(path)
        bytes[bytes.count - 10] ^= 0x01
        try writeFile(path, bytes)
        let corrupt = try run(["--verify"])
        #expect(corrupt.status >> 8 == 1, "exit status \(corrupt.status >> 8)")
        #expect(corrupt.output.contains { $0.contains("crc: BAD") })
        #expect(try run([]).status == 0)   // without --verify the dump itself succeeds
    }
}
