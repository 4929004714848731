import ArgumentParser
import Logging
import NIOCore
import RivuletCore
import RivuletStorage
import RivuletWire

#if canImport(Glibc)
import Glibc
#endif

/// `rivulet log`: inspect and exercise partition logs on any storage engine.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Inspect and exercise partition logs",
        subcommands: [Dump.self, Roundtrip.self, AppendTest.self]
    )
}

extension LogCommand {
    /// `rivulet log dump`: Kafka's kafka-dump-log for Rivulet's segment files.
    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dump",
            abstract: "Print every batch of a partition's segment files (read-only, like kafka-dump-log)"
        )

        @Option(help: "The storage URL: file:///dir or mmap:///dir")
        var storage: String

        @Option(help: "The topic")
        var topic: String

        @Option(help: "The partition")
        var partition: Int32

        @Flag(help: "Also print one line per record (compressed batches are decompressed)")
        var records = false

        @Flag(help: "Exit with status 1 when a batch is corrupt or a segment ends in a torn batch")
        var verify = false

        func run() throws {
            let topicPartition = TopicPartition(topic: topic, partition: partition)
            let segments = try LogDump.segments(storageURL: storage, topicPartition: topicPartition)
            var batches = 0
            var recordCount = 0
            var bytes = 0
            var corrupt = 0
            var tornSegments = 0
            var firstOffset: Int64?
            var nextOffset: Int64?
            for segment in segments {
                print("Segment \(segment.path) (\(segment.sizeBytes) bytes)")
                let end = try LogDump.scan(segment) { found in
                    let header = found.header
                    batches += 1
                    recordCount += Int(header.recordCount)
                    bytes += header.totalSize
                    if !found.isChecksumValid { corrupt += 1 }
                    firstOffset = firstOffset ?? header.baseOffset
                    nextOffset = header.nextOffset
                    let codec = header.attributes.compression.map(\.description) ?? "reserved(\(header.attributes.rawValue & 7))"
                    print("baseOffset: \(header.baseOffset) lastOffset: \(header.lastOffset) count: \(header.recordCount)"
                        + " position: \(found.position) size: \(header.totalSize) codec: \(codec)"
                        + " baseTimestamp: \(header.baseTimestamp) maxTimestamp: \(header.maxTimestamp)"
                        + " leaderEpoch: \(header.partitionLeaderEpoch) producerId: \(header.producerId)"
                        + " transactional: \(header.attributes.isTransactional) control: \(header.attributes.isControl)"
                        + " crc: \(found.isChecksumValid ? "ok" : "BAD") (\(String(header.crc, radix: 16)))")
                    if records { RecordPrinter.print(found.batch) }
                }
                if let problem = end.problem {
                    tornSegments += 1
                    print("!! segment ends at byte \(end.validBytes) of \(segment.sizeBytes): \(problem)")
                }
                if end.zeroFilledTailBytes > 0 {
                    print("(\(end.zeroFilledTailBytes) zero bytes of preallocated space after the data)")
                }
            }
            print("Summary: segments: \(segments.count) batches: \(batches) records: \(recordCount) bytes: \(bytes)"
                + " firstOffset: \(firstOffset.map(String.init) ?? "none") nextOffset: \(nextOffset.map(String.init) ?? "none")"
                + " corruptBatches: \(corrupt) tornSegments: \(tornSegments)")
            if verify, corrupt > 0 || tornSegments > 0 {
                throw ExitCode(1)
            }
        }
    }

    /// `rivulet log roundtrip`: writes batches, reads them back, checks them, prints throughput.
    struct Roundtrip: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "roundtrip",
            abstract: "Append batches to a log, read them back, check offsets and CRCs, and print throughput",
            discussion: """
                With --storage the log is opened directly on that storage engine. With --bootstrap the \
                same round trip goes through a running broker (Rivulet or any Kafka-compatible one): \
                --batches records of about --batch-bytes each are produced with acks=all, one at a \
                time, into the partition (the topic is created when missing, and deleted afterwards \
                unless --keep), then read back and checked: consecutive offsets, each record once, in \
                order, with its bytes.
                """
        )

        @Option(help: "The storage URL: memory://, file:///dir or mmap:///dir")
        var storage: String?

        @Option(name: [.customLong("bootstrap"), .customLong("bootstrap-server")],
                help: "Go through the broker at host:port[,host:port...] instead of opening storage.")
        var bootstrap: String?

        @Option(help: "Batches to write")
        var batches = 1000

        @Option(help: "Bytes per batch (a one-record batch of exactly this size)")
        var batchBytes = 1 << 20

        @Option(help: "The topic of the log written (deleted first, and afterwards unless --keep)")
        var topic = "rivulet-roundtrip"

        @Option(help: "The partition")
        var partition: Int32 = 0

        @Option(help: "segment.bytes")
        var segmentBytes = LogConfig().segmentBytes

        @Option(help: "flush.messages (1 syncs every batch)")
        var flushMessages = LogConfig().flushMessages

        @Option(help: "fsync or fdatasync")
        var flushSyscall = "fsync"

        @Flag(help: "Keep the log afterwards")
        var keep = false

        func validate() throws {
            switch (storage, bootstrap) {
            case (nil, nil): throw ValidationError("give --storage URL (a log on that storage) or --bootstrap host:port (through a broker)")
            case (_?, _?): throw ValidationError("give either --storage or --bootstrap, not both")
            default: break
            }
            guard batches >= 0 else { throw ValidationError("--batches must not be negative") }
            guard batchBytes > 0, batchBytes <= 64 << 20 else { throw ValidationError("--batch-bytes must be between 1 and 67108864") }
        }

        func run() async throws {
            if let bootstrap {
                try await runThroughBroker(bootstrap)
                return
            }
            guard let storage else { return }
            guard let syscall = FlushSyscall(rawValue: flushSyscall) else {
                throw ValidationError("--flush-syscall must be fsync or fdatasync")
            }
            let clock = SystemClock()
            let engine = try StorageEngines.open(url: storage, clock: clock, logger: Logger(label: "rivulet.log"))
            defer { try? engine.close() }
            let config = LogConfig(segmentBytes: segmentBytes, flushMessages: flushMessages, flushSyscall: syscall)
            try config.validate()
            let report = try LogRoundtrip.run(engine: engine, topicPartition: TopicPartition(topic: topic, partition: partition),
                                              batches: batches, batchBytes: batchBytes, config: config, clock: clock, keep: keep)
            let mebibytes = Double(report.totalBytes) / 1_048_576
            print("roundtrip \(storage) \(topic)-\(partition): \(report.batches) batches x \(report.batchBytes) bytes"
                + " (\(format(mebibytes)) MiB)")
            print("append: \(format(Double(report.appendNanoseconds) / 1e9)) s, \(format(report.appendBytesPerSecond / 1_048_576)) MiB/s"
                + " (throughputBytesPerSecond \(Int(report.appendBytesPerSecond)), final flush included)")
            print("read:   \(format(Double(report.readNanoseconds) / 1e9)) s, \(format(report.readBytesPerSecond / 1_048_576)) MiB/s"
                + " (throughputBytesPerSecond \(Int(report.readBytesPerSecond))), \(report.batchesVerified) batches verified"
                + " (offsets, sizes, CRC-32C)")
            if let end = report.logEndOffsetAfterReopen { print("reopen: log end offset \(end), as written") }
        }

        private func runThroughBroker(_ bootstrap: String) async throws {
            let options = try ClientOptions.parse(["--bootstrap", bootstrap, "--client-id", "rivulet-log-roundtrip"])
            let session = try await options.open()
            // A record value of batchBytes - 72 makes a one-record batch of about batchBytes.
            let recordBytes = max(8, batchBytes - 72)
            let report: NetworkRoundtrip.Report
            do {
                report = try await NetworkRoundtrip(session: session, topic: topic, partition: partition, records: batches,
                                                    recordBytes: recordBytes, keep: keep).run()
            } catch {
                await session.close()
                throw error
            }
            await session.close()
            let mebibytes = Double(batches * recordBytes) / 1_048_576
            func rate(_ nanoseconds: UInt64) -> String {
                nanoseconds == 0 ? "-" : format(mebibytes / (Double(nanoseconds) / 1e9))
            }
            print("roundtrip \(bootstrap) \(topic)-\(partition): \(batches) records x \(recordBytes) bytes"
                + " (\(format(mebibytes)) MiB), acks=all, from offset \(report.firstOffset)")
            print("produce: \(format(Double(report.produceNanoseconds) / 1e9)) s, \(rate(report.produceNanoseconds)) MiB/s"
                + " (one record in flight)")
            print("consume: \(format(Double(report.consumeNanoseconds) / 1e9)) s, \(rate(report.consumeNanoseconds)) MiB/s,"
                + " \(report.recordsVerified) records verified (offsets, order, bytes)")
        }

        private func format(_ value: Double) -> String {
            let scaled = (value * 100).rounded() / 100
            return "\(scaled)"
        }
    }

    /// A hidden child process for the crash tests: appends with a flush per batch and prints
    /// `synced <lastOffset>` once each batch is durable.
    struct AppendTest: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "append-test",
            abstract: "Append batches with a flush per batch, printing each durable offset (for crash tests)",
            shouldDisplay: false
        )

        @Option var storage: String
        @Option var topic = "crash"
        @Option var partition: Int32 = 0
        @Option var batches = 100_000
        @Option var batchBytes = 1000
        @Option var segmentBytes = 64 * 1024
        @Option var flushSyscall = "fsync"

        func run() throws {
            guard let syscall = FlushSyscall(rawValue: flushSyscall) else {
                throw ValidationError("--flush-syscall must be fsync or fdatasync")
            }
            guard batches >= 0 else { throw ValidationError("--batches must not be negative") }
            guard batchBytes >= 0, batchBytes <= SyntheticBatch.totalBytesMax - 100 else {
                throw ValidationError("--batch-bytes must be between 0 and \(SyntheticBatch.totalBytesMax - 100)")
            }
            let clock = SystemClock()
            let engine = try StorageEngines.open(url: storage, clock: clock, logger: Logger(label: "rivulet.log"))
            let log = try engine.openLog(TopicPartition(topic: topic, partition: partition),
                                         config: LogConfig(segmentBytes: segmentBytes, flushMessages: 1, flushSyscall: syscall,
                                                           maxMessageBytes: max(batchBytes + 100, LogConfig().maxMessageBytes)))
            print("opened \(log.logEndOffset)")
            fflush(nil)   // all streams: stdout cannot be named under strict concurrency
            for index in 0 ..< batches {
                // Sizes vary so that batch boundaries fall everywhere in the files.
                let size = max(SyntheticBatch.minimumTotalBytes, batchBytes + (index % 7) * 13)
                let batch = SyntheticBatch.make(totalBytes: size, timestampMs: clock.wallMilliseconds(), valueByte: UInt8(index % 251))
                let info = try log.append(batch, assignOffsets: true)
                guard info.isFlushed else { throw ValidationError("append of offset \(info.firstOffset) was not flushed") }
                print("synced \(info.lastOffset)")
                fflush(nil)   // all streams: stdout cannot be named under strict concurrency
            }
            try log.close()
            try engine.close()
        }
    }
}

/// Prints the records of a batch, one line each, like kafka-dump-log's `--print-data-log`.
/// Compressed batches are decompressed first. Bad bytes are reported, never trapped on.
enum RecordPrinter {
    static func print(_ batch: RecordBatch) {
        do {
            try batch.forEachRecord(verifyChecksum: false) { record in
                var headers: [String] = []
                for header in record.headers { headers.append(header.key) }
                Swift.print("| offset: \(record.offset) timestamp: \(record.timestampMs)"
                    + " keySize: \(record.keyLength) key: \(describe(record.key.map { Array($0.readableBytesView) }))"
                    + " valueSize: \(record.valueLength) headers: [\(headers.joined(separator: ", "))]")
            }
        } catch {
            Swift.print("| unreadable records: \(error)")
        }
    }

    private static func describe(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "null" }
        let shown = bytes.prefix(32)
        let suffix = bytes.count > 32 ? "..." : ""
        if shown.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return "\"\(String(decoding: shown, as: UTF8.self))\(suffix)\"" }
        return "0x" + shown.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() + suffix
    }
}
