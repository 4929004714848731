import NIOCore
import RivuletCore
@testable import RivuletWire

/// A seeded source of protocol field values for the generated `random(version:using:)` builders.
///
/// Values lean towards edges (0, -1, minimum, maximum) a quarter of the time, strings mix ASCII
/// with multi-byte UTF-8, and arrays hold 0 to 3 elements so nested messages stay small.
struct ProtocolRandom {
    var generator: SeededGenerator

    init(seed: UInt64) {
        generator = SeededGenerator(seed: seed)
    }

    mutating func next() -> UInt64 { generator.next() }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func bool() -> Bool { next() & 1 == 1 }

    /// True a quarter of the time: how often a nullable field is null.
    mutating func null() -> Bool { below(4) == 0 }

    /// An array length: 0 to 3.
    mutating func count() -> Int { below(4) }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T {
        switch below(8) {
        case 0: return 0
        case 1: return T.isSigned ? -1 : 1
        case 2: return T.max
        case 3: return T.min
        default: return T(truncatingIfNeeded: next())
        }
    }

    mutating func int8() -> Int8 { integer(Int8.self) }
    mutating func int16() -> Int16 { integer(Int16.self) }
    mutating func uint16() -> UInt16 { integer(UInt16.self) }
    mutating func int32() -> Int32 { integer(Int32.self) }
    mutating func uint32() -> UInt32 { integer(UInt32.self) }
    mutating func int64() -> Int64 { integer(Int64.self) }

    /// A finite double (NaN would break equality checks).
    mutating func float64() -> Double {
        let value = Double(bitPattern: next())
        return value.isFinite ? value : Double(Int32(truncatingIfNeeded: next()))
    }

    mutating func string() -> String {
        let pieces = ["a", "topic", "-", "_", ".", "0", "Z", "é", "ü", "漢", "🦀", " ", "\u{0}"]
        var text = ""
        for _ in 0 ..< below(6) { text += pieces[below(pieces.count)] }
        return text
    }

    mutating func bytes() -> ByteBuffer {
        var buffer = ByteBuffer()
        for _ in 0 ..< below(24) { buffer.writeInteger(UInt8(truncatingIfNeeded: next())) }
        return buffer
    }

    mutating func uuid() -> KafkaUUID {
        below(4) == 0 ? .zero : KafkaUUID(mostSignificantBits: next(), leastSignificantBits: next())
    }
}

/// A type with a generated random builder (Tests/RivuletWireTests/Generated/).
protocol ProtocolRandomInstance {
    static func random(version: Int16, using random: inout ProtocolRandom) -> Self
    /// The value with every field at Kafka's default.
    static var defaultValue: Self { get }
}

/// A request type with a random builder.
protocol ProtocolRandomRequest: KafkaRequest, ProtocolRandomInstance {}

/// A response type with a random builder.
protocol ProtocolRandomResponse: KafkaResponse, ProtocolRandomInstance {}

/// Hex helpers for byte vectors.
enum Hex {
    /// Bytes from hex text; whitespace, newlines and `|` separators are ignored.
    static func bytes(_ text: String) -> [UInt8] {
        let digits = Array(text.filter(\.isHexDigit))
        precondition(digits.count % 2 == 0, "odd number of hex digits in a test vector")
        var result: [UInt8] = []
        result.reserveCapacity(digits.count / 2)
        var index = digits.startIndex
        while index < digits.endIndex {
            let pair = String(digits[index ... digits.index(after: index)])
            guard let byte = UInt8(pair, radix: 16) else { preconditionFailure("bad hex \(pair) in a test vector") }
            result.append(byte)
            index = digits.index(index, offsetBy: 2)
        }
        return result
    }

    static func buffer(_ text: String) -> ByteBuffer { ByteBuffer(bytes: bytes(text)) }

    static func string(_ buffer: ByteBuffer) -> String {
        buffer.readableBytesView.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }
}

/// Encodes `message` as `version` into a fresh buffer.
func encoded<M: KafkaMessage>(_ message: M, version: Int16) -> ByteBuffer {
    var buffer = ByteBuffer()
    message.encode(into: &buffer, version: version)
    return buffer
}
