import NIOCore
import RivuletCore
import Testing
@testable import RivuletWire

@Suite struct CRC32CTests {
    @Test func checkValue_matchesCastagnoliStandard() {
        let bytes = Array("123456789".utf8)
        #expect(CRC32C.checksum(bytes) == 0xE306_9283)
        bytes.withUnsafeBytes { raw in
            #expect(CRC32C.software(raw) == 0xE306_9283)
            if CRC32C.hardwareAvailable { #expect(CRC32C.hardware(raw) == 0xE306_9283) }
        }
    }

    @Test(arguments: [0, 1, 7, 8, 9, 63, 1000, 4097, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 5, 100_000])
    func hardwareAndSoftware_agree(length: Int) {
        var generator = SeededGenerator(seed: UInt64(length))
        let bytes = (0 ..< length).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        bytes.withUnsafeBytes { raw in
            let software = CRC32C.software(raw)
            #expect(CRC32C.checksum(raw) == software)
            if CRC32C.hardwareAvailable { #expect(CRC32C.hardware(raw) == software) }
        }
    }

    @Test(arguments: [(0, 5), (100, 30_000), (30_000, 70_000), (24_576, 24_576)])
    func chainedChecksums_equalOneChecksumOverConcatenation(split: (Int, Int)) {
        var generator = SeededGenerator(seed: 42)
        let a = (0 ..< split.0).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        let b = (0 ..< split.1).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        let whole = CRC32C.checksum(a + b)
        #expect(CRC32C.checksum(b, seed: CRC32C.checksum(a)) == whole)
        let softwareChained = b.withUnsafeBytes { rb in a.withUnsafeBytes { ra in CRC32C.software(rb, seed: CRC32C.software(ra)) } }
        #expect(softwareChained == whole)
    }
}

@Suite struct PrimitiveTests {
    @Test(arguments: [Int32.min, -65, -64, -1, 0, 1, 63, 64, 300, Int32.max])
    func varint_roundTrips(value: Int32) throws {
        var buffer = ByteBuffer()
        let written = buffer.writeVarint(value)
        #expect(written == varintSize(value))
        #expect(try buffer.readVarint() == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test(arguments: [Int64.min, -1, 0, 1, 1 << 40, Int64.max])
    func varlong_roundTrips(value: Int64) throws {
        var buffer = ByteBuffer()
        buffer.writeVarlong(value)
        #expect(buffer.readableBytes == varlongSize(value))
        #expect(try buffer.readVarlong() == value)
    }

    @Test func zigZag_matchesKafkaExamples() {
        // From Kafka's ByteUtilsTest: -1 -> 0x01, 1 -> 0x02, -64 -> 0x7F, 64 -> 0x80 0x01.
        var buffer = ByteBuffer()
        buffer.writeVarint(-1); buffer.writeVarint(1); buffer.writeVarint(-64); buffer.writeVarint(64)
        #expect(Array(buffer.readableBytesView) == [0x01, 0x02, 0x7F, 0x80, 0x01])
    }

    @Test func overlongVarint_throws() {
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: WireError.self) { try buffer.readVarint() }
        var truncated = ByteBuffer(bytes: [0x80])
        #expect(throws: WireError.self) { try truncated.readVarint() }
    }

    @Test func strings_compactAndNullable() throws {
        var buffer = ByteBuffer()
        buffer.writeKafkaString("héllo", compact: false)
        buffer.writeKafkaString(nil, compact: false)
        buffer.writeKafkaString("x", compact: true)
        buffer.writeKafkaString(nil, compact: true)
        #expect(try buffer.readKafkaString(compact: false) == "héllo")
        #expect(try buffer.readNullableKafkaString(compact: false) == nil)
        #expect(try buffer.readKafkaString(compact: true) == "x")
        #expect(throws: WireError.self) { try buffer.readKafkaString(compact: true) }
    }

    @Test("a classic string longer than 32767 bytes is cut at a character boundary; the frame stays readable")
    func longClassicString_isCutAtACharacterBoundary() throws {
        // 32766 ASCII bytes then a 2-byte character that would straddle the limit, then more.
        let long = String(repeating: "a", count: 32766) + "é" + String(repeating: "b", count: 10_000)
        var buffer = ByteBuffer()
        buffer.writeKafkaString(long, compact: false)
        buffer.writeInteger(Int32(42))
        let read = try buffer.readKafkaString(compact: false)
        #expect(read == String(repeating: "a", count: 32766))
        #expect(buffer.readInteger(as: Int32.self) == 42)
        #expect(buffer.readableBytes == 0)
        // Compact strings carry any length.
        var compact = ByteBuffer()
        compact.writeKafkaString(long, compact: true)
        #expect(try compact.readKafkaString(compact: true) == long)
    }

    @Test func forgedLengths_areRejectedWithoutAllocation() {
        var string = ByteBuffer(bytes: [0x7F, 0xFF, 0x41])
        #expect(throws: WireError.self) { try string.readKafkaString(compact: false) }
        var array = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: WireError.self) { try array.readArrayCount(compact: false) }
        var negative = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFE])
        #expect(throws: WireError.self) { try negative.readNullableKafkaBytes(compact: false) }
    }

    @Test func uuid_rendersLikeKafka() throws {
        // Kafka renders Uuid(0, 1) as "AAAAAAAAAAAAAAAAAAAAAQ".
        #expect(KafkaUUID(mostSignificantBits: 0, leastSignificantBits: 1).description == "AAAAAAAAAAAAAAAAAAAAAQ")
        var buffer = ByteBuffer()
        let id = KafkaUUID(mostSignificantBits: 0x0123_4567_89AB_CDEF, leastSignificantBits: 42)
        buffer.writeKafkaUUID(id)
        #expect(try buffer.readKafkaUUID() == id)
    }
}
