import NIOCore
import Testing
@testable import RivuletWire

/// Random and mutated frames through the decoders a broker (requests) and a client (responses) run
/// on bytes from the network: they never trap and always end in a value or a `WireError`.
@Suite struct ProtocolFuzzTests {
    static let requestFrames = 100_000
    static let responseFrames = 30_000

    /// Valid encodings to mutate: random values of every API at every version, plus captured frames.
    static func corpus(requests: Bool, random: inout ProtocolRandom) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        for pair in allProtocolMessageTypes {
            for version in pair.request.validVersions {
                for _ in 0 ..< 2 {
                    var buffer = ByteBuffer()
                    if requests {
                        let header = RequestHeader(apiKey: pair.request.apiKey, apiVersion: version,
                                                   correlationId: random.int32(), clientId: random.null() ? nil : random.string())
                        header.encode(into: &buffer)
                        requestBody(pair.request, version: version, random: &random).encode(into: &buffer, version: version)
                    } else {
                        responseBody(pair.response, version: version, random: &random).encode(into: &buffer, version: version)
                    }
                    frames.append(Array(buffer.readableBytesView))
                }
            }
        }
        if requests {
            for frame in CapturedFrames.all where frame.isRequest {
                frames.append(Array(Hex.bytes(frame.hex).dropFirst(4)))
            }
        }
        return frames
    }

    static func requestBody<M: ProtocolRandomRequest>(_: M.Type, version: Int16, random: inout ProtocolRandom) -> KafkaRequestBody {
        M.random(version: version, using: &random).body
    }

    static func responseBody<M: ProtocolRandomResponse>(_: M.Type, version: Int16, random: inout ProtocolRandom) -> KafkaResponseBody {
        M.random(version: version, using: &random).body
    }

    /// Byte patterns that forge lengths, counts and varints.
    static let forgeries: [[UInt8]] = [
        [0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0x80, 0x00, 0x00, 0x00], [0x00, 0x00, 0xFF, 0xFF],
        [0xFF, 0xFE], [0x7F, 0xFF], [0x80, 0x00], [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
        [0xFE, 0xFF, 0xFF, 0xFF, 0x07], [0x00], [0x01], [0x7F], [0xC0, 0x01],
    ]

    /// Applies one random mutation; returns which kind for the tally.
    static func mutate(_ bytes: inout [UInt8], corpus: [[UInt8]], random: inout ProtocolRandom) {
        switch random.below(10) {
        case 0:
            break  // Valid frame.
        case 1:  // Flip a few bits.
            for _ in 0 ... random.below(3) where !bytes.isEmpty {
                bytes[random.below(bytes.count)] ^= UInt8(1) << UInt8(random.below(8))
            }
        case 2:  // Truncate.
            bytes.removeLast(bytes.isEmpty ? 0 : random.below(bytes.count) + 1)
        case 3, 4:  // Forge a length, count or varint somewhere.
            let forgery = forgeries[random.below(forgeries.count)]
            let at = bytes.isEmpty ? 0 : random.below(bytes.count)
            for (offset, byte) in forgery.enumerated() where at + offset < bytes.count { bytes[at + offset] = byte }
        case 5:  // Insert random bytes.
            let at = bytes.isEmpty ? 0 : random.below(bytes.count + 1)
            bytes.insert(contentsOf: (0 ..< random.below(8) + 1).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: at)
        case 6:  // Delete a range.
            guard !bytes.isEmpty else { return }
            let start = random.below(bytes.count)
            bytes.removeSubrange(start ..< min(bytes.count, start + random.below(8) + 1))
        case 7:  // Random API key and version in the header (known keys half of the time).
            guard bytes.count >= 4 else { return }
            let key: Int16 = random.bool() ? ApiKey.allCases[random.below(ApiKey.allCases.count)].rawValue : random.int16()
            let version: Int16 = random.bool() ? Int16(random.below(20)) - 1 : random.int16()
            bytes[0] = UInt8(truncatingIfNeeded: key >> 8); bytes[1] = UInt8(truncatingIfNeeded: key)
            bytes[2] = UInt8(truncatingIfNeeded: version >> 8); bytes[3] = UInt8(truncatingIfNeeded: version)
        case 8:  // Splice the start of this frame onto the end of another.
            let other = corpus[random.below(corpus.count)]
            let cut = bytes.isEmpty ? 0 : random.below(bytes.count)
            let otherCut = other.isEmpty ? 0 : random.below(other.count)
            bytes = Array(bytes[..<cut]) + Array(other[otherCut...])
        default:  // Random bytes.
            bytes = (0 ..< random.below(64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
    }

    @Test func requestDecoder_survivesRandomAndMutatedFrames() {
        var random = ProtocolRandom(seed: 0xF0_22)
        let corpus = Self.corpus(requests: true, random: &random)
        var decoded = 0
        var rejected = 0
        for iteration in 0 ..< Self.requestFrames {
            var bytes = corpus[random.below(corpus.count)]
            Self.mutate(&bytes, corpus: corpus, random: &random)
            var buffer = ByteBuffer(bytes: bytes)
            do {
                let header = try RequestHeader.decode(from: &buffer)
                _ = try KafkaRequestBody.decode(apiKey: header.apiKey, version: header.apiVersion, from: &buffer)
                decoded += 1
            } catch let error as WireError {
                rejected += 1
                #expect(!error.description.isEmpty)
            } catch {
                Issue.record("iteration \(iteration): untyped error \(error) for \(Hex.string(ByteBuffer(bytes: bytes)))")
            }
        }
        #expect(decoded + rejected == Self.requestFrames)
        // Both outcomes must be common, or the mutations are not exercising the decoders.
        #expect(decoded > Self.requestFrames / 10)
        #expect(rejected > Self.requestFrames / 4)
    }

    @Test func responseDecoder_survivesRandomAndMutatedFrames() {
        var random = ProtocolRandom(seed: 0xF0_23)
        let corpus = Self.corpus(requests: false, random: &random)
        var decoded = 0
        var rejected = 0
        for _ in 0 ..< Self.responseFrames {
            var bytes = corpus[random.below(corpus.count)]
            Self.mutate(&bytes, corpus: corpus, random: &random)
            var buffer = ByteBuffer(bytes: bytes)
            let api = ApiKey.allCases[random.below(ApiKey.allCases.count)]
            let version = Int16(random.below(Int(api.validVersions.upperBound) + 3)) - 1
            do {
                _ = try KafkaResponseBody.decode(apiKey: api.rawValue, version: version, from: &buffer)
                decoded += 1
            } catch is WireError {
                rejected += 1
            } catch {
                Issue.record("untyped error \(error)")
            }
        }
        #expect(decoded + rejected == Self.responseFrames)
        #expect(decoded > 0 && rejected > Self.responseFrames / 4)
    }
}
