import NIOCore

// Primitives the generated message code needs beyond ByteBuffer+Kafka.swift. Hand-written.

extension ByteBuffer {
    /// Reads a tagged-field section and ignores every field in it (structs that define no tags).
    ///
    /// - Throws: `WireError` when the section's count, a tag, a size or a value is truncated.
    @inlinable
    public mutating func skipTaggedFields(field: @autoclosure () -> String = "tagged fields") throws {
        let count = try readUnsignedVarint(field: field())
        // Each field takes at least two bytes (tag and size), so a forged count fails fast.
        guard UInt64(count) * 2 <= UInt64(readableBytes) else {
            throw WireError.invalidLength(field: field(), length: Int(count))
        }
        for _ in 0 ..< count {
            _ = try readUnsignedVarint(field: field())
            let size = try readUnsignedVarint(field: field())
            try skipTaggedFieldValue(size: Int(size), field: field())
        }
    }

    /// Writes one tagged field: `tag`, the value's size, then the value `body` writes.
    ///
    /// The value is written in place and shifted when its size needs more than one varint byte, so
    /// no scratch buffer is allocated.
    @inlinable
    public mutating func writeTaggedField(tag: UInt32, _ body: (inout ByteBuffer) -> Void) {
        writeUnsignedVarint(tag)
        let sizeIndex = writerIndex
        writeInteger(UInt8(0))  // Placeholder for a size below 128, the common case.
        let valueStart = writerIndex
        body(&self)
        let size = writerIndex - valueStart
        let sizeBytes = unsignedVarintSize(UInt64(size))
        if sizeBytes > 1 {
            writeRepeatingByte(0, count: sizeBytes - 1)
            do {
                _ = try copyBytes(at: valueStart, to: valueStart + sizeBytes - 1, length: size)
            } catch {
                // Both ranges lie inside the written bytes by construction.
                preconditionFailure("writeTaggedField: cannot move a \(size)-byte value: \(error)")
            }
        }
        var remaining = UInt64(size)
        var index = sizeIndex
        while remaining >= 0x80 {
            setInteger(UInt8(truncatingIfNeeded: remaining) | 0x80, at: index)
            remaining >>= 7
            index += 1
        }
        setInteger(UInt8(truncatingIfNeeded: remaining), at: index)
    }
}
