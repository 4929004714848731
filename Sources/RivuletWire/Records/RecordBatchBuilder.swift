import NIOCore

/// Encodes records into one Kafka record batch v2, as a producer's per-partition accumulator does.
///
/// Records are written straight into one reusable buffer as they are appended: the record's
/// size is computed first, then its bytes are written once, so an uncompressed batch costs no
/// allocation per record (and none per batch once the buffer has grown, if the previous batch
/// was released before `reset()`). `build()` fills in the 61-byte header (lastOffsetDelta,
/// base/max timestamp, recordCount, attributes, producer fields, partitionLeaderEpoch -1,
/// baseOffset 0) and the CRC-32C; a compressed batch is compressed at that point into a second
/// reusable buffer.
///
/// A value type: keep one per partition and call `reset()` after each batch. Not meant to be
/// shared between threads while appending (it is `Sendable` so it can move between them).
public struct RecordBatchBuilder: Sendable {
    /// The codec the batch is compressed with (`compression.type`).
    public var compression: CompressionCodec
    /// The codec level (`compression.<codec>.level`); nil is the codec's default.
    public var compressionLevel: Int?
    /// When set, the batch uses LogAppendTime: attributes bit 3, and this is its max timestamp
    /// (what a broker writes with `log.message.timestamp.type=LogAppendTime`). Nil: CreateTime.
    public var logAppendTimeMs: Int64?
    /// Attributes bit 4: the batch is part of a transaction.
    public var isTransactional: Bool
    /// Attributes bit 5: the batch holds control records (transaction markers).
    public var isControl: Bool
    /// The idempotent producer's id, or -1.
    public var producerId: Int64
    /// The producer's epoch, or -1.
    public var producerEpoch: Int16
    /// The sequence number of the batch's first record, or -1.
    public var baseSequence: Int32
    /// Written as given; brokers stamp the real epoch in place. Kafka's producers write -1.
    public var partitionLeaderEpoch: Int32 = -1
    /// Written as given; brokers assign the real offset in place. Producers write 0.
    public var baseOffset: Int64 = 0
    /// Codec state reused across batches; created on the first compressed `build()` when nil.
    public var compressionContext: CompressionContext?

    /// The number of records appended since the last `reset()`.
    public private(set) var recordCount = 0
    /// The first record's timestamp (the batch's base timestamp), -1 before any record.
    public private(set) var baseTimestampMs: Int64 = -1
    /// The largest record timestamp so far, -1 before any record.
    public private(set) var maxTimestampMs: Int64 = -1

    /// The batch header's space followed by the uncompressed records.
    private var buffer: ByteBuffer
    /// The compressed batch of the last compressed `build()`.
    private var compressedBuffer: ByteBuffer

    /// The largest batch the format allows (batchLength is an int32).
    public static let batchBytesMax = Int(Int32.max)

    /// Creates an empty builder.
    ///
    /// - Parameters:
    ///   - initialCapacityBytes: the buffer's first capacity (Kafka's `batch.size` is a good
    ///     value); it grows as needed and keeps its size across `reset()`.
    public init(compression: CompressionCodec = .none, compressionLevel: Int? = nil,
                producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
                isTransactional: Bool = false, isControl: Bool = false, logAppendTimeMs: Int64? = nil,
                initialCapacityBytes: Int = 16 * 1024, allocator: ByteBufferAllocator = ByteBufferAllocator(),
                compressionContext: CompressionContext? = nil) {
        self.compression = compression
        self.compressionLevel = compressionLevel
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.isTransactional = isTransactional
        self.isControl = isControl
        self.logAppendTimeMs = logAppendTimeMs
        self.compressionContext = compressionContext
        buffer = allocator.buffer(capacity: max(initialCapacityBytes, RecordBatchLayout.headerSize))
        buffer.writeRepeatingByte(0, count: RecordBatchLayout.headerSize)
        compressedBuffer = allocator.buffer(capacity: 0)
    }

    /// Whether no record has been appended since the last `reset()`.
    public var isEmpty: Bool { recordCount == 0 }

    /// The bytes of the uncompressed records appended so far.
    public var uncompressedRecordsSizeBytes: Int { buffer.readableBytes - RecordBatchLayout.headerSize }

    /// The batch's size if built now: exact when uncompressed; for a compressed batch, the
    /// uncompressed size (an upper bound in practice), which is what a producer compares with
    /// `batch.size` to decide when to close the batch.
    public var estimatedSizeBytes: Int { buffer.readableBytes }

    /// Forgets the records and starts a new batch, keeping the buffers (no allocation when the
    /// last built batch has been released). Settings (codec, producer fields) stay as they are.
    public mutating func reset() {
        buffer.clear()
        buffer.writeRepeatingByte(0, count: RecordBatchLayout.headerSize)
        recordCount = 0
        baseTimestampMs = -1
        maxTimestampMs = -1
    }

    // MARK: Appending

    /// Appends a record whose key and value are arrays (nil is null, written as length -1).
    ///
    /// - Returns: the record's offset delta in the batch.
    /// - Throws: `RecordBatchError.invalidRecord` for a timestamp below -1, `.tooLarge` when the
    ///   batch would pass `batchBytesMax`. The builder is unchanged when it throws.
    @discardableResult
    public mutating func append(timestampMs: Int64, key: [UInt8]?, value: [UInt8]?,
                                headers: [RecordHeader] = []) throws(RecordBatchError) -> Int32 {
        try appendRecord(timestampMs: timestampMs, keyLength: key?.count ?? -1, valueLength: value?.count ?? -1,
                         headers: headers,
                         writeKey: { writer in key?.withUnsafeBytes { writer.bytes($0) } },
                         writeValue: { writer in value?.withUnsafeBytes { writer.bytes($0) } })
    }

    /// Appends a record whose key and value are the readable bytes of buffers (nil is null).
    @discardableResult @_disfavoredOverload
    public mutating func append(timestampMs: Int64, key: ByteBuffer?, value: ByteBuffer?,
                                headers: [RecordHeader] = []) throws(RecordBatchError) -> Int32 {
        try appendRecord(timestampMs: timestampMs, keyLength: key?.readableBytes ?? -1,
                         valueLength: value?.readableBytes ?? -1, headers: headers,
                         writeKey: { writer in key?.withUnsafeReadableBytes { writer.bytes($0) } },
                         writeValue: { writer in value?.withUnsafeReadableBytes { writer.bytes($0) } })
    }

    /// Appends a record whose key and value are raw bytes (nil is null); they are copied.
    @discardableResult @_disfavoredOverload
    public mutating func append(timestampMs: Int64, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
                                headers: [RecordHeader] = []) throws(RecordBatchError) -> Int32 {
        try appendRecord(timestampMs: timestampMs, keyLength: key?.count ?? -1, valueLength: value?.count ?? -1,
                         headers: headers,
                         writeKey: { writer in if let key { writer.bytes(key) } },
                         writeValue: { writer in if let value { writer.bytes(value) } })
    }

    /// The bytes the next record would add to the uncompressed batch, exactly (nil lengths are
    /// null). A producer checks `estimatedSizeBytes + sizeOfNextRecord(...) <= batch.size`
    /// before appending to a non-empty batch.
    public func sizeOfNextRecord(timestampMs: Int64, keyLength: Int?, valueLength: Int?,
                                 headers: [RecordHeader] = []) -> Int {
        let timestampDelta = recordCount == 0 ? 0 : timestampMs &- baseTimestampMs
        let body = Self.bodySize(timestampDelta: timestampDelta, offsetDelta: Int32(clamping: recordCount),
                                 keyLength: keyLength ?? -1, valueLength: valueLength ?? -1, headers: headers)
        return varintSize(Int32(clamping: body)) + body
    }

    private mutating func appendRecord(timestampMs: Int64, keyLength: Int, valueLength: Int, headers: [RecordHeader],
                                       writeKey: (inout RawWriter) -> Void,
                                       writeValue: (inout RawWriter) -> Void) throws(RecordBatchError) -> Int32 {
        guard timestampMs >= -1 else {
            throw .invalidRecord(position: 0, reason: "timestamp \(timestampMs) is negative (only -1, no timestamp, is allowed)")
        }
        let limit = Self.batchBytesMax
        guard recordCount < Int(Int32.max), keyLength < limit, valueLength < limit else {
            throw .tooLarge(size: max(keyLength, valueLength), limit: limit)
        }
        let first = recordCount == 0
        let timestampDelta = first ? 0 : timestampMs &- baseTimestampMs
        let offsetDelta = Int32(recordCount)
        let body = Self.bodySize(timestampDelta: timestampDelta, offsetDelta: offsetDelta,
                                 keyLength: keyLength, valueLength: valueLength, headers: headers)
        guard body < limit, buffer.readableBytes + 5 + body <= limit else {
            throw .tooLarge(size: buffer.readableBytes + 5 + body, limit: limit)
        }

        // Sizes first, then every byte straight into the buffer through one pointer.
        let total = varintSize(Int32(body)) + body
        let written = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { region -> Int in
            guard let base = region.baseAddress else { return 0 }
            var writer = RawWriter(pointer: base)
            writer.varint(Int32(body))
            writer.byte(0) // record attributes: unused
            writer.varlong(timestampDelta)
            writer.varint(offsetDelta)
            writer.varint(Int32(keyLength))
            writeKey(&writer)
            writer.varint(Int32(valueLength))
            writeValue(&writer)
            writer.varint(Int32(headers.count))
            for header in headers {
                var key = header.key
                key.withUTF8 { utf8 in
                    writer.varint(Int32(utf8.count))
                    writer.bytes(UnsafeRawBufferPointer(utf8))
                }
                if let length = header.valueLength {
                    writer.varint(Int32(length))
                    header.withUnsafeValue { writer.bytes($0) }
                } else {
                    writer.varint(-1)
                }
            }
            return base.distance(to: writer.pointer)
        }
        assert(written == total, "record size computed as \(total) bytes, \(written) written")

        if first {
            baseTimestampMs = timestampMs
            maxTimestampMs = timestampMs
        } else if timestampMs > maxTimestampMs {
            maxTimestampMs = timestampMs
        }
        recordCount += 1
        return offsetDelta
    }

    /// The record's size after its length varint.
    private static func bodySize(timestampDelta: Int64, offsetDelta: Int32, keyLength: Int, valueLength: Int,
                                 headers: [RecordHeader]) -> Int {
        var size = 1 + varlongSize(timestampDelta) + varintSize(offsetDelta)
        size += keyLength < 0 ? 1 : varintSize(Int32(clamping: keyLength)) + keyLength
        size += valueLength < 0 ? 1 : varintSize(Int32(clamping: valueLength)) + valueLength
        size += varintSize(Int32(clamping: headers.count))
        for header in headers {
            let keyLength = header.key.utf8.count
            size += varintSize(Int32(clamping: keyLength)) + keyLength
            if let valueLength = header.valueLength {
                size += varintSize(Int32(clamping: valueLength)) + valueLength
            } else {
                size += 1
            }
        }
        return size
    }

    // MARK: Building

    /// The batch of the records appended since the last `reset()`, header and CRC filled in.
    ///
    /// The batch shares the builder's buffer (no copy). Appending after `build()` continues the
    /// same batch; call `reset()` to start the next one.
    ///
    /// - Throws: `RecordBatchError.invalidHeader` when no record was appended (Kafka has no
    ///   empty producer batches), `.tooLarge` if compression expanded past `batchBytesMax`.
    public mutating func build() throws(RecordBatchError) -> RecordBatch {
        guard recordCount > 0 else { throw .invalidHeader(position: 0, reason: "no records were appended") }
        guard compression != .none else {
            Self.stamp(header, into: &buffer)
            return try RecordBatch(buffer)
        }
        let context: CompressionContext
        if let existing = compressionContext {
            context = existing
        } else {
            context = CompressionContext()
            compressionContext = context
        }
        compressedBuffer.clear(minimumCapacity: buffer.readableBytes / 2 + RecordBatchLayout.headerSize)
        compressedBuffer.writeRepeatingByte(0, count: RecordBatchLayout.headerSize)
        let records = buffer.getSlice(at: buffer.readerIndex + RecordBatchLayout.headerSize,
                                      length: uncompressedRecordsSizeBytes) ?? ByteBuffer()
        compression.compress(records, into: &compressedBuffer, level: compressionLevel, context: context)
        guard compressedBuffer.readableBytes <= Self.batchBytesMax else {
            throw .tooLarge(size: compressedBuffer.readableBytes, limit: Self.batchBytesMax)
        }
        Self.stamp(header, into: &compressedBuffer)
        return try RecordBatch(compressedBuffer)
    }

    /// The header fields of the batch being built (length and CRC are filled in by `stamp`).
    private var header: RecordBatchHeader {
        RecordBatchHeader(baseOffset: baseOffset, batchLength: 0, partitionLeaderEpoch: partitionLeaderEpoch,
                          attributes: RecordBatchAttributes(compression: compression, logAppendTime: logAppendTimeMs != nil,
                                                            transactional: isTransactional, control: isControl),
                          lastOffsetDelta: Int32(recordCount - 1), baseTimestamp: baseTimestampMs,
                          maxTimestamp: logAppendTimeMs ?? maxTimestampMs, producerId: producerId,
                          producerEpoch: producerEpoch, baseSequence: baseSequence, recordCount: Int32(recordCount))
    }

    /// Writes `header` over the first 61 readable bytes of `target` (which holds the whole
    /// batch), with batchLength from `target`'s size, then the CRC. Static, so that the builder
    /// is not copied while its buffer is borrowed (a copy would make the write copy-on-write).
    private static func stamp(_ header: RecordBatchHeader, into target: inout ByteBuffer) {
        let start = target.readerIndex
        target.setInteger(header.baseOffset, at: start + RecordBatchLayout.baseOffset)
        target.setInteger(Int32(target.readableBytes - RecordBatchLayout.logOverhead), at: start + RecordBatchLayout.batchLength)
        target.setInteger(header.partitionLeaderEpoch, at: start + RecordBatchLayout.partitionLeaderEpoch)
        target.setInteger(header.magic, at: start + RecordBatchLayout.magic)
        target.setInteger(header.attributes.rawValue, at: start + RecordBatchLayout.attributes)
        target.setInteger(header.lastOffsetDelta, at: start + RecordBatchLayout.lastOffsetDelta)
        target.setInteger(header.baseTimestamp, at: start + RecordBatchLayout.baseTimestamp)
        target.setInteger(header.maxTimestamp, at: start + RecordBatchLayout.maxTimestamp)
        target.setInteger(header.producerId, at: start + RecordBatchLayout.producerId)
        target.setInteger(header.producerEpoch, at: start + RecordBatchLayout.producerEpoch)
        target.setInteger(header.baseSequence, at: start + RecordBatchLayout.baseSequence)
        target.setInteger(header.recordCount, at: start + RecordBatchLayout.recordCount)
        let crc = CRC32C.checksum(target, at: start + RecordBatchLayout.crcCoverageStart,
                                  length: target.readableBytes - RecordBatchLayout.crcCoverageStart)
        target.setInteger(crc, at: start + RecordBatchLayout.crc)
    }
}

/// Writes Kafka's encodings through a raw pointer into memory already reserved for them.
struct RawWriter {
    var pointer: UnsafeMutableRawPointer

    @inline(__always)
    mutating func byte(_ value: UInt8) {
        pointer.storeBytes(of: value, as: UInt8.self)
        pointer += 1
    }

    @inline(__always)
    mutating func unsignedVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            byte(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        byte(UInt8(truncatingIfNeeded: remaining))
    }

    @inline(__always)
    mutating func varint(_ value: Int32) {
        unsignedVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    @inline(__always)
    mutating func varlong(_ value: Int64) {
        unsignedVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inline(__always)
    mutating func bytes(_ source: UnsafeRawBufferPointer) {
        guard let base = source.baseAddress, source.count > 0 else { return }
        pointer.copyMemory(from: base, byteCount: source.count)
        pointer += source.count
    }
}
