import NIOCore
import RivuletCore
import RivuletWire
import Testing
@testable import RivuletStorage

/// The scenarios every backend must pass: the memory backend is the executable spec, and file and
/// mmap must behave identically (same offsets, same segments, same answers).
@Suite struct LogStoreTests {
    static let t0: Int64 = 1_700_000_000_000
    static let small = LogConfig(segmentBytes: 2048, indexIntervalBytes: 256)

    /// Appends `count` batches of varied sizes and record counts.
    static func fill(_ log: any LogStore, count: Int, firstTimestampMs: Int64 = t0, seed: UInt64 = 1) throws -> [AppendedBatch] {
        var generator = SeededGenerator(seed: seed)
        var appended: [AppendedBatch] = []
        for index in 0 ..< count {
            let records = Int.random(in: 1 ... 4, using: &generator)
            let valueBytes = Int.random(in: 10 ... 300, using: &generator)
            appended.append(try append(log, makeBatch(records: records, valueBytes: valueBytes,
                                                      timestampMs: firstTimestampMs + Int64(index) * 10, byte: UInt8(index & 0x7F))))
        }
        return appended
    }

    static func checkSegmentsAreContiguous(_ log: any LogStore) {
        let segments = log.internals.segmentSummaries
        for (previous, next) in zip(segments, segments.dropFirst()) {
            #expect(previous.nextOffset == next.baseOffset, "segments \(segments)")
        }
        #expect(segments.last?.nextOffset == log.logEndOffset)
        #expect(Int64(segments.reduce(0) { $0 + $1.sizeBytes }) == log.sizeBytes)
    }

    // MARK: Append and read

    @Test(arguments: Backend.allCases)
    func append_assignsContiguousOffsets_andReadReturnsTheStoredBatches(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        let appended = try Self.fill(log, count: 60)
        var expectedBase: Int64 = 0
        for batch in appended {
            #expect(batch.baseOffset == expectedBase)
            expectedBase = batch.lastOffset + 1
        }
        #expect(log.logEndOffset == expectedBase)
        #expect(log.logStartOffset == 0)
        #expect(log.sizeBytes == Int64(appended.reduce(0) { $0 + $1.sizeBytes }))
        #expect(try readAll(log) == appended)
        // Every offset reads back the batch that holds it first, whole.
        for batch in appended {
            for offset in batch.baseOffset ... batch.lastOffset {
                let read = try log.read(from: offset, maxBytes: 1, maxOffset: nil)
                #expect(read.batchCount == 1)
                #expect(read.firstOffset == batch.baseOffset)
                #expect(read.nextOffset == batch.lastOffset + 1)
                #expect(Array(read.records.readableBytesView) == batch.bytes)
            }
        }
        Self.checkSegmentsAreContiguous(log)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func append_whenSegmentFull_rollsSegment(backend: Backend) throws {
        let harness = try Harness(backend)
        let config = LogConfig(segmentBytes: 1000, indexIntervalBytes: 100)
        let log = try harness.open(config)
        var appended: [AppendedBatch] = []
        for index in 0 ..< 30 {
            appended.append(try append(log, makeBatch(records: 2, valueBytes: 150, timestampMs: Self.t0 + Int64(index))))
        }
        let segments = log.internals.segmentSummaries
        #expect(segments.count > 5)
        for segment in segments {
            #expect(segment.sizeBytes <= config.segmentBytes)
            // Each segment starts exactly at a batch boundary.
            #expect(appended.contains { $0.baseOffset == segment.baseOffset } || segment.sizeBytes == 0)
        }
        // A segment holds as many whole batches as fit: the next batch would not have fit.
        let batchBytes = appended[0].sizeBytes
        for segment in segments.dropLast() { #expect(segment.sizeBytes + batchBytes > config.segmentBytes) }
        Self.checkSegmentsAreContiguous(log)
        #expect(log.internals.statistics.rolls == segments.count - 1)
        if backend.isDurable {
            let names = try harness.segmentFiles().map { String($0.split(separator: "/").last ?? "") }
            #expect(names == segments.map { FileSystem.segmentFileName(baseOffset: $0.baseOffset, suffix: ".log") })
            #expect(names.first == "00000000000000000000.log")
        }
        #expect(try readAll(log) == appended)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func append_largerThanSegmentBytes_getsItsOwnSegment(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(segmentBytes: 500, indexIntervalBytes: 100))
        let small = try append(log, makeBatch(valueBytes: 50, timestampMs: Self.t0))
        let big = try append(log, makeBatch(valueBytes: 3000, timestampMs: Self.t0))
        let after = try append(log, makeBatch(valueBytes: 50, timestampMs: Self.t0))
        #expect(log.internals.segmentSummaries.map(\.baseOffset) == [0, 1, 2])
        #expect(try readAll(log) == [small, big, after])
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func read_respectsMaxBytes_butReturnsAtLeastOneWholeBatch(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open()
        var appended: [AppendedBatch] = []
        for index in 0 ..< 10 { appended.append(try append(log, makeBatch(valueBytes: 200, timestampMs: Self.t0 + Int64(index)))) }
        let size = appended[0].sizeBytes
        for maxBytes in [0, 1, size - 1, size] {
            let read = try log.read(from: 0, maxBytes: maxBytes, maxOffset: nil)
            #expect(read.batchCount == 1, "maxBytes \(maxBytes)")
            #expect(read.records.readableBytes == size)
        }
        let twoAndAHalf = try log.read(from: 3, maxBytes: size * 5 / 2, maxOffset: nil)
        #expect(twoAndAHalf.batchCount == 2)
        #expect(twoAndAHalf.firstOffset == 3)
        #expect(twoAndAHalf.nextOffset == 5)
        #expect(Array(twoAndAHalf.records.readableBytesView) == appended[3].bytes + appended[4].bytes)
        let everything = try log.read(from: 0, maxBytes: .max, maxOffset: nil)
        #expect(everything.batchCount == 10)
        #expect(everything.logEndOffset == 10)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func read_neverReturnsBatchesAtOrBeyondMaxOffset(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open()
        for index in 0 ..< 6 { try append(log, makeBatch(records: 2, timestampMs: Self.t0 + Int64(index))) }   // offsets 0-1, 2-3, ...
        let upToHighWatermark = try log.read(from: 0, maxBytes: .max, maxOffset: 6)
        #expect(upToHighWatermark.batchCount == 3)
        #expect(upToHighWatermark.nextOffset == 6)
        // A batch straddling maxOffset is not returned either.
        #expect(try log.read(from: 0, maxBytes: .max, maxOffset: 5).batchCount == 2)
        #expect(try log.read(from: 4, maxBytes: .max, maxOffset: 5).batchCount == 0)
        let atHighWatermark = try log.read(from: 6, maxBytes: .max, maxOffset: 6)
        #expect(atHighWatermark.batchCount == 0)
        #expect(atHighWatermark.records.readableBytes == 0)
        #expect(atHighWatermark.nextOffset == 6)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func read_outsideTheLog_throwsOffsetOutOfRange_andAtTheEndReturnsNothing(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        _ = try Self.fill(log, count: 20)
        let end = log.logEndOffset
        #expect(throws: StorageError.offsetOutOfRange(requested: end + 1, logStart: 0, logEnd: end)) {
            try log.read(from: end + 1, maxBytes: 100, maxOffset: nil)
        }
        #expect(throws: StorageError.offsetOutOfRange(requested: -1, logStart: 0, logEnd: end)) {
            try log.read(from: -1, maxBytes: 100, maxOffset: nil)
        }
        let atEnd = try log.read(from: end, maxBytes: 100, maxOffset: nil)
        #expect(atEnd.batchCount == 0 && atEnd.records.readableBytes == 0 && atEnd.logEndOffset == end)
        #expect(throws: StorageError.self) { try log.read(from: 0, maxBytes: -1, maxOffset: nil) }
        try log.deleteRecords(before: 10)
        #expect(throws: StorageError.offsetOutOfRange(requested: 9, logStart: 10, logEnd: end)) {
            try log.read(from: 9, maxBytes: 100, maxOffset: nil)
        }
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func read_returnsBatchesOfOneSegmentOnly(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(segmentBytes: 1000, indexIntervalBytes: 100))
        for index in 0 ..< 20 { try append(log, makeBatch(valueBytes: 150, timestampMs: Self.t0 + Int64(index))) }
        let segments = log.internals.segmentSummaries
        let read = try log.read(from: 0, maxBytes: .max, maxOffset: nil)
        #expect(read.nextOffset == segments[0].nextOffset)
        #expect(read.records.readableBytes == segments[0].sizeBytes)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func readResults_doNotChange_whenTheLogChangesAfterwards(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(segmentBytes: 100_000, indexIntervalBytes: 256))
        var held: [(LogReadResult, [UInt8])] = []
        for index in 0 ..< 200 {
            try append(log, makeBatch(valueBytes: 300, timestampMs: Self.t0, byte: UInt8(index & 0xFF)))
            let read = try log.read(from: Int64(index), maxBytes: .max, maxOffset: nil)
            held.append((read, Array(read.records.readableBytesView)))
        }
        try log.truncate(to: 50)
        for index in 0 ..< 100 { try append(log, makeBatch(valueBytes: 300, timestampMs: Self.t0, byte: 0xEE - UInt8(index))) }
        for (read, bytes) in held { #expect(Array(read.records.readableBytesView) == bytes) }
        try log.close()
    }

    // MARK: Offsets given by the caller (followers)

    @Test(arguments: Backend.allCases)
    func followerAppend_requiresTheBatchToStartAtTheLogEnd(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open()
        let first = try log.append(makeBatch(records: 3, timestampMs: Self.t0, baseOffset: 0), assignOffsets: false)
        #expect(first.firstOffset == 0 && first.lastOffset == 2)
        #expect(throws: StorageError.unexpectedBaseOffset(expected: 3, actual: 5)) {
            try log.append(makeBatch(timestampMs: Self.t0, baseOffset: 5), assignOffsets: false)
        }
        #expect(throws: StorageError.unexpectedBaseOffset(expected: 3, actual: 2)) {
            try log.append(makeBatch(timestampMs: Self.t0, baseOffset: 2), assignOffsets: false)
        }
        let second = try log.append(makeBatch(records: 2, timestampMs: Self.t0, baseOffset: 3), assignOffsets: false)
        #expect(second.firstOffset == 3 && log.logEndOffset == 5)
        // With assignment, the batch's own base offset is ignored and the stored bytes say 5.
        let third = try log.append(makeBatch(timestampMs: Self.t0, baseOffset: 999), assignOffsets: true)
        #expect(third.firstOffset == 5)
        let stored = try batches(in: log.read(from: 5, maxBytes: 1, maxOffset: nil).records)
        #expect(stored.first?.header.baseOffset == 5)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func append_rejectsInvalidBatches_andLeavesTheLogUnchanged(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(maxMessageBytes: 2000))
        try append(log, makeBatch(timestampMs: Self.t0))
        var corrupt = makeBatch(valueBytes: 100, timestampMs: Self.t0).buffer
        corrupt.setInteger(UInt8(0xFF), at: corrupt.readerIndex + 100)
        #expect(throws: StorageError.self) { try log.append(try RecordBatch(corrupt), assignOffsets: true) }
        do {
            _ = try log.append(try RecordBatch(corrupt), assignOffsets: true)
        } catch let StorageError.invalidBatch(error) {
            guard case .checksumMismatch = error else { Issue.record("expected a checksum mismatch, got \(error)"); return }
        }
        #expect(throws: StorageError.batchTooLarge(sizeBytes: makeBatch(valueBytes: 3000, timestampMs: 0).buffer.readableBytes,
                                                   limitBytes: 2000)) {
            try log.append(makeBatch(valueBytes: 3000, timestampMs: Self.t0), assignOffsets: true)
        }
        var reservedCodec = makeBatch(timestampMs: Self.t0).buffer
        reservedCodec.setInteger(Int16(7), at: RecordBatchLayout.attributes)
        let crc = CRC32C.checksum(reservedCodec, at: RecordBatchLayout.crcCoverageStart,
                                  length: reservedCodec.readableBytes - RecordBatchLayout.crcCoverageStart)
        reservedCodec.setInteger(crc, at: RecordBatchLayout.crc)
        #expect(throws: StorageError.self) { try log.append(try RecordBatch(reservedCodec), assignOffsets: true) }
        #expect(log.logEndOffset == 1)
        #expect(try readAll(log).count == 1)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func appendRecords_storesEveryBatch_orNoneWhenOneIsInvalid(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        var records = ByteBuffer()
        for index in 0 ..< 5 {
            var batch = makeBatch(records: 2, valueBytes: 100, timestampMs: Self.t0 + Int64(index)).buffer
            records.writeBuffer(&batch)
        }
        let info = try log.append(records: records, assignOffsets: true)
        #expect(info.firstOffset == 0 && info.lastOffset == 9 && info.batchCount == 5 && info.recordCount == 10)
        #expect(info.sizeBytes == records.readableBytes)
        #expect(info.maxTimestampMs == Self.t0 + 5)
        #expect(try readAll(log).count == 5)

        var bad = records
        bad.setInteger(UInt8(0), at: bad.writerIndex - 3)   // corrupt the last batch
        #expect(throws: StorageError.self) { try log.append(records: bad, assignOffsets: true) }
        var torn = records
        torn.moveWriterIndex(to: torn.writerIndex - 1)
        #expect(throws: StorageError.self) { try log.append(records: torn, assignOffsets: true) }
        #expect(throws: StorageError.self) { try log.append(records: ByteBuffer(), assignOffsets: true) }
        #expect(log.logEndOffset == 10)

        // Followers: the batches carry their offsets, which must continue the log.
        var followerRecords = ByteBuffer()
        for index in 0 ..< 3 {
            var batch = makeBatch(records: 2, timestampMs: Self.t0, baseOffset: 10 + Int64(index) * 2).buffer
            followerRecords.writeBuffer(&batch)
        }
        #expect(try log.append(records: followerRecords, assignOffsets: false).lastOffset == 15)
        #expect(throws: StorageError.self) { try log.append(records: followerRecords, assignOffsets: false) }
        try log.close()
    }

    // MARK: Truncation and deletion

    @Test(arguments: Backend.allCases)
    func truncate_midSegmentAndMidBatch_thenAppend(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        let appended = try Self.fill(log, count: 60)
        let segmentsBefore = log.internals.segmentSummaries
        #expect(segmentsBefore.count >= 4)
        // An offset inside a batch in the middle of the second segment.
        let segment = segmentsBefore[1]
        let victim = appended.filter { $0.baseOffset >= segment.baseOffset && $0.lastOffset < segment.nextOffset }
        let target = victim[victim.count / 2]
        let cut = target.lastOffset > target.baseOffset ? target.baseOffset + 1 : target.baseOffset
        let newEnd = try log.truncate(to: cut)
        #expect(newEnd == target.baseOffset)
        #expect(log.logEndOffset == target.baseOffset)
        #expect(log.internals.segmentSummaries.count == 2)
        #expect(log.recoveryPoint <= log.logEndOffset)
        let kept = appended.filter { $0.lastOffset < target.baseOffset }
        #expect(try readAll(log) == kept)
        Self.checkSegmentsAreContiguous(log)
        #expect(throws: StorageError.self) { try log.read(from: target.lastOffset + 1, maxBytes: 100, maxOffset: nil) }

        // New data continues from the cut, as a leader and as a follower.
        let more = try Self.fill(log, count: 30, seed: 9)
        #expect(more.first?.baseOffset == target.baseOffset)
        let followerBatch = makeBatch(records: 2, timestampMs: Self.t0, baseOffset: log.logEndOffset)
        _ = try log.append(followerBatch, assignOffsets: false)
        #expect(try readAll(log).count == kept.count + more.count + 1)
        #expect(Array(try readAll(log).prefix(kept.count + more.count)) == kept + more)
        Self.checkSegmentsAreContiguous(log)
        // Truncating at or past the end changes nothing.
        #expect(try log.truncate(to: log.logEndOffset + 10) == log.logEndOffset)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func truncate_toTheLogStart_emptiesTheLog(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        _ = try Self.fill(log, count: 40)
        try log.truncate(to: 0)
        #expect(log.logEndOffset == 0 && log.logStartOffset == 0 && log.sizeBytes == 0)
        #expect(log.internals.segmentSummaries.count == 1)
        let again = try Self.fill(log, count: 5)
        #expect(try readAll(log) == again)
        try log.deleteRecords(before: 3)
        try log.truncate(to: 2)   // below the log start: restart the log at 2
        #expect(log.logStartOffset == 2 && log.logEndOffset == 2)
        #expect(try append(log, makeBatch(timestampMs: Self.t0)).baseOffset == 2)
        try log.close()
    }

    @Test("truncateFullyAndStartAt empties the log and restarts it beyond its end; appends continue there, also after a reopen",
          arguments: Backend.allCases)
    func truncateFullyAndStartAt_restartsTheLogBeyondItsEnd(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        _ = try Self.fill(log, count: 40)
        let oldEnd = log.logEndOffset
        try log.truncateFullyAndStartAt(oldEnd + 1000)
        #expect(log.logStartOffset == oldEnd + 1000 && log.logEndOffset == oldEnd + 1000 && log.sizeBytes == 0)
        #expect(log.internals.segmentSummaries.map(\.baseOffset) == [oldEnd + 1000])
        #expect(throws: StorageError.self) { try log.read(from: 0, maxBytes: 100, maxOffset: nil) }
        // A follower appends the leader's batches at their offsets.
        let followerBatch = makeBatch(records: 3, timestampMs: Self.t0, baseOffset: oldEnd + 1000)
        _ = try log.append(followerBatch, assignOffsets: false)
        #expect(log.logEndOffset == oldEnd + 1003)
        #expect(throws: StorageError.self) { try log.truncateFullyAndStartAt(-1) }
        try log.close()
        if backend.isDurable {
            let reopened = try harness.open(Self.small)
            #expect(reopened.logStartOffset == oldEnd + 1000 && reopened.logEndOffset == oldEnd + 1003)
            #expect(try readAll(reopened).map(\.baseOffset) == [oldEnd + 1000])
            try reopened.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func deleteRecords_advancesTheLogStart_andDeletesWholeSegmentsOnly(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.small)
        let appended = try Self.fill(log, count: 60)
        let segments = log.internals.segmentSummaries
        let target = segments[2].baseOffset + 1
        #expect(try log.deleteRecords(before: target) == target)
        #expect(log.logStartOffset == target)
        #expect(log.internals.segmentSummaries.first?.baseOffset == segments[2].baseOffset)
        #expect(try log.deleteRecords(before: 1) == target)   // lower offsets change nothing
        #expect(throws: StorageError.offsetOutOfRange(requested: log.logEndOffset + 1, logStart: target, logEnd: log.logEndOffset)) {
            try log.deleteRecords(before: log.logEndOffset + 1)
        }
        let read = try log.read(from: target, maxBytes: 1, maxOffset: nil)
        let holder = appended.first { $0.lastOffset >= target }
        #expect(read.firstOffset == holder?.baseOffset)
        #expect(read.logStartOffset == target)
        // Everything: the active segment stays, empty of readable offsets.
        try log.deleteRecords(before: log.logEndOffset)
        #expect(log.logStartOffset == log.logEndOffset)
        #expect(log.internals.segmentSummaries.count == 1)
        #expect(try log.read(from: log.logEndOffset, maxBytes: 100, maxOffset: nil).batchCount == 0)
        try log.close()
    }

    // MARK: Timestamps

    @Test(arguments: Backend.allCases)
    func offsetForTimestamp_findsTheFirstBatchReachingTheTarget(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(segmentBytes: 1500, indexIntervalBytes: 200))
        var generator = SeededGenerator(seed: 7)
        var appended: [AppendedBatch] = []
        var timestamp = Self.t0
        for _ in 0 ..< 80 {
            // Mostly increasing, sometimes going back (producer clocks), as Kafka allows.
            timestamp += Int64.random(in: -20 ... 60, using: &generator)
            appended.append(try append(log, makeBatch(records: Int.random(in: 1 ... 3, using: &generator),
                                                      valueBytes: Int.random(in: 20 ... 150, using: &generator),
                                                      timestampMs: timestamp, stepMs: 3)))
        }
        #expect(log.internals.segmentSummaries.count > 3)
        func expected(_ target: Int64, logStart: Int64) -> TimestampAndOffset? {
            // Kafka: the first batch whose largest timestamp reaches the target, then the first record in it
            // (at or after the log start) that does. Records are `stepMs` = 3 apart within a batch.
            guard let batch = appended.first(where: { $0.lastOffset >= logStart && $0.maxTimestampMs >= target }) else { return nil }
            let firstTimestamp = batch.maxTimestampMs - 3 * (batch.lastOffset - batch.baseOffset)
            for offset in max(batch.baseOffset, logStart) ... batch.lastOffset {
                let timestamp = firstTimestamp + 3 * (offset - batch.baseOffset)
                if timestamp >= target { return TimestampAndOffset(timestampMs: timestamp, offset: offset) }
            }
            return nil
        }
        let lowest = appended.map(\.maxTimestampMs).min() ?? 0
        let highest = appended.map(\.maxTimestampMs).max() ?? 0
        for target in stride(from: lowest - 5, through: highest + 5, by: 7) {
            #expect(try log.offset(forTimestamp: target) == expected(target, logStart: 0), "target \(target)")
        }
        #expect(try log.offset(forTimestamp: highest + 1) == nil)
        #expect(try log.offset(forTimestamp: -2) == TimestampAndOffset(timestampMs: -1, offset: 0))
        #expect(try log.offset(forTimestamp: -1) == TimestampAndOffset(timestampMs: -1, offset: log.logEndOffset))
        let maxBatch = appended.first { $0.maxTimestampMs == highest }
        #expect(try log.offset(forTimestamp: -3) == maxBatch.map { TimestampAndOffset(timestampMs: highest, offset: $0.lastOffset) })
        #expect(throws: StorageError.self) { try log.offset(forTimestamp: -4) }

        let logStart = appended[30].baseOffset + 1
        try log.deleteRecords(before: logStart)
        for target in stride(from: lowest - 5, through: highest + 5, by: 11) {
            #expect(try log.offset(forTimestamp: target) == expected(target, logStart: logStart), "target \(target) after deleteRecords")
        }
        try log.close()
    }

    // MARK: Rolling by time and retention

    @Test(arguments: Backend.allCases)
    func append_whenSegmentMsHasPassed_rollsSegment(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(segmentMs: 1000))
        try append(log, makeBatch(timestampMs: Self.t0))
        try append(log, makeBatch(timestampMs: Self.t0 + 1000))   // exactly segment.ms: no roll
        #expect(log.internals.segmentSummaries.count == 1)
        try append(log, makeBatch(timestampMs: Self.t0 + 1001))
        #expect(log.internals.segmentSummaries.map(\.baseOffset) == [0, 2])
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func retentionBytes_deletesTheOldestSegments_neverTheActiveOne(backend: Backend) throws {
        let harness = try Harness(backend)
        let config = LogConfig(segmentBytes: 1000, indexIntervalBytes: 100, retentionBytes: 2500, retentionMs: -1)
        let log = try harness.open(config)
        var appended: [AppendedBatch] = []
        for index in 0 ..< 40 { appended.append(try append(log, makeBatch(valueBytes: 150, timestampMs: Self.t0 + Int64(index)))) }
        let before = log.internals.segmentSummaries
        let result = try log.enforceRetention(nowMs: harness.clock.wallMilliseconds())
        #expect(log.sizeBytes >= config.retentionBytes)
        #expect(log.sizeBytes - Int64(log.internals.segmentSummaries[0].sizeBytes) < config.retentionBytes)
        #expect(result.deletedSegments.map(\.baseOffset) == before.prefix(result.deletedSegments.count).map(\.baseOffset))
        // Each deleted segment is reported with the size and end it had.
        #expect(result.deletedSegments.map(\.sizeBytes) == before.prefix(result.deletedSegments.count).map(\.sizeBytes))
        #expect(result.deletedSegments.map(\.nextOffset) == before.prefix(result.deletedSegments.count).map(\.nextOffset))
        #expect(result.deletedSegments.allSatisfy { $0.reason == .retentionBytes })
        #expect(result.logStartOffset == log.internals.segmentSummaries[0].baseOffset)
        #expect(log.logStartOffset == result.logStartOffset)
        #expect(try readAll(log) == appended.filter { $0.baseOffset >= result.logStartOffset })
        if backend.isDurable { #expect(try harness.segmentFiles().count == log.internals.segmentSummaries.count) }

        // With a limit below one segment everything but the active segment goes.
        let tiny = try harness.open(LogConfig(segmentBytes: 1000, retentionBytes: 0, retentionMs: -1),
                                    partition: TopicPartition(topic: "tiny", partition: 0))
        for index in 0 ..< 20 { try append(tiny, makeBatch(valueBytes: 150, timestampMs: Self.t0 + Int64(index))) }
        _ = try tiny.enforceRetention(nowMs: harness.clock.wallMilliseconds())
        #expect(tiny.internals.segmentSummaries.count == 1)
        #expect(tiny.sizeBytes > 0)
        #expect(try tiny.enforceRetention(nowMs: harness.clock.wallMilliseconds()).deletedSegments.isEmpty)
        try tiny.close()
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func retentionMs_deletesSegmentsWhoseNewestTimestampIsTooOld(backend: Backend) throws {
        let harness = try Harness(backend)
        let config = LogConfig(segmentBytes: 1000, indexIntervalBytes: 100, retentionMs: 60_000)
        let log = try harness.open(config)
        // Batches one second apart in record time.
        for index in 0 ..< 40 { try append(log, makeBatch(valueBytes: 150, timestampMs: Self.t0 + Int64(index) * 1000)) }
        let segments = log.internals.segmentSummaries
        #expect(try log.enforceRetention(nowMs: harness.clock.wallMilliseconds()).deletedSegments.isEmpty)

        // Move to 100 s after the first batch: batches older than 40 s before that are too old.
        harness.clock.advance(by: .seconds(100))
        let now = harness.clock.wallMilliseconds()
        let result = try log.enforceRetention(nowMs: now)
        let cutoff = now - config.retentionMs
        for deleted in result.deletedSegments {
            #expect(deleted.reason == .retentionMs)
            // The newest batch of a deleted segment is older than the cutoff.
            #expect(Self.t0 + (deleted.nextOffset - 1) * 1000 < cutoff)
        }
        let remaining = log.internals.segmentSummaries
        #expect(remaining.count == segments.count - result.deletedSegments.count)
        #expect(Self.t0 + (remaining[0].nextOffset - 1) * 1000 >= cutoff || remaining.count == 1)
        #expect(!result.deletedSegments.isEmpty)

        // Far in the future everything is too old, but the active segment stays.
        harness.clock.advance(by: .seconds(3600))
        _ = try log.enforceRetention(nowMs: harness.clock.wallMilliseconds())
        #expect(log.internals.segmentSummaries.count == 1)
        #expect(log.internals.segmentSummaries[0].baseOffset == segments.last?.baseOffset)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func retention_neverDeletesPastTheHighWatermark(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(segmentBytes: 1000, indexIntervalBytes: 100, retentionBytes: 0))
        for index in 0 ..< 40 { try append(log, makeBatch(valueBytes: 150, timestampMs: Self.t0 + Int64(index))) }
        let segments = log.internals.segmentSummaries
        let highWatermark = segments[2].baseOffset + 1
        let result = try log.enforceRetention(nowMs: harness.clock.wallMilliseconds(), highWatermark: highWatermark)
        #expect(result.deletedSegments.map(\.baseOffset) == [segments[0].baseOffset, segments[1].baseOffset])
        try log.close()
    }

    // MARK: Flushing

    @Test(arguments: Backend.allCases)
    func flushMessagesOne_flushesEveryBatch(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(flushMessages: 1, flushSyscall: .fdatasync))
        for index in 0 ..< 5 {
            let info = try log.append(makeBatch(records: 2, timestampMs: Self.t0 + Int64(index)), assignOffsets: true)
            #expect(info.isFlushed)
            #expect(log.recoveryPoint == log.logEndOffset)
        }
        #expect(log.internals.statistics.dataSyncs[.fdatasync] == 5)
        #expect(log.internals.statistics.dataSyncs[.fsync] == nil)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func flushMessagesN_flushesOnceNMessagesAreUnflushed(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(flushMessages: 5))
        var flushedAt: [Int64] = []
        for index in 0 ..< 10 {
            let info = try log.append(makeBatch(records: 2, timestampMs: Self.t0 + Int64(index)), assignOffsets: true)
            if info.isFlushed { flushedAt.append(log.logEndOffset) }
            #expect(log.logEndOffset - log.recoveryPoint < 5)
        }
        #expect(flushedAt == [6, 12, 18])
        #expect(log.internals.statistics.dataSyncs[.fsync] == 3)
        try log.flush()
        #expect(log.recoveryPoint == log.logEndOffset)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func flushMs_flushesWhenTheLastFlushIsTooOld(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(flushMs: 100))
        #expect(try !log.append(makeBatch(timestampMs: Self.t0), assignOffsets: true).isFlushed)
        harness.clock.advance(by: .milliseconds(60))
        #expect(try !log.append(makeBatch(timestampMs: Self.t0), assignOffsets: true).isFlushed)
        #expect(log.recoveryPoint == 0)
        harness.clock.advance(by: .milliseconds(50))
        #expect(try log.append(makeBatch(timestampMs: Self.t0), assignOffsets: true).isFlushed)
        #expect(log.recoveryPoint == 3)
        try append(log, makeBatch(timestampMs: Self.t0))
        #expect(try !log.flushIfDue(nowMs: harness.clock.wallMilliseconds() + 99))
        #expect(try log.flushIfDue(nowMs: harness.clock.wallMilliseconds() + 100))
        #expect(log.recoveryPoint == 4)
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func flushIfDue_flushesRolledSegments_withoutWaitingForFlushMs(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(LogConfig(segmentBytes: 1000))
        for index in 0 ..< 20 { try append(log, makeBatch(valueBytes: 150, timestampMs: Self.t0 + Int64(index))) }
        #expect(log.recoveryPoint == 0)
        #expect(try log.flushIfDue(nowMs: harness.clock.wallMilliseconds()))
        #expect(log.recoveryPoint == log.internals.segmentSummaries.last?.baseOffset)
        #expect(try !log.flushIfDue(nowMs: harness.clock.wallMilliseconds()))
        try log.close()
    }

    // MARK: Lifecycle

    @Test(arguments: Backend.allCases)
    func reopen_afterCleanClose_findsEverything(backend: Backend) throws {
        let harness = try Harness(backend)
        let config = LogConfig(segmentBytes: 2048, indexIntervalBytes: 256)
        var log = try harness.open(config)
        let appended = try Self.fill(log, count: 70)
        try log.deleteRecords(before: appended[20].baseOffset + 1)
        let segments = log.internals.segmentSummaries.map(\.baseOffset)
        let timestampAnswers = try (0 ..< 70).map { try log.offset(forTimestamp: Self.t0 + Int64($0) * 10 - 3) }
        try log.close()
        try log.close()   // twice is fine
        #expect(throws: StorageError.logClosed(partition: "events-0")) { try log.read(from: 0, maxBytes: 1, maxOffset: nil) }

        try harness.restartEngine()
        #expect(try harness.engine.partitions() == [harness.topicPartition])
        log = try harness.open(config)
        #expect(log.logEndOffset == (appended.last?.lastOffset ?? -1) + 1)
        #expect(log.logStartOffset == appended[20].baseOffset + 1)
        #expect(log.recoveryPoint == log.logEndOffset)
        #expect(log.internals.segmentSummaries.map(\.baseOffset) == segments)
        #expect(log.recoveryReport.truncations.isEmpty)
        #expect(log.recoveryReport.rebuiltIndexes.isEmpty)
        if backend.isDurable {
            #expect(log.recoveryReport.hadCleanShutdown)
            // Only the tails after the last index entries were scanned.
            #expect(log.recoveryReport.bytesScanned < Int(log.sizeBytes) / 2)
        }
        #expect(try readAll(log) == appended.filter { $0.lastOffset >= appended[20].baseOffset + 1 })
        #expect(try (0 ..< 70).map { try log.offset(forTimestamp: Self.t0 + Int64($0) * 10 - 3) } == timestampAnswers)
        let more = try Self.fill(log, count: 10, seed: 3)
        #expect(more.first?.baseOffset == appended.last.map { $0.lastOffset + 1 })
        try log.close()
    }

    @Test(arguments: Backend.allCases)
    func openLog_twice_throws_andDeleteLog_needsItClosed(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open()
        #expect(throws: StorageError.logAlreadyOpen(partition: "events-0")) { try harness.open() }
        #expect(throws: StorageError.logInUse(partition: "events-0")) { try harness.engine.deleteLog(harness.topicPartition) }
        #expect(throws: StorageError.logInUse(partition: "events-0")) { try harness.engine.close() }
        try append(log, makeBatch(timestampMs: Self.t0))
        try log.close()
        let other = TopicPartition(topic: "other.topic_1", partition: 3)
        try harness.open(partition: other).close()
        #expect(try harness.engine.partitions() == [harness.topicPartition, other])
        try harness.engine.deleteLog(harness.topicPartition)
        #expect(try harness.engine.partitions() == [other])
        #expect(throws: StorageError.logNotFound(partition: "events-0")) { try harness.engine.deleteLog(harness.topicPartition) }
        let fresh = try harness.open()
        #expect(fresh.logEndOffset == 0)
        try fresh.close()
        #expect(throws: StorageError.self) { try harness.engine.openLog(TopicPartition(topic: "bad/name", partition: 0), config: LogConfig()) }
        #expect(throws: StorageError.invalidPartition(-1)) { try harness.engine.openLog(TopicPartition(topic: "t", partition: -1), config: LogConfig()) }
        #expect(throws: StorageError.self) { try harness.engine.openLog(harness.topicPartition, config: LogConfig(segmentBytes: 1)) }
    }

    @Test(arguments: Backend.allCases)
    func documents_roundTrip_andAreReplacedWhole(backend: Backend) throws {
        let harness = try Harness(backend)
        #expect(try harness.engine.loadDocument(named: "cluster-id") == nil)
        try harness.engine.storeDocument(named: "cluster-id", bytes: Array("abc".utf8))
        try harness.engine.storeDocument(named: "meta.properties", bytes: Array(repeating: 7, count: 10_000))
        try harness.engine.storeDocument(named: "cluster-id", bytes: Array("second".utf8))
        try harness.engine.storeDocument(named: "empty", bytes: [])
        try harness.restartEngine()
        #expect(try harness.engine.loadDocument(named: "cluster-id") == Array("second".utf8))
        #expect(try harness.engine.loadDocument(named: "meta.properties") == Array(repeating: 7, count: 10_000))
        #expect(try harness.engine.loadDocument(named: "empty") == [])
        for bad in ["", "../escape", "a/b", "x.tmp", String(repeating: "a", count: 201), "sp ace"] {
            #expect(throws: StorageError.self) { try harness.engine.storeDocument(named: bad, bytes: []) }
        }
        // Documents are not partitions.
        #expect(try harness.engine.partitions().isEmpty)
    }

    // MARK: A random walk against a model

    @Test(arguments: Backend.allCases)
    func randomOperations_matchASimpleModel(backend: Backend) throws {
        let harness = try Harness(backend)
        let config = LogConfig(segmentBytes: 1500, indexIntervalBytes: 128)
        var log = try harness.open(config)
        var model: [AppendedBatch] = []
        var logStart: Int64 = 0
        var logEnd: Int64 = 0
        var generator = SeededGenerator(seed: 2024)
        for step in 0 ..< 400 {
            switch Int.random(in: 0 ..< 100, using: &generator) {
            case 0 ..< 60:
                let batch = try append(log, makeBatch(records: Int.random(in: 1 ... 5, using: &generator),
                                                      valueBytes: Int.random(in: 0 ... 200, using: &generator),
                                                      timestampMs: Self.t0 + Int64(step), byte: UInt8(step & 0xFF)))
                #expect(batch.baseOffset == logEnd)
                model.append(batch)
                logEnd = batch.lastOffset + 1
            case 60 ..< 75 where logEnd > logStart:
                let offset = Int64.random(in: logStart ..< logEnd, using: &generator)
                let read = try log.read(from: offset, maxBytes: Int.random(in: 0 ... 3000, using: &generator), maxOffset: nil)
                let start = model.firstIndex { $0.lastOffset >= offset } ?? model.count
                let got = try batches(in: read.records).map { Array($0.buffer.readableBytesView) }
                #expect(!got.isEmpty)
                #expect(got == model[start ..< min(model.count, start + got.count)].map(\.bytes), "step \(step)")
            case 75 ..< 83 where logEnd > logStart + 1:
                let offset = Int64.random(in: (logStart + 1) ... logEnd, using: &generator)
                try log.truncate(to: offset)
                model.removeAll { $0.lastOffset >= offset }
                logEnd = model.last.map { $0.lastOffset + 1 } ?? logStart
                logStart = min(logStart, logEnd)
            case 83 ..< 90:
                let offset = Int64.random(in: logStart ... logEnd, using: &generator)
                try log.deleteRecords(before: offset)
                logStart = max(logStart, offset)
            case 90 ..< 95:
                try log.close()
                log = try harness.open(config)
            case 95 ..< 100 where backend.isDurable:
                log.internals.abandonForCrashTest()
                log = try harness.open(config)
                #expect(log.recoveryReport.truncations.isEmpty, "a crash of the process loses nothing written")
            default:
                break
            }
            #expect(log.logEndOffset == logEnd, "step \(step)")
            #expect(log.logStartOffset == logStart, "step \(step)")
            Self.checkSegmentsAreContiguous(log)
        }
        #expect(try readAll(log) == model.filter { $0.lastOffset >= logStart })
        try log.close()
    }
}
