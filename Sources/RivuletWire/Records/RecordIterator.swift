import NIOCore

/// Reads the records of one batch in order, validating each one, without allocating.
///
/// Get one from `RecordBatch.makeRecordIterator(...)`. Every record is checked: its length
/// varint against the bytes left, every varint's size (5 bytes for varints, 10 for varlongs),
/// key/value lengths (-1 is null, other negatives are invalid), header counts and lengths (a
/// header key cannot be null), that the fields fill the declared length exactly, that offset
/// deltas increase and stay within `lastOffsetDelta`, and that the batch holds exactly
/// `recordCount` records and no trailing bytes. A failure throws
/// `RecordBatchError.invalidRecord` with the batch position and what was wrong; the iterator
/// then returns nil.
public struct RecordIterator: Sendable {
    /// The uncompressed records (a slice of the batch, or decompressed bytes).
    let storage: ByteBuffer
    /// The absolute index in `storage` of the next record.
    var index: Int
    /// The records left to read, per the header's `recordCount`.
    var remaining: Int
    var recordNumber = 0
    var previousOffsetDelta: Int64 = -1
    var failed = false
    let recordCount: Int
    let baseOffset: Int64
    let baseTimestamp: Int64
    let logAppendTimeMs: Int64?
    let lastOffsetDelta: Int64
    let baseSequence: Int32
    /// The batch's position, reported in errors.
    let batchPosition: Int

    init(storage: ByteBuffer, header: RecordBatchHeader, batchPosition: Int) {
        self.storage = storage
        index = storage.readerIndex
        remaining = Int(max(header.recordCount, 0))
        recordCount = remaining
        baseOffset = header.baseOffset
        baseTimestamp = header.baseTimestamp
        logAppendTimeMs = header.attributes.isLogAppendTime ? header.maxTimestamp : nil
        lastOffsetDelta = Int64(header.lastOffsetDelta)
        baseSequence = header.baseSequence
        self.batchPosition = batchPosition
    }

    /// The number of records the batch declares.
    public var count: Int { recordCount }

    /// The next record, nil after the last, or a typed error for a malformed record.
    public mutating func next() throws(RecordBatchError) -> Record? {
        let storage = self.storage
        return try storage.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) throws(RecordBatchError) -> Record? in
            try self.next(in: raw)
        }
    }

    /// `next()` with the storage's readable bytes already at hand (`raw` must be exactly them).
    @inline(__always)
    mutating func next(in raw: UnsafeRawBufferPointer) throws(RecordBatchError) -> Record? {
        guard !failed else { return nil }
        let origin = storage.readerIndex
        let relative = index - origin
        guard remaining > 0 else {
            if relative != raw.count {
                failed = true
                throw .invalidRecord(position: batchPosition,
                                     reason: "\(raw.count - relative) bytes follow the last of \(recordCount) records")
            }
            return nil
        }
        guard relative < raw.count else {
            failed = true
            throw .invalidRecord(position: batchPosition,
                                 reason: "batch declares \(recordCount) records but its bytes end after \(recordNumber)")
        }
        let fields: RecordFields
        do {
            fields = try RecordFields.parse(raw, at: relative)
        } catch {
            failed = true
            throw .invalidRecord(position: batchPosition,
                                 reason: "record \(recordNumber) at records byte \(relative): \(error)")
        }
        let offsetDelta = Int64(fields.offsetDelta)
        guard offsetDelta > previousOffsetDelta, offsetDelta <= lastOffsetDelta else {
            failed = true
            throw .invalidRecord(position: batchPosition,
                                 reason: "record \(recordNumber) has offset delta \(offsetDelta), expected above \(previousOffsetDelta) and at most lastOffsetDelta \(lastOffsetDelta)")
        }
        previousOffsetDelta = offsetDelta
        remaining -= 1
        recordNumber += 1
        index = origin + relative + fields.size
        let sequence: Int32 = baseSequence < 0 ? -1 : RecordIterator.incrementSequence(baseSequence, fields.offsetDelta)
        return Record(offset: baseOffset &+ offsetDelta,
                      timestampMs: logAppendTimeMs ?? (baseTimestamp &+ fields.timestampDelta),
                      offsetDelta: fields.offsetDelta, sequence: sequence, attributes: fields.attributes,
                      storage: storage,
                      keyIndex: origin + fields.keyIndex, keyLength: fields.keyLength,
                      valueIndex: origin + fields.valueIndex, valueLength: fields.valueLength,
                      headersIndex: origin + fields.headersIndex, headerCount: fields.headerCount,
                      sizeInBytes: fields.size)
    }

    /// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from Int32.max to 0.
    static func incrementSequence(_ sequence: Int32, _ increment: Int32) -> Int32 {
        if sequence > Int32.max - increment { return increment - (Int32.max - sequence) - 1 }
        return sequence + increment
    }
}

/// What was wrong with one record; turned into text only when reported.
enum RecordFault: Error, CustomStringConvertible {
    case malformedVarint(field: StaticString)
    case tooShort(length: Int)
    case beyondBatch(length: Int, available: Int)
    case negativeLength(field: StaticString, length: Int)
    case beyondRecord(field: StaticString, length: Int, available: Int)
    case negativeCount(count: Int)
    case sizeMismatch(declared: Int, read: Int)

    var description: String {
        switch self {
        case let .malformedVarint(field): "\(field) varint is truncated or too long"
        case let .tooShort(length): "length \(length) is below the 6-byte minimum"
        case let .beyondBatch(length, available): "length \(length) exceeds the \(available) bytes left in the batch"
        case let .negativeLength(field, length): "\(field) length \(length) is negative"
        case let .beyondRecord(field, length, available): "\(field) length \(length) exceeds the \(available) bytes left in the record"
        case let .negativeCount(count): "header count \(count) is negative"
        case let .sizeMismatch(declared, read): "length says \(declared) bytes but the fields take \(read)"
        }
    }
}

/// The positions of one record's fields, relative to the start of the records bytes.
struct RecordFields {
    var size = 0
    var attributes: Int8 = 0
    var timestampDelta: Int64 = 0
    var offsetDelta: Int32 = 0
    var keyIndex = 0
    var keyLength = -1
    var valueIndex = 0
    var valueLength = -1
    var headersIndex = 0
    var headerCount = 0

    /// The smallest record body: attributes, timestamp delta, offset delta, key length, value
    /// length and header count, one byte each.
    static let minimumBodySize = 6

    /// Parses and validates the record starting at `start` in `raw`.
    @inline(__always)
    static func parse(_ raw: UnsafeRawBufferPointer, at start: Int) throws(RecordFault) -> RecordFields {
        var cursor = ByteCursor(raw, index: start, end: raw.count)
        guard let length = cursor.varint() else { throw .malformedVarint(field: "record length") }
        let bodyLength = Int(length)
        guard bodyLength >= minimumBodySize else { throw .tooShort(length: bodyLength) }
        guard bodyLength <= cursor.available else { throw .beyondBatch(length: bodyLength, available: cursor.available) }
        let bodyStart = cursor.index
        cursor.end = bodyStart + bodyLength

        var fields = RecordFields()
        fields.size = bodyStart + bodyLength - start
        fields.attributes = Int8(bitPattern: cursor.byteUnchecked())
        guard let timestampDelta = cursor.varlong() else { throw .malformedVarint(field: "timestamp delta") }
        fields.timestampDelta = timestampDelta
        guard let offsetDelta = cursor.varint() else { throw .malformedVarint(field: "offset delta") }
        fields.offsetDelta = offsetDelta

        guard let keyLength = cursor.varint() else { throw .malformedVarint(field: "key length") }
        fields.keyLength = Int(keyLength)
        fields.keyIndex = cursor.index
        try cursor.skip(length: fields.keyLength, field: "key", nullable: true)

        guard let valueLength = cursor.varint() else { throw .malformedVarint(field: "value length") }
        fields.valueLength = Int(valueLength)
        fields.valueIndex = cursor.index
        try cursor.skip(length: fields.valueLength, field: "value", nullable: true)

        guard let headerCount = cursor.varint() else { throw .malformedVarint(field: "header count") }
        guard headerCount >= 0 else { throw .negativeCount(count: Int(headerCount)) }
        // Every header takes at least two bytes (two length varints).
        guard Int(headerCount) <= cursor.available / 2 else {
            throw .beyondRecord(field: "header count", length: Int(headerCount), available: cursor.available)
        }
        fields.headerCount = Int(headerCount)
        fields.headersIndex = cursor.index
        for _ in 0 ..< fields.headerCount {
            guard let headerKeyLength = cursor.varint() else { throw .malformedVarint(field: "header key length") }
            try cursor.skip(length: Int(headerKeyLength), field: "header key", nullable: false)
            guard let headerValueLength = cursor.varint() else { throw .malformedVarint(field: "header value length") }
            try cursor.skip(length: Int(headerValueLength), field: "header value", nullable: true)
        }
        guard cursor.index == cursor.end else {
            throw .sizeMismatch(declared: bodyLength, read: cursor.index - bodyStart)
        }
        return fields
    }
}

/// A bounds-checked reader over raw bytes. Every read checks `end`; nothing traps.
struct ByteCursor {
    let base: UnsafeRawBufferPointer
    var index: Int
    var end: Int

    @inline(__always)
    init(_ base: UnsafeRawBufferPointer, index: Int, end: Int) {
        self.base = base
        self.index = index
        self.end = min(end, base.count)
    }

    @inline(__always)
    var available: Int { end - index }

    /// Reads one byte; the caller has checked `available > 0`.
    @inline(__always)
    mutating func byteUnchecked() -> UInt8 {
        let byte = base.load(fromByteOffset: index, as: UInt8.self)
        index += 1
        return byte
    }

    /// A zig-zag varint of at most 5 bytes whose value fits 32 bits, or nil.
    @inline(__always)
    mutating func varint() -> Int32? {
        guard index < end else { return nil }
        let first = base.load(fromByteOffset: index, as: UInt8.self)
        if first < 0x80 {
            index += 1
            let raw = UInt32(first)
            return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        }
        var raw: UInt32 = 0
        var shift: UInt32 = 0
        var position = index
        while position < end, shift <= 28 {
            let byte = base.load(fromByteOffset: position, as: UInt8.self)
            position += 1
            if shift == 28, byte > 0x0F { return nil }
            raw |= UInt32(byte & 0x7F) << shift
            if byte < 0x80 {
                index = position
                return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
            }
            shift += 7
        }
        return nil
    }

    /// A zig-zag varlong of at most 10 bytes whose value fits 64 bits, or nil.
    @inline(__always)
    mutating func varlong() -> Int64? {
        guard index < end else { return nil }
        let first = base.load(fromByteOffset: index, as: UInt8.self)
        if first < 0x80 {
            index += 1
            let raw = UInt64(first)
            return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        }
        var raw: UInt64 = 0
        var shift: UInt64 = 0
        var position = index
        while position < end, shift <= 63 {
            let byte = base.load(fromByteOffset: position, as: UInt8.self)
            position += 1
            if shift == 63, byte > 0x01 { return nil }
            raw |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 {
                index = position
                return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
            }
            shift += 7
        }
        return nil
    }

    /// Skips a length-prefixed field: -1 (when `nullable`) skips nothing.
    @inline(__always)
    mutating func skip(length: Int, field: StaticString, nullable: Bool) throws(RecordFault) {
        if length < 0 {
            guard nullable, length == -1 else { throw .negativeLength(field: field, length: length) }
            return
        }
        guard length <= available else { throw .beyondRecord(field: field, length: length, available: available) }
        index += length
    }
}
