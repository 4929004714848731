import NIOCore

/// One record of a record batch v2, as a view into the batch's (decompressed) bytes.
///
/// Creating a view copies no bytes and allocates nothing: the key, value and headers are
/// positions in `storage`, turned into `ByteBuffer` slices (sharing storage) only when asked for.
/// The view keeps the bytes alive for as long as it lives. Values are `Sendable`.
public struct Record: Sendable {
    /// The record's offset: the batch's base offset plus its offset delta.
    public let offset: Int64
    /// The record's timestamp in milliseconds since the epoch: the batch's base timestamp plus
    /// the record's delta, or the batch's max timestamp when the batch uses LogAppendTime.
    public let timestampMs: Int64
    /// The offset relative to the batch's base offset.
    public let offsetDelta: Int32
    /// The producer sequence number of this record, or -1 when the batch has none.
    public let sequence: Int32
    /// The record's attributes byte (unused by Kafka so far, kept as read).
    public let attributes: Int8
    /// The bytes the record was read from (the batch, or its decompressed records).
    @usableFromInline let storage: ByteBuffer
    @usableFromInline let keyIndex: Int
    /// The key's length in bytes, or -1 for a null key.
    public let keyLength: Int
    @usableFromInline let valueIndex: Int
    /// The value's length in bytes, or -1 for a null value.
    public let valueLength: Int
    @usableFromInline let headersIndex: Int
    /// The number of headers.
    public let headerCount: Int
    /// The record's size in the batch, its length varint included.
    public let sizeInBytes: Int

    @inlinable
    init(offset: Int64, timestampMs: Int64, offsetDelta: Int32, sequence: Int32, attributes: Int8,
         storage: ByteBuffer, keyIndex: Int, keyLength: Int, valueIndex: Int, valueLength: Int,
         headersIndex: Int, headerCount: Int, sizeInBytes: Int) {
        self.offset = offset
        self.timestampMs = timestampMs
        self.offsetDelta = offsetDelta
        self.sequence = sequence
        self.attributes = attributes
        self.storage = storage
        self.keyIndex = keyIndex
        self.keyLength = keyLength
        self.valueIndex = valueIndex
        self.valueLength = valueLength
        self.headersIndex = headersIndex
        self.headerCount = headerCount
        self.sizeInBytes = sizeInBytes
    }

    /// The key as a slice of the batch's bytes, or nil for a null key.
    @inlinable
    public var key: ByteBuffer? {
        keyLength < 0 ? nil : storage.getSlice(at: keyIndex, length: keyLength)
    }

    /// The value as a slice of the batch's bytes, or nil for a null value (a tombstone).
    @inlinable
    public var value: ByteBuffer? {
        valueLength < 0 ? nil : storage.getSlice(at: valueIndex, length: valueLength)
    }

    /// Calls `body` with the key's bytes (nil for a null key) without creating a slice.
    @inlinable
    public func withUnsafeKey<Result>(_ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        try withUnsafeField(index: keyIndex, length: keyLength, body)
    }

    /// Calls `body` with the value's bytes (nil for a null value) without creating a slice.
    @inlinable
    public func withUnsafeValue<Result>(_ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        try withUnsafeField(index: valueIndex, length: valueLength, body)
    }

    /// The key copied into an array (allocates; for tests and tools).
    public var keyBytes: [UInt8]? { key.map { Array($0.readableBytesView) } }
    /// The value copied into an array (allocates; for tests and tools).
    public var valueBytes: [UInt8]? { value.map { Array($0.readableBytesView) } }

    /// The headers, decoded lazily as they are iterated.
    public var headers: RecordHeaders {
        RecordHeaders(storage: storage, index: headersIndex, count: headerCount)
    }

    @inlinable
    func withUnsafeField<Result>(index: Int, length: Int,
                                 _ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        guard length >= 0 else { return try body(nil) }
        return try storage.withUnsafeReadableBytes { all in
            let start = index - storage.readerIndex
            return try body(UnsafeRawBufferPointer(rebasing: all[start ..< start + length]))
        }
    }
}

/// One header of a decoded record: slices of the batch's bytes.
public struct RecordHeaderView: Sendable {
    /// The header key's UTF-8 bytes.
    public let keyBytes: ByteBuffer
    /// The header value, or nil for a null value.
    public let value: ByteBuffer?

    /// The header key as a string (invalid UTF-8 is replaced, as Java's decoder does).
    public var key: String { String(buffer: keyBytes) }

    /// The header as an owned `RecordHeader` (allocates).
    public var materialized: RecordHeader {
        RecordHeader(key: key, value: value.map { Array($0.readableBytesView) })
    }
}

/// The headers of one record, decoded as they are iterated. The decoder has already validated
/// them, so iteration cannot fail.
public struct RecordHeaders: Sequence, Sendable {
    let storage: ByteBuffer
    let index: Int
    /// The number of headers.
    public let count: Int

    /// Whether the record has no headers.
    public var isEmpty: Bool { count == 0 }

    /// An iterator over the headers in the order they were written.
    public func makeIterator() -> Iterator {
        Iterator(storage: storage, index: index, remaining: count)
    }

    /// Walks the validated header bytes.
    public struct Iterator: IteratorProtocol, Sendable {
        var storage: ByteBuffer
        var remaining: Int

        init(storage: ByteBuffer, index: Int, remaining: Int) {
            var storage = storage
            storage.moveReaderIndex(to: Swift.min(Swift.max(index, storage.readerIndex), storage.writerIndex))
            self.storage = storage
            self.remaining = remaining
        }

        /// The next header, or nil after the last.
        public mutating func next() -> RecordHeaderView? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            // The bytes were validated when the record was decoded; a failure here would mean
            // the storage changed, so iteration simply ends.
            guard let keyLength = try? storage.readVarint(), keyLength >= 0,
                  let key = storage.readSlice(length: Int(keyLength)),
                  let valueLength = try? storage.readVarint()
            else { remaining = 0; return nil }
            if valueLength < 0 { return RecordHeaderView(keyBytes: key, value: nil) }
            guard let value = storage.readSlice(length: Int(valueLength)) else { remaining = 0; return nil }
            return RecordHeaderView(keyBytes: key, value: value)
        }
    }
}
