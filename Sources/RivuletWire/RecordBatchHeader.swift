import NIOCore

/// Byte positions of the fields of a Kafka record batch v2 header (61 bytes), relative to the
/// start of the batch. See `DefaultRecordBatch.java` in Apache Kafka.
public enum RecordBatchLayout {
    public static let baseOffset = 0
    public static let batchLength = 8
    public static let partitionLeaderEpoch = 12
    public static let magic = 16
    public static let crc = 17
    public static let attributes = 21
    public static let lastOffsetDelta = 23
    public static let baseTimestamp = 27
    public static let maxTimestamp = 35
    public static let producerId = 43
    public static let producerEpoch = 51
    public static let baseSequence = 53
    public static let recordCount = 57
    /// The size of the whole header; records (or the compressed block) start here.
    public static let headerSize = 61
    /// baseOffset + batchLength: the bytes not counted by `batchLength`.
    public static let logOverhead = 12
    /// The first byte covered by the CRC.
    public static let crcCoverageStart = attributes
    /// The only magic this engine stores.
    public static let currentMagic: Int8 = 2
}

/// The compression codec in bits 0-2 of a batch's attributes.
public enum CompressionCodec: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    /// Kafka's `compression.type` names: none, gzip, snappy, lz4, zstd.
    public var description: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    /// Parses Kafka's `compression.type` name.
    public init?(name: String) {
        guard let codec = CompressionCodec.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = codec
    }
}

/// The attributes of a record batch v2 (int16).
public struct RecordBatchAttributes: Hashable, Sendable {
    public var rawValue: Int16

    public init(rawValue: Int16) { self.rawValue = rawValue }

    public init(compression: CompressionCodec = .none, logAppendTime: Bool = false,
                transactional: Bool = false, control: Bool = false) {
        var raw = compression.rawValue
        if logAppendTime { raw |= 1 << 3 }
        if transactional { raw |= 1 << 4 }
        if control { raw |= 1 << 5 }
        rawValue = raw
    }

    /// The codec, or nil for the reserved values 5-7.
    public var compression: CompressionCodec? { CompressionCodec(rawValue: rawValue & 0x07) }
    /// Bit 3: timestamps are the broker's LogAppendTime rather than the producer's CreateTime.
    public var isLogAppendTime: Bool { rawValue & (1 << 3) != 0 }
    /// Bit 4: the batch belongs to a transaction.
    public var isTransactional: Bool { rawValue & (1 << 4) != 0 }
    /// Bit 5: the batch holds a control record (a transaction marker).
    public var isControl: Bool { rawValue & (1 << 5) != 0 }
    /// Bit 6: the batch carries a delete horizon (compaction).
    public var hasDeleteHorizon: Bool { rawValue & (1 << 6) != 0 }
}

/// The decoded 61-byte header of one record batch v2.
public struct RecordBatchHeader: Hashable, Sendable {
    public var baseOffset: Int64
    /// Bytes after the batchLength field; the whole batch is `batchLength + 12` bytes.
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: RecordBatchAttributes
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    /// The size of the whole batch in bytes, header included.
    public var totalSize: Int { Int(batchLength) + RecordBatchLayout.logOverhead }
    /// The offset of the batch's last record.
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    /// The offset after the batch.
    public var nextOffset: Int64 { lastOffset + 1 }

    /// Reads the header at `index` of `buffer` without moving its reader index.
    /// Returns nil when fewer than 61 bytes are available there.
    @inlinable
    public init?(from buffer: ByteBuffer, at index: Int) {
        guard index >= buffer.readerIndex, index + RecordBatchLayout.headerSize <= buffer.writerIndex,
              let baseOffset = buffer.getInteger(at: index, as: Int64.self),
              let batchLength = buffer.getInteger(at: index + 8, as: Int32.self),
              let epoch = buffer.getInteger(at: index + 12, as: Int32.self),
              let magic = buffer.getInteger(at: index + 16, as: Int8.self),
              let crc = buffer.getInteger(at: index + 17, as: UInt32.self),
              let attributes = buffer.getInteger(at: index + 21, as: Int16.self),
              let lastOffsetDelta = buffer.getInteger(at: index + 23, as: Int32.self),
              let baseTimestamp = buffer.getInteger(at: index + 27, as: Int64.self),
              let maxTimestamp = buffer.getInteger(at: index + 35, as: Int64.self),
              let producerId = buffer.getInteger(at: index + 43, as: Int64.self),
              let producerEpoch = buffer.getInteger(at: index + 51, as: Int16.self),
              let baseSequence = buffer.getInteger(at: index + 53, as: Int32.self),
              let recordCount = buffer.getInteger(at: index + 57, as: Int32.self)
        else { return nil }
        self.baseOffset = baseOffset
        self.batchLength = batchLength
        self.partitionLeaderEpoch = epoch
        self.magic = magic
        self.crc = crc
        self.attributes = RecordBatchAttributes(rawValue: attributes)
        self.lastOffsetDelta = lastOffsetDelta
        self.baseTimestamp = baseTimestamp
        self.maxTimestamp = maxTimestamp
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.recordCount = recordCount
    }

    public init(baseOffset: Int64 = 0, batchLength: Int32, partitionLeaderEpoch: Int32 = -1, magic: Int8 = 2,
                crc: UInt32 = 0, attributes: RecordBatchAttributes, lastOffsetDelta: Int32,
                baseTimestamp: Int64, maxTimestamp: Int64, producerId: Int64 = -1, producerEpoch: Int16 = -1,
                baseSequence: Int32 = -1, recordCount: Int32) {
        self.baseOffset = baseOffset
        self.batchLength = batchLength
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.magic = magic
        self.crc = crc
        self.attributes = attributes
        self.lastOffsetDelta = lastOffsetDelta
        self.baseTimestamp = baseTimestamp
        self.maxTimestamp = maxTimestamp
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.recordCount = recordCount
    }

    /// Writes the 61 header bytes (the CRC as stored in `crc`, not recomputed).
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(baseOffset)
        buffer.writeInteger(batchLength)
        buffer.writeInteger(partitionLeaderEpoch)
        buffer.writeInteger(magic)
        buffer.writeInteger(crc)
        buffer.writeInteger(attributes.rawValue)
        buffer.writeInteger(lastOffsetDelta)
        buffer.writeInteger(baseTimestamp)
        buffer.writeInteger(maxTimestamp)
        buffer.writeInteger(producerId)
        buffer.writeInteger(producerEpoch)
        buffer.writeInteger(baseSequence)
        buffer.writeInteger(recordCount)
    }
}

/// Why a record batch was rejected. Mapped to Kafka's CORRUPT_MESSAGE (2) or
/// INVALID_RECORD (87) / UNSUPPORTED_FOR_MESSAGE_FORMAT at the protocol edge.
public enum RecordBatchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Fewer bytes than a header, or than the batch's own length field says.
    case truncated(position: Int, needed: Int, available: Int)
    /// batchLength is smaller than the header or absurdly large.
    case invalidLength(position: Int, batchLength: Int32)
    /// Magic other than 2.
    case unsupportedMagic(position: Int, magic: Int8)
    /// The stored CRC does not match the bytes.
    case checksumMismatch(position: Int, stored: UInt32, computed: UInt32)
    /// A header field contradicts another (record count vs last offset delta, reserved codec...).
    case invalidHeader(position: Int, reason: String)
    /// A record inside the batch is malformed.
    case invalidRecord(position: Int, reason: String)
    /// Compressed data could not be decompressed.
    case decompressionFailed(codec: CompressionCodec, reason: String)
    /// The batch or its decompressed records exceed a configured limit.
    case tooLarge(size: Int, limit: Int)

    public var description: String {
        switch self {
        case let .truncated(position, needed, available):
            "batch at byte \(position) truncated: needs \(needed) bytes, \(available) available"
        case let .invalidLength(position, batchLength):
            "batch at byte \(position) has invalid batchLength \(batchLength)"
        case let .unsupportedMagic(position, magic):
            "batch at byte \(position) has magic \(magic), only 2 is supported"
        case let .checksumMismatch(position, stored, computed):
            "batch at byte \(position) has CRC \(String(stored, radix: 16)), bytes give \(String(computed, radix: 16))"
        case let .invalidHeader(position, reason):
            "batch at byte \(position): \(reason)"
        case let .invalidRecord(position, reason):
            "record in batch at byte \(position): \(reason)"
        case let .decompressionFailed(codec, reason):
            "\(codec) decompression failed: \(reason)"
        case let .tooLarge(size, limit):
            "batch of \(size) bytes exceeds the limit of \(limit) bytes"
        }
    }
}

/// One record batch v2: a view of exactly its bytes (`buffer.readableBytes == header.totalSize`).
///
/// Batches are bytes end to end: the broker stamps `baseOffset` and `partitionLeaderEpoch` (both
/// outside the CRC) in place and stores the bytes unchanged.
public struct RecordBatch: Sendable {
    /// The batch's bytes, readable from its first byte to its last.
    public var buffer: ByteBuffer
    /// The decoded header.
    public private(set) var header: RecordBatchHeader

    /// Wraps `buffer`, which must hold exactly one batch. Checks length and magic, not the CRC.
    public init(_ buffer: ByteBuffer) throws(RecordBatchError) {
        let position = buffer.readerIndex
        guard let header = RecordBatchHeader(from: buffer, at: position) else {
            throw .truncated(position: position, needed: RecordBatchLayout.headerSize, available: buffer.readableBytes)
        }
        guard header.magic == RecordBatchLayout.currentMagic else { throw .unsupportedMagic(position: position, magic: header.magic) }
        guard header.batchLength >= Int32(RecordBatchLayout.headerSize - RecordBatchLayout.logOverhead) else {
            throw .invalidLength(position: position, batchLength: header.batchLength)
        }
        guard header.totalSize == buffer.readableBytes else {
            throw .truncated(position: position, needed: header.totalSize, available: buffer.readableBytes)
        }
        self.buffer = buffer
        self.header = header
    }

    /// The CRC-32C computed over attributes..end.
    public var computedChecksum: UInt32 {
        CRC32C.checksum(buffer, at: buffer.readerIndex + RecordBatchLayout.crcCoverageStart,
                        length: buffer.readableBytes - RecordBatchLayout.crcCoverageStart)
    }

    /// Whether the stored CRC matches the bytes.
    public var isChecksumValid: Bool { computedChecksum == header.crc }

    /// Checks the CRC and the header's internal consistency, as a broker does before storing.
    public func validate() throws(RecordBatchError) {
        let position = buffer.readerIndex
        let computed = computedChecksum
        guard computed == header.crc else { throw .checksumMismatch(position: position, stored: header.crc, computed: computed) }
        guard header.attributes.compression != nil else {
            throw .invalidHeader(position: position, reason: "reserved compression codec \(header.attributes.rawValue & 7)")
        }
        guard header.recordCount >= 0, header.lastOffsetDelta >= 0 else {
            throw .invalidHeader(position: position, reason: "negative record count or last offset delta")
        }
        // Compaction can leave offset gaps, so a dense offset range is only required of batches
        // straight from a producer (`validateForProduce`).
    }

    /// The checks a broker applies to a batch arriving in a Produce request: `validate()` plus
    /// a dense offset range (lastOffsetDelta == recordCount - 1) and at least one record.
    public func validateForProduce() throws(RecordBatchError) {
        try validate()
        let position = buffer.readerIndex
        guard header.recordCount > 0 else { throw .invalidHeader(position: position, reason: "batch has no records") }
        guard header.lastOffsetDelta == header.recordCount - 1 else {
            throw .invalidHeader(position: position,
                                 reason: "lastOffsetDelta \(header.lastOffsetDelta) does not match recordCount \(header.recordCount)")
        }
    }

    /// Stamps the base offset in place (outside the CRC, so the CRC stays valid).
    public mutating func setBaseOffset(_ offset: Int64) {
        buffer.setInteger(offset, at: buffer.readerIndex + RecordBatchLayout.baseOffset)
        header.baseOffset = offset
    }

    /// Stamps the partition leader epoch in place (outside the CRC).
    public mutating func setPartitionLeaderEpoch(_ epoch: Int32) {
        buffer.setInteger(epoch, at: buffer.readerIndex + RecordBatchLayout.partitionLeaderEpoch)
        header.partitionLeaderEpoch = epoch
    }

    /// Sets LogAppendTime: attributes bit 3 and maxTimestamp (inside the CRC, so it is recomputed).
    public mutating func setLogAppendTime(_ timestampMs: Int64) {
        let start = buffer.readerIndex
        var attributes = header.attributes
        attributes.rawValue |= 1 << 3
        buffer.setInteger(attributes.rawValue, at: start + RecordBatchLayout.attributes)
        buffer.setInteger(timestampMs, at: start + RecordBatchLayout.maxTimestamp)
        header.attributes = attributes
        header.maxTimestamp = timestampMs
        let crc = computedChecksum
        buffer.setInteger(crc, at: start + RecordBatchLayout.crc)
        header.crc = crc
    }
}

/// Splits a buffer of concatenated record batches (a `records` field, or a segment file) into batches.
///
/// Iteration yields each whole batch as a slice sharing the buffer's storage. It stops at the end
/// of the buffer, or at the first batch that cannot be read. What happens then depends on `mode`:
/// `.strict` (Produce requests, recovery scans that must report) records an error in `failure`;
/// `.allowPartialTail` (fetch responses, where brokers may cut the last batch) ends quietly when
/// the last batch is incomplete.
public struct RecordBatchSequence: Sequence, Sendable {
    public enum Mode: Sendable { case strict, allowPartialTail }

    public let buffer: ByteBuffer
    public let mode: Mode

    public init(_ buffer: ByteBuffer, mode: Mode = .strict) {
        self.buffer = buffer
        self.mode = mode
    }

    public func makeIterator() -> Iterator { Iterator(buffer: buffer, mode: mode) }

    /// Every batch, or the first error. Checks framing and magic; CRCs are the caller's choice.
    public func batches() throws(RecordBatchError) -> [RecordBatch] {
        var iterator = makeIterator()
        var result: [RecordBatch] = []
        while let batch = iterator.next() { result.append(batch) }
        if let failure = iterator.failure { throw failure }
        return result
    }

    public struct Iterator: IteratorProtocol, Sendable {
        var buffer: ByteBuffer
        let mode: Mode
        /// Why iteration stopped before the end of the buffer, if it did.
        public private(set) var failure: RecordBatchError?
        /// The position just after the last batch returned (relative to the original reader index).
        public private(set) var validBytes = 0

        init(buffer: ByteBuffer, mode: Mode) {
            self.buffer = buffer
            self.mode = mode
        }

        public mutating func next() -> RecordBatch? {
            guard failure == nil, buffer.readableBytes > 0 else { return nil }
            let position = validBytes
            guard buffer.readableBytes >= RecordBatchLayout.logOverhead + 5,
                  let length = buffer.getInteger(at: buffer.readerIndex + RecordBatchLayout.batchLength, as: Int32.self),
                  let magic = buffer.getInteger(at: buffer.readerIndex + RecordBatchLayout.magic, as: Int8.self)
            else {
                if mode == .strict {
                    failure = .truncated(position: position, needed: RecordBatchLayout.headerSize, available: buffer.readableBytes)
                }
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                return nil
            }
            guard magic == RecordBatchLayout.currentMagic else {
                failure = .unsupportedMagic(position: position, magic: magic)
                return nil
            }
            guard length >= Int32(RecordBatchLayout.headerSize - RecordBatchLayout.logOverhead) else {
                failure = .invalidLength(position: position, batchLength: length)
                return nil
            }
            let total = Int(length) + RecordBatchLayout.logOverhead
            guard total <= buffer.readableBytes, let slice = buffer.readSlice(length: total) else {
                if mode == .strict {
                    failure = .truncated(position: position, needed: total, available: buffer.readableBytes)
                }
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                return nil
            }
            do {
                let batch = try RecordBatch(slice)
                validBytes += total
                return batch
            } catch {
                failure = error
                return nil
            }
        }
    }
}
