import NIOCore
import RivuletCore
import RivuletWire

/// Writes batches to a log, reads them back and checks them: the self-test behind
/// `rivulet log roundtrip`, usable on any engine.
public enum LogRoundtrip {
    /// What a roundtrip measured and found.
    public struct Report: Sendable, Hashable {
        /// Batches written and the size of each, in bytes.
        public var batches: Int
        public var batchBytes: Int
        /// Time to append every batch (flush included when the config asks for it), in nanoseconds.
        public var appendNanoseconds: UInt64
        /// Time to read every batch back and check it, in nanoseconds.
        public var readNanoseconds: UInt64
        /// Batches read back whose offsets, size and CRC were right.
        public var batchesVerified: Int
        /// The log end offset found after closing and reopening (durable engines), else nil.
        public var logEndOffsetAfterReopen: Int64?

        /// Bytes written (and read back).
        public var totalBytes: Int { batches * batchBytes }
        /// Append throughput in bytes per second.
        public var appendBytesPerSecond: Double { rate(totalBytes, appendNanoseconds) }
        /// Read throughput in bytes per second.
        public var readBytesPerSecond: Double { rate(totalBytes, readNanoseconds) }

        private func rate(_ bytes: Int, _ nanoseconds: UInt64) -> Double {
            nanoseconds == 0 ? 0 : Double(bytes) * 1e9 / Double(nanoseconds)
        }
    }

    /// Why a roundtrip failed its checks.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// What was wrong.
        public var description: String

        /// A failure saying what was wrong.
        public init(description: String) {
            self.description = description
        }
    }

    /// Appends `batches` batches of exactly `batchBytes` bytes to a fresh log for `topicPartition`
    /// (an existing one is deleted first), reads everything back checking offsets, sizes and CRCs,
    /// closes and reopens it (durable engines), and deletes it unless `keep`.
    public static func run(engine: any StorageEngine, topicPartition: TopicPartition, batches: Int, batchBytes: Int,
                           config: LogConfig, clock: any EngineClock, keep: Bool = false) throws -> Report {
        guard batches > 0 else { throw Failure(description: "--batches must be at least 1") }
        guard batchBytes >= SyntheticBatch.minimumTotalBytes, batchBytes <= SyntheticBatch.totalBytesMax else {
            throw Failure(description: "--batch-bytes must be between \(SyntheticBatch.minimumTotalBytes) and \(SyntheticBatch.totalBytesMax)")
        }
        if try engine.partitions().contains(topicPartition) { try engine.deleteLog(topicPartition) }
        var config = config
        config.maxMessageBytes = max(config.maxMessageBytes, batchBytes)
        let log = try engine.openLog(topicPartition, config: config)
        let batch = SyntheticBatch.make(totalBytes: batchBytes, timestampMs: clock.wallMilliseconds())

        let appendStart = clock.monotonicNanoseconds()
        for index in 0 ..< batches {
            let info = try log.append(batch, assignOffsets: true)
            guard info.firstOffset == Int64(index) else {
                throw Failure(description: "batch \(index) got offset \(info.firstOffset)")
            }
        }
        try log.flush()
        let appendNanoseconds = clock.monotonicNanoseconds() - appendStart

        let readStart = clock.monotonicNanoseconds()
        var verified = 0
        var offset: Int64 = 0
        while offset < log.logEndOffset {
            let read = try log.read(from: offset, maxBytes: max(batchBytes, 1 << 20), maxOffset: nil)
            guard read.batchCount > 0 else { throw Failure(description: "empty read at offset \(offset)") }
            var iterator = RecordBatchSequence(read.records).makeIterator()
            while let stored = iterator.next() {
                guard stored.header.baseOffset == offset, stored.buffer.readableBytes == batchBytes, stored.isChecksumValid else {
                    throw Failure(description: "batch at offset \(offset) came back wrong (base \(stored.header.baseOffset), "
                        + "\(stored.buffer.readableBytes) bytes, CRC \(stored.isChecksumValid ? "ok" : "BAD"))")
                }
                offset = stored.header.nextOffset
                verified += 1
            }
            if let failure = iterator.failure { throw Failure(description: "unreadable read at offset \(offset): \(failure)") }
        }
        let readNanoseconds = clock.monotonicNanoseconds() - readStart
        guard verified == batches else { throw Failure(description: "read back \(verified) of \(batches) batches") }
        try log.close()

        var reopenedEnd: Int64?
        if engine.isDurable {
            let reopened = try engine.openLog(topicPartition, config: config)
            reopenedEnd = reopened.logEndOffset
            try reopened.close()
            guard reopenedEnd == Int64(batches) else {
                throw Failure(description: "after reopening the log ends at \(reopenedEnd ?? -1), expected \(batches)")
            }
        }
        if !keep { try engine.deleteLog(topicPartition) }
        return Report(batches: batches, batchBytes: batchBytes, appendNanoseconds: appendNanoseconds, readNanoseconds: readNanoseconds,
                      batchesVerified: verified, logEndOffsetAfterReopen: reopenedEnd)
    }
}
