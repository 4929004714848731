import Logging
import RivuletCore
import Testing
@testable import RivuletStorage

#if canImport(Glibc)
import Glibc
#endif

/// The factory, data directories and names.
@Suite struct StorageEngineTests {
    @Test func unknownScheme_listsTheSupportedOnes() {
        #expect(throws: StorageError.unsupportedScheme(scheme: "s3", supported: ["memory", "file", "mmap"])) {
            try StorageEngines.open(url: "s3://bucket/logs")
        }
        let message = StorageError.unsupportedScheme(scheme: "s3", supported: StorageEngines.supportedSchemes).description
        #expect(message.contains("memory://") && message.contains("file://") && message.contains("mmap://"))
    }

    @Test(arguments: ["no-scheme", "://x", "file://", "mmap://", "file:///tmp/x?y=1"])
    func malformedURLs_areRejected(url: String) {
        #expect(throws: StorageError.self) { try StorageEngines.open(url: url) }
    }

    @Test func urls_parseToAbsoluteDirectories() throws {
        let parsed = try StorageURL("file:///var/lib/rivulet")
        #expect(parsed.scheme == "file" && parsed.path == "/var/lib/rivulet")
        #expect(try StorageURL("MMAP:///data").scheme == "mmap")
        #expect(try StorageURL("file://localhost/srv/log").path == "/srv/log")
        #expect(try StorageURL("memory://").scheme == "memory")
        let relative = try StorageURL("file://data/logs").path
        #expect(relative.hasPrefix("/") && relative.hasSuffix("/data/logs"))
    }

    @Test(arguments: ["file", "mmap"])
    func aFileInsteadOfADirectory_isReported(scheme: String) throws {
        let directory = TemporaryDirectory("engine")
        let file = FileSystem.join(directory.path, "plain-file")
        try writeFile(file, [1])
        #expect(throws: StorageError.notADirectory(path: file)) { try StorageEngines.open(url: "\(scheme)://\(file)") }
        let below = FileSystem.join(file, "sub")
        #expect(throws: StorageError.notADirectory(path: below)) { try StorageEngines.open(url: "\(scheme)://\(below)") }
    }

    @Test func aDirectoryThatCannotBeCreated_isReported() {
        do {
            _ = try StorageEngines.open(url: "file:///proc/rivulet-cannot-exist/data")
            Issue.record("opened a data directory under /proc")
        } catch let StorageError.cannotCreateDirectory(path, code) {
            #expect(path == "/proc/rivulet-cannot-exist/data")
            #expect(code != 0)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func aDirectoryThatIsNotWritable_isReported() throws {
        let directory = TemporaryDirectory("engine")
        // Root writes anywhere a mode allows nothing, so use /proc/self, which nobody can write.
        let path = getuid() == 0 ? "/proc/self" : directory.path
        if getuid() != 0 { #expect(chmod(path, 0o500) == 0) }
        defer { _ = chmod(directory.path, 0o700) }
        do {
            _ = try StorageEngines.open(url: "file://\(path)")
            Issue.record("opened an unwritable data directory")
        } catch let StorageError.directoryNotWritable(reported, _) {
            #expect(reported == path)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: ["file", "mmap"])
    func aDirectoryInUse_isLocked_untilItsEngineCloses(scheme: String) throws {
        let directory = TemporaryDirectory("engine")
        let url = "\(scheme)://\(directory.path)/data"
        let first = try StorageEngines.open(url: url)
        #expect(throws: StorageError.directoryLocked(path: "\(directory.path)/data")) { try StorageEngines.open(url: url) }
        try first.close()
        try first.close()
        #expect(throws: StorageError.engineClosed) { try first.partitions() }
        let second = try StorageEngines.open(url: url)
        #expect(second.isDurable)
        try second.close()
    }

    @Test func partitions_listsOnlyPartitionDirectories() throws {
        let directory = TemporaryDirectory("engine")
        let engine = try StorageEngines.open(url: "file://\(directory.path)")
        for name in ["orders-0", "orders-12", "a.b_c-3", "no-partition-x", "-1", "bad name-1", "x-01a"] {
            try FileSystem.createDirectories(FileSystem.join(directory.path, name))
        }
        try writeFile(FileSystem.join(directory.path, "file-7"), [])
        try engine.storeDocument(named: "broker.properties", bytes: [1])
        #expect(try engine.partitions() == [
            TopicPartition(topic: "a.b_c", partition: 3), TopicPartition(topic: "orders", partition: 0),
            TopicPartition(topic: "orders", partition: 12),
        ])
        try engine.close()
    }

    @Test func deletedLogs_areGone_evenWhenTheDeletionWasInterrupted() throws {
        let directory = TemporaryDirectory("engine")
        var engine = try StorageEngines.open(url: "file://\(directory.path)")
        let partition = TopicPartition(topic: "gone", partition: 0)
        let log = try engine.openLog(partition, config: LogConfig(segmentBytes: 1 << 20))
        _ = try log.append(makeBatch(timestampMs: 0), assignOffsets: true)
        try log.close()
        try engine.deleteLog(partition)
        #expect(try engine.partitions().isEmpty)
        // A crash after the rename leaves a -delete directory: the next engine finishes the job.
        try FileSystem.createDirectories(FileSystem.join(directory.path, "gone-1.123-delete/deep"))
        try engine.close()
        engine = try StorageEngines.open(url: "file://\(directory.path)")
        #expect(try FileSystem.list(directory.path).filter { $0.hasSuffix("-delete") }.isEmpty)
        try engine.close()
    }

    @Test func topicNames_followKafkasRules() throws {
        for good in ["a", "orders", "my.topic_v2-x", String(repeating: "t", count: 249), "__consumer_offsets"] {
            try TopicPartition.validateTopicName(good)
        }
        for bad in ["", ".", "..", String(repeating: "t", count: 250), "a/b", "a b", "ümlaut", "a*"] {
            #expect(throws: StorageError.self) { try TopicPartition.validateTopicName(bad) }
        }
        #expect(TopicPartition(directoryName: "my-topic-7") == TopicPartition(topic: "my-topic", partition: 7))
        #expect(TopicPartition(directoryName: "topic-") == nil)
        #expect(TopicPartition(directoryName: "topic-99999999999") == nil)
        #expect(TopicPartition(directoryName: ".documents") == nil)
        #expect(TopicPartition(topic: "t", partition: 5).directoryName == "t-5")
    }

    @Test func logConfig_rejectsOutOfRangeSettings() {
        #expect(throws: StorageError.self) { try LogConfig(segmentBytes: Int(Int32.max) + 1).validate() }
        #expect(throws: StorageError.self) { try LogConfig(retentionBytes: -2).validate() }
        #expect(throws: StorageError.self) { try LogConfig(flushMessages: 0).validate() }
        #expect(throws: StorageError.self) { try LogConfig(indexIntervalBytes: -1).validate() }
        #expect(throws: Never.self) { try LogConfig().validate() }
        #expect(LogConfig().segmentBytes == 1_073_741_824 && LogConfig().retentionMs == 604_800_000
            && LogConfig().indexIntervalBytes == 4096 && LogConfig().flushMessages == .max)
    }

    @Test func checkpoint_roundTrips_andRejectsDamage() throws {
        let checkpoint = PartitionCheckpoint(recoveryPoint: 12345, logStartOffset: 17, cleanShutdown: true)
        let bytes = checkpoint.encode()
        #expect(try PartitionCheckpoint.decode(bytes).get() == checkpoint)
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= 0x04
            if case .success = PartitionCheckpoint.decode(damaged) { Issue.record("damage at \(index) went unnoticed") }
        }
        if case .success = PartitionCheckpoint.decode(Array(bytes.dropLast(3))) { Issue.record("a short checkpoint was accepted") }
    }

    @Test func indexFiles_decodeOnlyTheirSaneLeadingEntries() {
        var index = OffsetIndex()
        index.append(relativeOffset: 3, position: 100)
        index.append(relativeOffset: 9, position: 400)
        index.append(relativeOffset: 10, position: 900)
        let bytes = index.encode(from: 0)
        #expect(OffsetIndex.decode(bytes, segmentSizeBytes: 1000).entries == index.entries)
        #expect(OffsetIndex.decode(bytes, segmentSizeBytes: 1000).problem == nil)
        #expect(OffsetIndex.decode(bytes, segmentSizeBytes: 500).entries.count == 2)
        #expect(OffsetIndex.decode(bytes + [0, 0, 0], segmentSizeBytes: 1000).problem != nil)
        #expect(OffsetIndex.decode(bytes + bytes, segmentSizeBytes: 1000).entries.count == 3)
        #expect(index.lookup(relativeOffset: 2) == nil)
        #expect(index.lookup(relativeOffset: 9)?.position == 400)
        #expect(index.lookup(relativeOffset: 50)?.position == 900)

        var times = TimeIndex()
        let appended = [
            times.maybeAppend(timestampMs: -1, relativeOffset: 0), times.maybeAppend(timestampMs: 50, relativeOffset: 1),
            times.maybeAppend(timestampMs: 50, relativeOffset: 2), times.maybeAppend(timestampMs: 80, relativeOffset: 2),
        ]
        #expect(appended == [false, true, false, true])
        #expect(TimeIndex.decode(times.encode(from: 0), maxRelativeOffset: 10).entries == times.entries)
        #expect(TimeIndex.decode(times.encode(from: 0), maxRelativeOffset: 1).entries.count == 1)
        #expect(times.lookup(timestampMs: 79)?.relativeOffset == 1)
        #expect(times.lookup(timestampMs: 10) == nil)
    }

    @Test(arguments: [68, 69, 70, 100, 127, 128, 129, 200, 1000, 4096, 16_384, 1 << 20])
    func syntheticBatches_haveTheRequestedSize_andAValidCRC(totalBytes: Int) throws {
        let batch = SyntheticBatch.make(totalBytes: totalBytes, timestampMs: 1000)
        #expect(batch.buffer.readableBytes == totalBytes)
        try batch.validateForProduce()
        let many = SyntheticBatch.make(recordCount: 5, valueBytes: 10, baseTimestampMs: 100, timestampStepMs: 5)
        try many.validateForProduce()
        #expect(many.header.maxTimestamp == 120 && many.header.lastOffsetDelta == 4)
    }
}
