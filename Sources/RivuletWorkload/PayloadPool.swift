import NIOCore
import RivuletCore

/// How the intended send time travels in a payload: the first 8 bytes of every record value are
/// overwritten with the intended send time as a big-endian `UInt64` of nanoseconds on the
/// runner's monotonic `EngineClock`. A consumer in the same process subtracts it from the same
/// clock, so end-to-end latency is measured on one clock, from the intended send time (OMB uses
/// the producer's wall-clock publish timestamp, which mixes clocks and hides sender delay).
public enum PayloadTimestamp {
    /// Bytes the timestamp occupies at the start of a value.
    public static let byteCount = 8

    /// Writes `intendedNanoseconds` into the first 8 bytes of `buffer`'s readable bytes.
    /// Does nothing when fewer than 8 bytes are readable.
    @inlinable
    public static func stamp(_ intendedNanoseconds: UInt64, into buffer: inout ByteBuffer, at index: Int) {
        buffer.setInteger(intendedNanoseconds, at: index, endianness: .big, as: UInt64.self)
    }

    /// Reads the intended send time from a received value, or nil when it has fewer than 8 bytes.
    @inlinable
    public static func read(from value: ByteBuffer) -> UInt64? {
        value.getInteger(at: value.readerIndex, endianness: .big, as: UInt64.self)
    }
}

/// The payloads records are made from, per OMB: either the bytes of `payloadFile`, or
/// `randomizedPayloadPoolSize` payloads of `messageSize` bytes whose first `messageSize x
/// randomBytesRatio` bytes are random and the rest zeros (which compresses like real data does).
/// Each record picks one payload at random; its first 8 bytes then carry the intended send time.
public struct PayloadPool: Sendable {
    /// The payloads, each `messageSize` bytes.
    public let payloads: [[UInt8]]
    /// Bytes per payload.
    public let messageSize: Int

    /// The pool for `spec`, drawing random bytes from `generator`.
    public init(spec: WorkloadSpec, generator: inout SeededGenerator) {
        messageSize = spec.messageSize
        if spec.useRandomizedPayloads {
            let randomCount = min(spec.messageSize, Int(Double(spec.messageSize) * spec.randomBytesRatio))
            payloads = (0 ..< max(1, spec.randomizedPayloadPoolSize)).map { _ in
                var payload = [UInt8](repeating: 0, count: spec.messageSize)
                var index = 0
                while index < randomCount {
                    var word = generator.next()
                    for _ in 0 ..< 8 where index < randomCount {
                        payload[index] = UInt8(truncatingIfNeeded: word)
                        word >>= 8
                        index += 1
                    }
                }
                return payload
            }
        } else if let data = spec.payloadData, data.count == spec.messageSize {
            payloads = [data]
        } else {
            // Validation guarantees a payload; this keeps a programmatic spec without one usable.
            payloads = [[UInt8](repeating: 0, count: spec.messageSize)]
        }
    }

    /// Appends payload `index` (modulo the pool size) to `buffer`, stamped with `intendedNanoseconds`.
    @inlinable
    public func write(payload index: Int, intendedNanoseconds: UInt64, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeBytes(payloads[index % payloads.count])
        if messageSize >= PayloadTimestamp.byteCount {
            PayloadTimestamp.stamp(intendedNanoseconds, into: &buffer, at: start)
        }
    }
}

/// OMB's key pool: 10,000 random 7-byte keys, base64url-encoded without padding (10 characters),
/// stored once and shared by every producer. `KeyChooser` picks from it per `keyDistributor`.
public struct KeyPool: Sendable {
    /// Number of distinct keys (OMB's `UNIQUE_COUNT`).
    public static let keyCount = 10_000
    /// Characters per encoded key.
    public static let keyLength = 10

    /// All keys, back to back.
    public let storage: ByteBuffer

    /// Builds the pool from `generator`.
    public init(generator: inout SeededGenerator) {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var buffer = ByteBufferAllocator().buffer(capacity: Self.keyCount * Self.keyLength)
        for _ in 0 ..< Self.keyCount {
            // 7 random bytes = 56 bits = 9 full 6-bit characters and one 2-bit character.
            let bits = generator.next() & 0x00FF_FFFF_FFFF_FFFF
            for character in 0 ..< Self.keyLength {
                let shift = 56 - 6 * (character + 1)
                let sextet = shift >= 0 ? (bits >> UInt64(shift)) & 0x3F : (bits << UInt64(-shift)) & 0x3F
                buffer.writeInteger(alphabet[Int(sextet)])
            }
        }
        storage = buffer
    }

    /// Key `index` (modulo the pool size) as a view into the shared storage.
    @inlinable
    public func key(_ index: Int) -> ByteBuffer {
        let start = (index % Self.keyCount) * Self.keyLength
        return storage.getSlice(at: storage.readerIndex + start, length: Self.keyLength) ?? ByteBuffer()
    }
}

/// Chooses the key of each record per OMB's `keyDistributor`; one per producer (not shared).
public struct KeyChooser: Sendable {
    private let type: KeyDistributorType
    private var roundRobinIndex = 0

    public init(type: KeyDistributorType) { self.type = type }

    /// The index of the next key in the `KeyPool`, or nil for no key.
    @inlinable
    public mutating func next(using generator: inout SeededGenerator) -> Int? {
        nextIndex(using: &generator)
    }

    @usableFromInline
    mutating func nextIndex(using generator: inout SeededGenerator) -> Int? {
        switch type {
        case .noKey:
            return nil
        case .keyRoundRobin:
            // OMB pre-increments, so the first key used is index 1.
            roundRobinIndex += 1
            if roundRobinIndex >= KeyPool.keyCount { roundRobinIndex = 0 }
            return roundRobinIndex
        case .randomNano:
            return Int(generator.next() % UInt64(KeyPool.keyCount))
        }
    }
}
