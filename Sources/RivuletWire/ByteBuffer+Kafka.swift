import NIOCore

// Kafka's primitive encodings on NIO's ByteBuffer (see ../shared/kafka-protocol/README.md).
// Readers throw `WireError` and never trap; writers cannot fail. Big-endian throughout, except the
// varints, which are little-endian groups of 7 bits.

extension ByteBuffer {
    // MARK: Fixed-width integers

    /// Reads a big-endian integer or throws `WireError.truncated`.
    @inlinable
    public mutating func readKafkaInteger<T: FixedWidthInteger>(_: T.Type = T.self, field: @autoclosure () -> String = "integer") throws -> T {
        guard let value = readInteger(as: T.self) else {
            throw WireError.truncated(field: field(), needed: MemoryLayout<T>.size, available: readableBytes)
        }
        return value
    }

    @inlinable
    public mutating func readKafkaBool(field: @autoclosure () -> String = "bool") throws -> Bool {
        try readKafkaInteger(UInt8.self, field: field()) != 0
    }

    @inlinable
    public mutating func writeKafkaBool(_ value: Bool) {
        writeInteger(value ? 1 : 0, as: UInt8.self)
    }

    @inlinable
    public mutating func readKafkaFloat64(field: @autoclosure () -> String = "float64") throws -> Double {
        Double(bitPattern: try readKafkaInteger(UInt64.self, field: field()))
    }

    @inlinable
    public mutating func writeKafkaFloat64(_ value: Double) {
        writeInteger(value.bitPattern)
    }

    // MARK: Varints

    /// Writes an unsigned varint: 7 bits per byte, low group first, high bit set on all but the last byte.
    @inlinable
    @discardableResult
    public mutating func writeUnsignedVarint(_ value: UInt64) -> Int {
        var remaining = value
        var written = 0
        while remaining >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
            written += 1
        }
        writeInteger(UInt8(truncatingIfNeeded: remaining))
        return written + 1
    }

    @inlinable
    @discardableResult
    public mutating func writeUnsignedVarint(_ value: UInt32) -> Int {
        writeUnsignedVarint(UInt64(value))
    }

    /// Writes a zig-zag varint (Kafka's `varint`, 32-bit).
    @inlinable
    @discardableResult
    public mutating func writeVarint(_ value: Int32) -> Int {
        writeUnsignedVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    /// Writes a zig-zag varlong (Kafka's `varlong`, 64-bit).
    @inlinable
    @discardableResult
    public mutating func writeVarlong(_ value: Int64) -> Int {
        writeUnsignedVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Reads an unsigned varint of at most `maxBytes` bytes (5 for 32-bit values, 10 for 64-bit).
    @inlinable
    public mutating func readUnsignedVarint64(maxBytes: Int = 10, field: @autoclosure () -> String = "varint") throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = readerIndex
        let end = readerIndex + readableBytes
        for _ in 0 ..< maxBytes {
            guard index < end, let byte = getInteger(at: index, as: UInt8.self) else {
                throw WireError.truncated(field: field(), needed: index - readerIndex + 1, available: readableBytes)
            }
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                moveReaderIndex(to: index)
                return result
            }
            shift += 7
        }
        throw WireError.varintTooLong(field: field())
    }

    /// Reads an unsigned 32-bit varint (Kafka's compact lengths and tag numbers).
    @inlinable
    public mutating func readUnsignedVarint(field: @autoclosure () -> String = "unsigned varint") throws -> UInt32 {
        let value = try readUnsignedVarint64(maxBytes: 5, field: field())
        guard value <= UInt64(UInt32.max) else { throw WireError.varintTooLong(field: field()) }
        return UInt32(value)
    }

    @inlinable
    public mutating func readVarint(field: @autoclosure () -> String = "varint") throws -> Int32 {
        let raw = try readUnsignedVarint(field: field())
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    @inlinable
    public mutating func readVarlong(field: @autoclosure () -> String = "varlong") throws -> Int64 {
        let raw = try readUnsignedVarint64(maxBytes: 10, field: field())
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    // MARK: Lengths

    /// Reads an int16 (classic) or compact string length. Returns nil for null.
    @inlinable
    mutating func readStringLength(compact: Bool, field: @autoclosure () -> String) throws -> Int? {
        let length: Int
        if compact {
            let raw = try readUnsignedVarint(field: field())
            if raw == 0 { return nil }
            length = Int(raw) - 1
        } else {
            let raw = try readKafkaInteger(Int16.self, field: field())
            if raw < 0 {
                guard raw == -1 else { throw WireError.invalidLength(field: field(), length: Int(raw)) }
                return nil
            }
            length = Int(raw)
        }
        guard length <= readableBytes else {
            throw WireError.truncated(field: field(), needed: length, available: readableBytes)
        }
        return length
    }

    /// Reads an int32 (classic) or compact bytes length. Returns nil for null.
    @inlinable
    mutating func readBytesLength(compact: Bool, field: @autoclosure () -> String) throws -> Int? {
        let length: Int
        if compact {
            let raw = try readUnsignedVarint(field: field())
            if raw == 0 { return nil }
            length = Int(raw) - 1
        } else {
            let raw = try readKafkaInteger(Int32.self, field: field())
            if raw < 0 {
                guard raw == -1 else { throw WireError.invalidLength(field: field(), length: Int(raw)) }
                return nil
            }
            length = Int(raw)
        }
        guard length <= readableBytes else {
            throw WireError.truncated(field: field(), needed: length, available: readableBytes)
        }
        return length
    }

    /// Reads an array count: int32 (classic) or unsigned varint count + 1 (compact). Nil means null.
    ///
    /// The count is checked against the bytes that remain (every element takes at least
    /// `minimumElementBytes`), so a forged count never makes a decoder reserve a huge array.
    @inlinable
    public mutating func readArrayCount(compact: Bool, minimumElementBytes: Int = 1, field: @autoclosure () -> String = "array") throws -> Int? {
        let count: Int
        if compact {
            let raw = try readUnsignedVarint(field: field())
            if raw == 0 { return nil }
            count = Int(raw) - 1
        } else {
            let raw = try readKafkaInteger(Int32.self, field: field())
            if raw < 0 {
                guard raw == -1 else { throw WireError.invalidLength(field: field(), length: Int(raw)) }
                return nil
            }
            count = Int(raw)
        }
        guard count * max(minimumElementBytes, 0) <= readableBytes else {
            throw WireError.invalidLength(field: field(), length: count)
        }
        return count
    }

    /// Writes an array count: int32, or unsigned varint count + 1 when `compact`. Nil writes null.
    @inlinable
    public mutating func writeArrayCount(_ count: Int?, compact: Bool) {
        if compact {
            writeUnsignedVarint(UInt64(count.map { $0 + 1 } ?? 0))
        } else {
            writeInteger(Int32(count ?? -1))
        }
    }

    // MARK: Strings

    /// Reads a string (int16 length) or compact string (unsigned varint length + 1).
    /// Throws `WireError.unexpectedNull` for a null, which only nullable fields may hold.
    @inlinable
    public mutating func readKafkaString(compact: Bool, field: @autoclosure () -> String = "string") throws -> String {
        guard let value = try readNullableKafkaString(compact: compact, field: field()) else {
            throw WireError.unexpectedNull(field: field())
        }
        return value
    }

    /// Reads a nullable string or compact string.
    @inlinable
    public mutating func readNullableKafkaString(compact: Bool, field: @autoclosure () -> String = "string") throws -> String? {
        guard let length = try readStringLength(compact: compact, field: field()) else { return nil }
        guard let value = readString(length: length) else {
            throw WireError.truncated(field: field(), needed: length, available: readableBytes)
        }
        return value
    }

    /// Writes a string or compact string; nil writes the null marker.
    @inlinable
    public mutating func writeKafkaString(_ value: String?, compact: Bool) {
        guard let value else {
            if compact { writeInteger(UInt8(0)) } else { writeInteger(Int16(-1)) }
            return
        }
        let length = value.utf8.count
        if compact {
            writeUnsignedVarint(UInt64(length + 1))
        } else if length > Int(Int16.max) {
            // A classic string holds at most 32767 bytes: longer text (an error message, a name a
            // flexible request brought in) is cut at a character boundary, so the frame stays valid.
            let utf8 = value.utf8
            var end = utf8.index(utf8.startIndex, offsetBy: Int(Int16.max))
            while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
            let prefix = utf8[..<end]
            writeInteger(Int16(prefix.count))
            writeBytes(prefix)
            return
        } else {
            writeInteger(Int16(length))
        }
        writeString(value)
    }

    // MARK: Bytes

    /// Reads nullable bytes or compact bytes as a slice that shares this buffer's storage (no copy).
    @inlinable
    public mutating func readNullableKafkaBytes(compact: Bool, field: @autoclosure () -> String = "bytes") throws -> ByteBuffer? {
        guard let length = try readBytesLength(compact: compact, field: field()) else { return nil }
        guard let slice = readSlice(length: length) else {
            throw WireError.truncated(field: field(), needed: length, available: readableBytes)
        }
        return slice
    }

    /// Reads non-nullable bytes or compact bytes as a slice of this buffer.
    @inlinable
    public mutating func readKafkaBytes(compact: Bool, field: @autoclosure () -> String = "bytes") throws -> ByteBuffer {
        guard let value = try readNullableKafkaBytes(compact: compact, field: field()) else {
            throw WireError.unexpectedNull(field: field())
        }
        return value
    }

    /// Writes the readable bytes of `value` with an int32 or compact length; nil writes null.
    @inlinable
    public mutating func writeKafkaBytes(_ value: ByteBuffer?, compact: Bool) {
        guard let value else {
            if compact { writeInteger(UInt8(0)) } else { writeInteger(Int32(-1)) }
            return
        }
        if compact { writeUnsignedVarint(UInt64(value.readableBytes + 1)) } else { writeInteger(Int32(value.readableBytes)) }
        writeImmutableBuffer(value)
    }

    // MARK: UUID

    @inlinable
    public mutating func readKafkaUUID(field: @autoclosure () -> String = "uuid") throws -> KafkaUUID {
        let high = try readKafkaInteger(UInt64.self, field: field())
        let low = try readKafkaInteger(UInt64.self, field: field())
        return KafkaUUID(mostSignificantBits: high, leastSignificantBits: low)
    }

    @inlinable
    public mutating func writeKafkaUUID(_ value: KafkaUUID) {
        writeInteger(value.mostSignificantBits)
        writeInteger(value.leastSignificantBits)
    }

    // MARK: Tagged fields

    /// Skips one tagged field's value of `size` bytes (used for tags a decoder does not know).
    @inlinable
    public mutating func skipTaggedFieldValue(size: Int, field: @autoclosure () -> String = "tagged field") throws {
        guard size >= 0, size <= readableBytes else {
            throw WireError.truncated(field: field(), needed: size, available: readableBytes)
        }
        moveReaderIndex(forwardBy: size)
    }

    /// Reads a tagged-field section, calling `body(tag, value)` for each field with the field's
    /// bytes as a separate buffer. Unknown tags can simply be ignored by `body`.
    @inlinable
    public mutating func readTaggedFields(field: @autoclosure () -> String = "tagged fields",
                                          _ body: (UInt32, inout ByteBuffer) throws -> Void) throws {
        let count = try readUnsignedVarint(field: field())
        guard Int(count) <= readableBytes else { throw WireError.invalidLength(field: field(), length: Int(count)) }
        for _ in 0 ..< count {
            // Kafka's readers accept tags in any order; so do we.
            let tag = try readUnsignedVarint(field: field())
            let size = Int(try readUnsignedVarint(field: field()))
            guard var value = readSlice(length: size) else {
                throw WireError.truncated(field: field(), needed: size, available: readableBytes)
            }
            try body(tag, &value)
        }
    }

    /// Writes an empty tagged-field section (a single zero byte).
    @inlinable
    public mutating func writeEmptyTaggedFields() {
        writeInteger(UInt8(0))
    }
}

/// The number of bytes `value` takes as an unsigned varint.
@inlinable
public func unsignedVarintSize(_ value: UInt64) -> Int {
    var remaining = value
    var size = 1
    while remaining >= 0x80 {
        remaining >>= 7
        size += 1
    }
    return size
}

/// The number of bytes `value` takes as a zig-zag varint.
@inlinable
public func varintSize(_ value: Int32) -> Int {
    unsignedVarintSize(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
}

/// The number of bytes `value` takes as a zig-zag varlong.
@inlinable
public func varlongSize(_ value: Int64) -> Int {
    unsignedVarintSize(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
}
