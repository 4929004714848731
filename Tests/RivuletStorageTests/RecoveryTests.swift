import NIOCore
import RivuletCore
import RivuletWire
import Testing
@testable import RivuletStorage

/// Crash recovery of the durable backends: torn tails, corrupt bytes, lost or garbled indexes.
@Suite struct RecoveryTests {
    static let t0: Int64 = 1_700_000_000_000
    static let config = LogConfig(segmentBytes: 3000, indexIntervalBytes: 300)

    /// Where each batch lies on disk.
    struct Placed {
        var batch: AppendedBatch
        var segmentIndex: Int
        var position: Int
    }

    /// Writes `count` batches and returns them with their file positions (from the log's segments).
    static func write(_ log: any LogStore, count: Int, seed: UInt64) throws -> [Placed] {
        var generator = SeededGenerator(seed: seed)
        var appended: [AppendedBatch] = []
        for index in 0 ..< count {
            appended.append(try append(log, makeBatch(records: Int.random(in: 1 ... 3, using: &generator),
                                                      valueBytes: Int.random(in: 20 ... 400, using: &generator),
                                                      timestampMs: t0 + Int64(index) * 100, byte: UInt8(truncatingIfNeeded: index))))
        }
        let segments = log.internals.segmentSummaries
        var placed: [Placed] = []
        var segmentIndex = 0
        var position = 0
        for batch in appended {
            while segmentIndex + 1 < segments.count, batch.baseOffset >= segments[segmentIndex + 1].baseOffset {
                segmentIndex += 1
                position = 0
            }
            placed.append(Placed(batch: batch, segmentIndex: segmentIndex, position: position))
            position += batch.sizeBytes
        }
        return placed
    }

    /// The bytes recovery counts as lost from `bytes`: all of them, or for preallocated (mmap) files
    /// those up to the last non-zero byte (trailing zeros count as preallocation).
    static func lostBytes(_ bytes: ArraySlice<UInt8>, backend: Backend) -> Int {
        guard backend == .mmap else { return bytes.count }
        return bytes.lastIndex { $0 != 0 }.map { $0 - bytes.startIndex + 1 } ?? 0
    }

    enum Stop: String, CaseIterable, CustomTestStringConvertible {
        case clean
        case crash
        var testDescription: String { rawValue }
    }

    static func stop(_ log: any LogStore, _ how: Stop) throws {
        switch how {
        case .clean: try log.close()
        case .crash: log.internals.abandonForCrashTest()
        }
    }

    // MARK: Torn tails

    @Test(arguments: Backend.durable, Stop.allCases)
    func cutAtRandomPositions_keepsExactlyTheBatchesBeforeTheCut(backend: Backend, stop: Stop) throws {
        // Most seeds in memory-backed files; a few on the real disk.
        for seed in UInt64(1) ... 30 {
            let harness = try Harness(backend, onDisk: seed <= 3)
            let log = try harness.open(Self.config)
            let placed = try Self.write(log, count: 40, seed: seed)
            try Self.stop(log, stop)
            let files = try harness.segmentFiles()
            var generator = SeededGenerator(seed: seed &* 31)
            let victim = Int.random(in: 0 ..< files.count, using: &generator)
            let victimBytes = try fileBytes(files[victim])
            let fileSize = victimBytes.count
            let cut = Int.random(in: 0 ... fileSize, using: &generator)
            try truncateFile(files[victim], to: cut)
            let laterFileBytes = try files.dropFirst(victim + 1).reduce(0) { $0 + Self.lostBytes(try fileBytes($1)[...], backend: backend) }

            let reopened = try harness.open(Self.config)
            let survivors = placed.filter { $0.segmentIndex < victim || ($0.segmentIndex == victim && $0.position + $0.batch.sizeBytes <= cut) }
            #expect(try readAll(reopened) == survivors.map(\.batch), "seed \(seed) cut \(victim):\(cut)")
            #expect(reopened.logEndOffset == survivors.last.map { $0.batch.lastOffset + 1 } ?? 0)
            let report = reopened.recoveryReport
            let tornBatch = placed.first { $0.segmentIndex == victim && $0.position < cut && cut < $0.position + $0.batch.sizeBytes }
            // A torn header whose bytes so far are zeros looks like a preallocated tail to mmap (it is
            // trimmed all the same, and counted as preallocation).
            let tornLooksPreallocated = backend == .mmap && tornBatch.map { victimBytes[$0.position ..< cut].allSatisfy { $0 == 0 } } ?? false
            if let tornBatch, !tornLooksPreallocated {
                let truncation = report.truncations.first { !$0.segmentDeleted }
                #expect(truncation?.segmentBaseOffset == FileSystem.baseOffset(fromFileName: String(files[victim].split(separator: "/").last ?? ""), suffix: ".log"))
                #expect(truncation?.position == tornBatch.position)
                #expect(truncation?.bytesDropped == Self.lostBytes(victimBytes[tornBatch.position ..< cut], backend: backend))
                if case .incompleteBatch = truncation?.reason {} else { Issue.record("seed \(seed): reason \(String(describing: truncation?.reason))") }
            }
            // Bytes dropped: the torn part of the victim, plus every later segment when the cut lost data.
            let victimBatches = placed.filter { $0.segmentIndex == victim }
            let dataEnd = victimBatches.map { $0.position + $0.batch.sizeBytes }.max() ?? 0
            let validEnd = survivors.filter { $0.segmentIndex == victim }.map { $0.position + $0.batch.sizeBytes }.max() ?? 0
            let lostData = survivors.count < placed.count
            let expectedDropped = (cut <= dataEnd ? Self.lostBytes(victimBytes[validEnd ..< cut], backend: backend) : 0)
                + (lostData ? laterFileBytes : 0)
            #expect(report.bytesDropped == expectedDropped, "seed \(seed)")
            #expect(report.truncations.filter(\.segmentDeleted).count == (lostData ? files.count - victim - 1 : 0), "seed \(seed)")
            // The log takes appends again right after the surviving batches.
            let next = try append(reopened, makeBatch(timestampMs: Self.t0))
            #expect(next.baseOffset == reopened.logEndOffset - 1)
            try reopened.close()
            let again = try harness.open(Self.config)
            #expect(try readAll(again) == survivors.map(\.batch) + [next])
            #expect(again.recoveryReport.truncations.isEmpty)
            try again.close()
        }
    }

    // MARK: Corruption

    @Test(arguments: Backend.durable, [false, true])
    func corruptByteMidLog_dropsEverythingFromTheCorruptBatchOn(backend: Backend, cleanClose: Bool) throws {
        for seed in UInt64(1) ... 12 {
            let harness = try Harness(backend)
            let log = try harness.open(Self.config)
            let placed = try Self.write(log, count: 40, seed: seed)
            try Self.stop(log, cleanClose ? .clean : .crash)
            var generator = SeededGenerator(seed: seed &* 77)
            let victim = placed[Int.random(in: 0 ..< placed.count, using: &generator)]
            // A byte inside the part the CRC covers.
            let offsetInBatch = Int.random(in: RecordBatchLayout.crcCoverageStart ..< victim.batch.sizeBytes, using: &generator)
            let files = try harness.segmentFiles()
            var bytes = try fileBytes(files[victim.segmentIndex])
            bytes[victim.position + offsetInBatch] ^= UInt8.random(in: 1 ... 255, using: &generator)
            try writeFile(files[victim.segmentIndex], bytes)

            // After a clean close the bytes below the recovery point are trusted (as in Kafka);
            // full recovery checks them all. After a crash, recovery checks everything unflushed.
            let reopened = cleanClose ? try harness.openFullRecovery(Self.config) : try harness.open(Self.config)
            let survivors = placed.prefix { $0.batch.baseOffset < victim.batch.baseOffset }.map(\.batch)
            #expect(try readAll(reopened) == survivors, "seed \(seed)")
            let report = reopened.recoveryReport
            let truncation = report.truncations.first
            #expect(truncation?.position == victim.position, "seed \(seed)")
            #expect(truncation?.segmentDeleted == false)
            #expect(truncation?.bytesDropped == Self.lostBytes(bytes[victim.position...], backend: backend), "seed \(seed)")
            switch truncation?.reason {
            case .checksumMismatch?, .invalidHeader?: break   // a flipped count or delta can fail the header checks first
            case let other: Issue.record("seed \(seed): unexpected reason \(String(describing: other))")
            }
            let laterSegments = (placed.last?.segmentIndex ?? 0) - victim.segmentIndex
            #expect(report.truncations.filter(\.segmentDeleted).count == laterSegments, "seed \(seed)")
            try reopened.close()
        }
    }

    @Test(arguments: Backend.durable)
    func corruptHeaderFields_areReportedWithTheirReason(backend: Backend) throws {
        // (field position, value, expected reason)
        let cases: [(Int, UInt8, (RecoveryReason) -> Bool)] = [
            (RecordBatchLayout.magic, 1, { if case .unsupportedMagic(1) = $0 { true } else { false } }),
            (RecordBatchLayout.batchLength, 0xFF, { if case .invalidLength = $0 { true } else { false } }),
            (RecordBatchLayout.baseOffset + 7, 0x55, { if case .offsetGap = $0 { true } else { false } }),
            (RecordBatchLayout.crc, 0x00, { if case .checksumMismatch = $0 { true } else { false } }),
        ]
        for (field, value, isExpected) in cases {
            let harness = try Harness(backend)
            let log = try harness.open()
            let placed = try Self.write(log, count: 10, seed: 5)
            log.internals.abandonForCrashTest()
            let path = try harness.segmentFiles()[0]
            var bytes = try fileBytes(path)
            let victim = placed[6]
            bytes[victim.position + field] = bytes[victim.position + field] == value ? value ^ 1 : value
            try writeFile(path, bytes)
            let reopened = try harness.open()
            #expect(reopened.logEndOffset == victim.batch.baseOffset)
            let reason = reopened.recoveryReport.truncations.first?.reason
            #expect(reason.map(isExpected) == true, "field \(field): \(String(describing: reason))")
            try reopened.close()
        }
    }

    @Test(arguments: Backend.durable)
    func tornLastBatch_afterACrash_isCutAndReported(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open()
        let placed = try Self.write(log, count: 5, seed: 3)
        try log.close()
        // Half a batch at the end, as a write cut short by a crash leaves it.
        let path = try harness.segmentFiles()[0]
        let half = makeBatch(valueBytes: 500, timestampMs: Self.t0, baseOffset: placed.last.map { $0.batch.lastOffset + 1 } ?? 0)
        let tail = Array(half.buffer.readableBytesView.prefix(300))
        try writeFile(path, try fileBytes(path) + tail)
        let reopened = try harness.open()
        #expect(try readAll(reopened) == placed.map(\.batch))
        let truncation = reopened.recoveryReport.truncations.first
        #expect(truncation?.bytesDropped == 300)
        #expect(truncation?.reason == .incompleteBatch(neededBytes: half.buffer.readableBytes, availableBytes: 300))
        try reopened.close()
    }

    // MARK: Indexes

    enum Garbling: String, CaseIterable, CustomTestStringConvertible {
        case deleteBoth, deleteTimeIndex, truncateToOddLength, randomBytes, zeros, shiftedPositions, swappedEntries
        var testDescription: String { rawValue }
    }

    @Test(arguments: Backend.durable, Garbling.allCases)
    func garbledIndexes_areRebuilt_andReadsStayRight(backend: Backend, garbling: Garbling) throws {
        let harness = try Harness(backend)
        let config = LogConfig(segmentBytes: 20_000, indexIntervalBytes: 200)
        let log = try harness.open(config)
        let placed = try Self.write(log, count: 120, seed: 11)
        let targets = stride(from: Self.t0 - 50, through: Self.t0 + 120 * 100, by: 37).map { $0 }
        let answers = try targets.map { try log.offset(forTimestamp: $0) }
        try log.close()

        var generator = SeededGenerator(seed: 99)
        for path in try harness.segmentFiles(suffix: ".index") + harness.segmentFiles(suffix: ".timeindex") {
            var bytes = try fileBytes(path)
            let isOffsetIndex = path.hasSuffix(".index")
            let entrySize = isOffsetIndex ? OffsetIndex.entrySize : TimeIndex.entrySize
            switch garbling {
            case .deleteBoth:
                try FileSystem.removeFile(path)
                continue
            case .deleteTimeIndex:
                if !isOffsetIndex { try FileSystem.removeFile(path) }
                continue
            case .truncateToOddLength:
                bytes = Array(bytes.prefix(max(0, bytes.count / 2 - 3)))
            case .randomBytes:
                for index in bytes.indices where Int.random(in: 0 ..< 4, using: &generator) == 0 { bytes[index] = UInt8.random(in: 0 ... 255, using: &generator) }
            case .zeros:
                bytes = [UInt8](repeating: 0, count: bytes.count + 64)
            case .shiftedPositions:
                // Still well-formed (growing), but every position points 10 bytes into a batch.
                guard isOffsetIndex else { continue }
                for entry in 0 ..< bytes.count / entrySize {
                    let at = entry * entrySize + 4
                    let position = readBigEndianUInt32(bytes, at: at) &+ 10
                    withUnsafeBytes(of: position.bigEndian) { bytes.replaceSubrange(at ..< at + 4, with: $0) }
                }
            case .swappedEntries:
                // Well-formed time index entries that name the wrong batches.
                guard !isOffsetIndex, bytes.count >= 2 * entrySize else { continue }
                for entry in 0 ..< bytes.count / entrySize - 1 {
                    let at = entry * entrySize + 8
                    let relative = readBigEndianUInt32(bytes, at: at + entrySize)
                    withUnsafeBytes(of: relative.bigEndian) { bytes.replaceSubrange(at ..< at + 4, with: $0) }
                }
            }
            try writeFile(path, bytes)
        }

        let reopened = try harness.open(config)
        #expect(reopened.recoveryReport.truncations.isEmpty)
        #expect(try readAll(reopened) == placed.map(\.batch))
        for placedBatch in placed {
            let read = try reopened.read(from: placedBatch.batch.lastOffset, maxBytes: 1, maxOffset: nil)
            #expect(read.firstOffset == placedBatch.batch.baseOffset)
        }
        #expect(try targets.map { try reopened.offset(forTimestamp: $0) } == answers)
        // The damage was noticed, at open or at the first lookup that used a wrong entry.
        #expect(!reopened.recoveryReport.rebuiltIndexes.isEmpty || reopened.internals.statistics.indexRebuilds > 0)
        try reopened.close()
        // The rebuilt indexes were written back: the next open finds nothing to repair.
        let again = try harness.open(config)
        #expect(again.recoveryReport.rebuiltIndexes.isEmpty)
        #expect(try targets.map { try again.offset(forTimestamp: $0) } == answers)
        #expect(again.internals.statistics.indexRebuilds == 0)
        try again.close()
    }

    // MARK: Preallocation, checkpoints, leftovers

    @Test func mmapCrash_leavesAZeroFilledTail_thatIsTrimmedNotReported() throws {
        let harness = try Harness(.mmap, onDisk: true)
        let config = LogConfig(segmentBytes: 64 * 1024)
        let log = try harness.open(config)
        let placed = try Self.write(log, count: 20, seed: 4)
        let dataBytes = placed.reduce(0) { $0 + $1.batch.sizeBytes }
        log.internals.abandonForCrashTest()
        let path = try harness.segmentFiles()[0]
        #expect(try fileBytes(path).count == config.segmentBytes)   // still preallocated
        let reopened = try harness.open(config)
        #expect(reopened.recoveryReport.truncations.isEmpty)
        #expect(reopened.recoveryReport.preallocatedBytesTrimmed == config.segmentBytes - dataBytes)
        #expect(try readAll(reopened) == placed.map(\.batch))
        let next = try append(reopened, makeBatch(timestampMs: Self.t0))
        try reopened.close()
        #expect(try fileBytes(path).count == dataBytes + next.sizeBytes)   // trimmed on close
    }

    @Test(arguments: Backend.durable)
    func garbageCheckpoint_meansRecoveringEverything(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open(Self.config)
        let placed = try Self.write(log, count: 40, seed: 8)
        try log.close()
        let checkpoint = FileSystem.join(harness.partitionPath, PartitionCheckpoint.fileName)
        var bytes = try fileBytes(checkpoint)
        bytes[2] ^= 0x01
        try writeFile(checkpoint, bytes)
        let reopened = try harness.open(Self.config)
        #expect(reopened.recoveryReport.checkpointedRecoveryPoint == nil)
        #expect(reopened.recoveryReport.segmentsScanned == reopened.recoveryReport.segmentCount)
        #expect(reopened.recoveryReport.bytesScanned == placed.reduce(0) { $0 + $1.batch.sizeBytes })
        #expect(try readAll(reopened) == placed.map(\.batch))
        try reopened.close()
    }

    @Test(arguments: Backend.durable)
    func strayFiles_areRemoved_andUnknownOnesLeftAlone(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open()
        try Self.write(log, count: 3, seed: 1).forEach { _ in }
        try log.close()
        let stray = ["00000000000000000777.index", "00000000000000000777.timeindex", "rivulet.checkpoint.tmp"]
        for name in stray + ["notes.txt"] { try writeFile(FileSystem.join(harness.partitionPath, name), [1, 2, 3]) }
        let reopened = try harness.open()
        let names = Set(try FileSystem.list(harness.partitionPath))
        for name in stray { #expect(!names.contains(name)) }
        #expect(names.contains("notes.txt"))
        #expect(reopened.logEndOffset > 0)
        try reopened.close()
    }
}
