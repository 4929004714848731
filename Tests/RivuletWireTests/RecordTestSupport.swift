import NIOCore
import RivuletCore
@testable import RivuletWire

/// An owned, comparable copy of one record, for tests.
struct TestRecord: Equatable, CustomStringConvertible {
    var timestampMs: Int64
    var key: [UInt8]?
    var value: [UInt8]?
    var headers: [RecordHeader] = []

    var description: String {
        "TestRecord(ts: \(timestampMs), key: \(key.map { "\($0.count)B" } ?? "null"), value: \(value.map { "\($0.count)B" } ?? "null"), headers: \(headers))"
    }
}

extension Record {
    /// The record copied out of the batch.
    var testRecord: TestRecord {
        TestRecord(timestampMs: timestampMs, key: keyBytes, value: valueBytes, headers: headers.map(\.materialized))
    }
}

enum RecordTestData {
    /// Deterministic records: some null keys and values, empty ones, headers, out-of-order timestamps.
    static func records(count: Int, valueSize: Int = 100, seed: UInt64 = 1, headers: Bool = true,
                        baseTimestampMs: Int64 = 1_700_000_000_000) -> [TestRecord] {
        var generator = SeededGenerator(seed: seed)
        let words = ["kafka", "rivulet", "partition", "offset", "broker", "replica", "segment", "batch"].map { Array($0.utf8) }
        return (0 ..< count).map { index in
            let key: [UInt8]? = index % 5 == 4 ? nil : (index % 11 == 10 ? [] : Array("key-\(index)".utf8))
            var value: [UInt8]?
            if index % 7 != 6 {
                var bytes = Array("value \(index):".utf8)
                while bytes.count < valueSize {
                    bytes.append(0x20)
                    bytes += words[Int(generator.next() % UInt64(words.count))]
                }
                value = Array(bytes.prefix(valueSize))
            }
            var recordHeaders: [RecordHeader] = []
            if headers, index % 3 == 0 {
                recordHeaders = [
                    RecordHeader(key: "trace-id", value: (0 ..< 8).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }),
                    RecordHeader(key: "empty", value: [UInt8]()),
                    RecordHeader(key: "null-value", value: nil as [UInt8]?),
                    RecordHeader(key: "héader-ключ", value: ByteBuffer(bytes: [0xFF, 0x00, 0x01])),
                ]
            }
            let timestamp = baseTimestampMs + Int64(index) * 3 - (index % 4 == 3 ? 50 : 0)
            return TestRecord(timestampMs: timestamp, key: key, value: value, headers: recordHeaders)
        }
    }

    /// `count` records of exactly `valueSize` random-ish bytes, no key, no headers.
    static func plainRecords(count: Int, valueSize: Int, seed: UInt64 = 7) -> [TestRecord] {
        var generator = SeededGenerator(seed: seed)
        return (0 ..< count).map { index in
            TestRecord(timestampMs: 1_700_000_000_000 + Int64(index),
                       key: nil,
                       value: (0 ..< valueSize).map { _ in UInt8(truncatingIfNeeded: generator.next() % 16 + 0x61) })
        }
    }

    static func batch(_ records: [TestRecord], compression: CompressionCodec = .none,
                      configure: (inout RecordBatchBuilder) -> Void = { _ in }) throws -> RecordBatch {
        var builder = RecordBatchBuilder(compression: compression)
        configure(&builder)
        for record in records {
            try builder.append(timestampMs: record.timestampMs, key: record.key, value: record.value, headers: record.headers)
        }
        return try builder.build()
    }
}

extension Array where Element == UInt8 {
    /// Rewrites batchLength to match the array and recomputes the CRC, as a forger would.
    mutating func refreshBatchFraming() {
        guard count >= RecordBatchLayout.headerSize else { return }
        let length = UInt32(truncatingIfNeeded: count - RecordBatchLayout.logOverhead)
        self[8] = UInt8(length >> 24); self[9] = UInt8((length >> 16) & 0xFF)
        self[10] = UInt8((length >> 8) & 0xFF); self[11] = UInt8(length & 0xFF)
        refreshCRC()
    }

    /// Recomputes the CRC over attributes..end.
    mutating func refreshCRC() {
        guard count >= RecordBatchLayout.headerSize else { return }
        let crc = CRC32C.checksum(Array(self[RecordBatchLayout.crcCoverageStart...]))
        self[17] = UInt8(crc >> 24); self[18] = UInt8((crc >> 16) & 0xFF)
        self[19] = UInt8((crc >> 8) & 0xFF); self[20] = UInt8(crc & 0xFF)
    }

    mutating func setInt32(_ value: Int32, at index: Int) {
        let raw = UInt32(bitPattern: value)
        self[index] = UInt8(raw >> 24); self[index + 1] = UInt8((raw >> 16) & 0xFF)
        self[index + 2] = UInt8((raw >> 8) & 0xFF); self[index + 3] = UInt8(raw & 0xFF)
    }

    mutating func setInt16(_ value: Int16, at index: Int) {
        let raw = UInt16(bitPattern: value)
        self[index] = UInt8(raw >> 8); self[index + 1] = UInt8(raw & 0xFF)
    }
}

extension RecordBatch {
    var bytes: [UInt8] { Array(buffer.readableBytesView) }

    /// A batch from raw bytes, through the same framing check a broker uses.
    static func from(_ bytes: [UInt8]) throws(RecordBatchError) -> RecordBatch {
        try RecordBatch(ByteBuffer(bytes: bytes))
    }
}

/// Encodes one record body (after its length varint) by hand, for forging.
struct RecordForge {
    var bytes: [UInt8] = []

    mutating func varint(_ value: Int32) {
        var buffer = ByteBuffer()
        buffer.writeVarint(value)
        bytes += buffer.readableBytesView
    }

    mutating func varlong(_ value: Int64) {
        var buffer = ByteBuffer()
        buffer.writeVarlong(value)
        bytes += buffer.readableBytesView
    }

    mutating func raw(_ values: [UInt8]) { bytes += values }

    /// The record with its length varint in front (or `length` forged).
    func framed(length: Int32? = nil) -> [UInt8] {
        var forge = RecordForge()
        forge.varint(length ?? Int32(bytes.count))
        return forge.bytes + bytes
    }

    /// A well-formed record body.
    static func body(timestampDelta: Int64 = 0, offsetDelta: Int32, key: [UInt8]?, value: [UInt8]?,
                     headers: [(String, [UInt8]?)] = []) -> RecordForge {
        var forge = RecordForge()
        forge.raw([0])
        forge.varlong(timestampDelta)
        forge.varint(offsetDelta)
        if let key { forge.varint(Int32(key.count)); forge.raw(key) } else { forge.varint(-1) }
        if let value { forge.varint(Int32(value.count)); forge.raw(value) } else { forge.varint(-1) }
        forge.varint(Int32(headers.count))
        for (headerKey, headerValue) in headers {
            let keyBytes = Array(headerKey.utf8)
            forge.varint(Int32(keyBytes.count)); forge.raw(keyBytes)
            if let headerValue { forge.varint(Int32(headerValue.count)); forge.raw(headerValue) } else { forge.varint(-1) }
        }
        return forge
    }

    /// A complete uncompressed batch around hand-made record bytes.
    static func batch(records: [UInt8], recordCount: Int32, lastOffsetDelta: Int32, codec: CompressionCodec = .none,
                      baseTimestamp: Int64 = 1000) -> [UInt8] {
        var buffer = ByteBuffer()
        RecordBatchHeader(batchLength: 0, attributes: RecordBatchAttributes(compression: codec),
                          lastOffsetDelta: lastOffsetDelta, baseTimestamp: baseTimestamp, maxTimestamp: baseTimestamp,
                          recordCount: recordCount).write(to: &buffer)
        var bytes = Array(buffer.readableBytesView) + records
        bytes.refreshBatchFraming()
        return bytes
    }
}
