import NIOCore
import RivuletWire

/// Valid record batches v2 of chosen sizes, for roundtrip checks, benchmarks and tests of storage.
///
/// Records are uncompressed, keyless and header-less, with values of one repeated byte. This is not
/// the producer's encoder (that lives with the record codec); it builds what a log needs to be
/// exercised, CRC included.
public enum SyntheticBatch {
    /// A batch of `recordCount` records with `valueBytes`-byte values. Record `i` has timestamp
    /// `baseTimestampMs + i * timestampStepMs`; `maxTimestamp` is the largest of them.
    public static func make(baseOffset: Int64 = 0, recordCount: Int = 1, valueBytes: Int, baseTimestampMs: Int64,
                            timestampStepMs: Int64 = 0, valueByte: UInt8 = 0x61, partitionLeaderEpoch: Int32 = 0,
                            allocator: ByteBufferAllocator = ByteBufferAllocator()) -> RecordBatch {
        precondition(recordCount >= 1 && valueBytes >= 0, "a synthetic batch has records of non-negative size")
        let recordSize = recordBytes(valueBytes: valueBytes, timestampDelta: 0, offsetDelta: 0)
        var buffer = allocator.buffer(capacity: RecordBatchLayout.headerSize + recordCount * (recordSize + 8))
        let lastTimestamp = baseTimestampMs + Int64(recordCount - 1) * timestampStepMs
        let header = RecordBatchHeader(baseOffset: baseOffset, batchLength: 0, partitionLeaderEpoch: partitionLeaderEpoch,
                                       attributes: RecordBatchAttributes(), lastOffsetDelta: Int32(recordCount - 1),
                                       baseTimestamp: baseTimestampMs, maxTimestamp: max(baseTimestampMs, lastTimestamp),
                                       recordCount: Int32(recordCount))
        header.write(to: &buffer)
        for index in 0 ..< recordCount {
            let timestampDelta = Int64(index) * timestampStepMs
            let bodyBytes = recordBytes(valueBytes: valueBytes, timestampDelta: timestampDelta, offsetDelta: Int32(index))
            writeRecord(to: &buffer, bodyBytes: bodyBytes, keyBytes: -1, valueBytes: valueBytes, valueByte: valueByte,
                        timestampDelta: timestampDelta, offsetDelta: Int32(index))
        }
        return seal(&buffer)
    }

    /// A batch of one record whose total size is exactly `totalBytes` (at least `minimumTotalBytes`).
    /// A short key of 1 to 3 bytes fills the gaps that varint lengths leave.
    public static func make(totalBytes: Int, baseOffset: Int64 = 0, timestampMs: Int64, valueByte: UInt8 = 0x61,
                            allocator: ByteBufferAllocator = ByteBufferAllocator()) -> RecordBatch {
        precondition(totalBytes >= minimumTotalBytes && totalBytes <= totalBytesMax,
                     "a one-record batch takes \(minimumTotalBytes) to \(totalBytesMax) bytes")
        var valueBytes = totalBytes - minimumTotalBytes
        while valueBytes >= 0 {
            for keyBytes in [-1, 1, 2, 3] {
                let body = recordBytes(valueBytes: valueBytes, keyBytes: keyBytes, timestampDelta: 0, offsetDelta: 0)
                guard RecordBatchLayout.headerSize + varintBytes(Int64(body)) + body == totalBytes else { continue }
                var buffer = allocator.buffer(capacity: totalBytes)
                let header = RecordBatchHeader(baseOffset: baseOffset, batchLength: 0, partitionLeaderEpoch: 0,
                                               attributes: RecordBatchAttributes(), lastOffsetDelta: 0, baseTimestamp: timestampMs,
                                               maxTimestamp: timestampMs, recordCount: 1)
                header.write(to: &buffer)
                writeRecord(to: &buffer, bodyBytes: body, keyBytes: keyBytes, valueBytes: valueBytes, valueByte: valueByte,
                            timestampDelta: 0, offsetDelta: 0)
                return seal(&buffer)
            }
            valueBytes -= 1
        }
        preconditionFailure("no one-record layout of \(totalBytes) bytes")
    }

    /// The largest batch built here (1 GiB; a batch's length field is 32-bit).
    public static let totalBytesMax = 1 << 30

    /// The smallest one-record batch: header plus a 7-byte empty record.
    public static let minimumTotalBytes = RecordBatchLayout.headerSize + 7

    // MARK: Internals

    private static func varintBytes(_ value: Int64) -> Int {
        var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var count = 1
        while zigzag >= 0x80 {
            zigzag >>= 7
            count += 1
        }
        return count
    }

    /// The bytes of a record body (after its length prefix); `keyBytes` -1 is a null key.
    private static func recordBytes(valueBytes: Int, keyBytes: Int = -1, timestampDelta: Int64, offsetDelta: Int32) -> Int {
        1 + varintBytes(timestampDelta) + varintBytes(Int64(offsetDelta)) + varintBytes(Int64(keyBytes)) + max(keyBytes, 0)
            + varintBytes(Int64(valueBytes)) + valueBytes + varintBytes(0)
    }

    private static func writeRecord(to buffer: inout ByteBuffer, bodyBytes: Int, keyBytes: Int, valueBytes: Int, valueByte: UInt8,
                                    timestampDelta: Int64, offsetDelta: Int32) {
        buffer.writeVarint(Int32(bodyBytes))
        buffer.writeInteger(Int8(0))                     // attributes
        buffer.writeVarlong(timestampDelta)
        buffer.writeVarint(offsetDelta)
        buffer.writeVarint(Int32(keyBytes))              // -1: null key
        if keyBytes > 0 { buffer.writeRepeatingByte(UInt8(ascii: "k"), count: keyBytes) }
        buffer.writeVarint(Int32(valueBytes))
        buffer.writeRepeatingByte(valueByte, count: valueBytes)
        buffer.writeVarint(0)                            // no headers
    }

    /// Fills in batchLength and the CRC, and wraps the bytes.
    private static func seal(_ buffer: inout ByteBuffer) -> RecordBatch {
        let start = buffer.readerIndex
        let total = buffer.readableBytes
        buffer.setInteger(Int32(total - RecordBatchLayout.logOverhead), at: start + RecordBatchLayout.batchLength)
        let crc = CRC32C.checksum(buffer, at: start + RecordBatchLayout.crcCoverageStart,
                                  length: total - RecordBatchLayout.crcCoverageStart)
        buffer.setInteger(crc, at: start + RecordBatchLayout.crc)
        do {
            return try RecordBatch(buffer)
        } catch {
            preconditionFailure("SyntheticBatch built an invalid batch: \(error)")
        }
    }
}
