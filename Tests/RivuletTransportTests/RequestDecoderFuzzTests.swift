import NIOCore
import RivuletCore
import RivuletWire
import Testing
@testable import RivuletTransport

/// The server's request path on random and mutated input: frames through `KafkaRequestDecoder` and
/// the answer the server would write, and whole streams through `KafkaFrameReader`. Nothing traps;
/// what decodes re-encodes stably; every answer is a well-formed frame.
@Suite struct RequestDecoderFuzzTests {
    static let frameCount = 100_000
    static let streamCount = 2_000

    /// Valid frames (header and body, no size prefix) of every API at every version.
    static let corpus: [[UInt8]] = {
        var frames: [[UInt8]] = []
        var correlationId: Int32 = 0
        for body in SampleRequests.all {
            for version in body.apiKey.validVersions {
                correlationId += 1
                var frame = KafkaRequestEncoder.frame(body, version: version, correlationId: correlationId,
                                                      clientId: correlationId % 3 == 0 ? nil : "fuzz")
                frame.moveReaderIndex(forwardBy: 4)
                frames.append(Array(frame.readableBytesView))
            }
        }
        return frames
    }()

    static let forgeries: [[UInt8]] = [
        [0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0x80, 0x00, 0x00, 0x00], [0x00, 0x00, 0xFF, 0xFF],
        [0xFF, 0xFE], [0x7F, 0xFF], [0x80, 0x00], [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
        [0x00], [0x01], [0x7F], [0xC0, 0x01],
    ]

    static func mutate(_ bytes: inout [UInt8], random: inout SeededGenerator) {
        func index() -> Int { bytes.isEmpty ? 0 : Int.random(in: 0 ..< bytes.count, using: &random) }
        switch Int.random(in: 0 ..< 9, using: &random) {
        case 0:
            break  // Valid frame.
        case 1:  // Flip bits.
            for _ in 0 ... Int.random(in: 0 ..< 4, using: &random) where !bytes.isEmpty {
                bytes[index()] ^= UInt8(1) << UInt8.random(in: 0 ..< 8, using: &random)
            }
        case 2:  // Truncate.
            bytes.removeLast(bytes.isEmpty ? 0 : Int.random(in: 0 ... bytes.count, using: &random))
        case 3:  // Overwrite with a forged length, count or varint.
            let forgery = forgeries[Int.random(in: 0 ..< forgeries.count, using: &random)]
            let at = index()
            for (offset, byte) in forgery.enumerated() where at + offset < bytes.count { bytes[at + offset] = byte }
        case 4:  // Insert random bytes.
            let insert = (0 ..< Int.random(in: 1 ... 8, using: &random)).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
            bytes.insert(contentsOf: insert, at: index())
        case 5:  // Delete a range.
            guard !bytes.isEmpty else { return }
            let start = index()
            bytes.removeSubrange(start ..< min(bytes.count, start + Int.random(in: 1 ... 16, using: &random)))
        case 6:  // Random API key and version in an otherwise valid frame.
            guard bytes.count >= 4 else { return }
            let key = Int16.random(in: -2 ... 75, using: &random)
            let version = Int16.random(in: -2 ... 20, using: &random)
            bytes[0] = UInt8(truncatingIfNeeded: key >> 8); bytes[1] = UInt8(truncatingIfNeeded: key)
            bytes[2] = UInt8(truncatingIfNeeded: version >> 8); bytes[3] = UInt8(truncatingIfNeeded: version)
        case 7:  // Pure noise.
            bytes = (0 ..< Int.random(in: 0 ..< 64, using: &random)).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
        default:  // Append garbage after a valid body.
            bytes += (0 ..< Int.random(in: 1 ... 8, using: &random)).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
        }
    }

    struct Tally {
        var request = 0, malformedBody = 0, unsupportedApiVersions = 0, unsupportedVersion = 0, unknownApi = 0, badHeader = 0
        /// Failures of the invariants, described (checked once at the end to keep the loop fast).
        var failures: [String] = []
    }

    /// What the server does with one frame, minus the socket: decode, then build the answer.
    static func serve(_ bytes: [UInt8], tally: inout Tally) {
        let frame = ByteBuffer(bytes: bytes)
        let answer: ByteBuffer
        do {
            switch try KafkaRequestDecoder.decode(frame: frame) {
            case let .request(header, body):
                tally.request += 1
                // Decoded requests re-encode to bytes that decode to the same request.
                var encoded = ByteBuffer()
                body.encode(into: &encoded, version: header.apiVersion)
                let again = try? KafkaRequestBody.decode(apiKey: header.apiKey, version: header.apiVersion, from: &encoded)
                if again != body { tally.failures.append("\(body.apiKey.name) v\(header.apiVersion) does not re-encode stably") }
                answer = KafkaResponseEncoder.frame(KafkaResponseEncoder.errorBody(for: body.apiKey, errorCode: 0),
                                                    correlationId: header.correlationId, apiVersion: header.apiVersion)
            case let .malformedBody(header, api, _):
                tally.malformedBody += 1
                answer = KafkaResponseEncoder.frame(KafkaResponseEncoder.errorBody(for: api, errorCode: KafkaErrorCode.invalidRequest.rawValue),
                                                    correlationId: header.correlationId, apiVersion: header.apiVersion)
            case let .unsupportedApiVersionsVersion(header):
                tally.unsupportedApiVersions += 1
                answer = KafkaResponseEncoder.unsupportedApiVersionsFrame(correlationId: header.correlationId,
                                                                          apiKeys: ApiVersionsResponse.supportedApiKeys())
            case let .unsupportedVersion(header, _):
                tally.unsupportedVersion += 1
                answer = KafkaResponseEncoder.genericErrorFrame(correlationId: header.correlationId)
            case let .unknownApiKey(header):
                tally.unknownApi += 1
                answer = KafkaResponseEncoder.genericErrorFrame(correlationId: header.correlationId)
            }
        } catch {
            tally.badHeader += 1
            return
        }
        if answer.getInteger(at: answer.readerIndex, as: Int32.self) != Int32(answer.readableBytes - 4) || answer.readableBytes < 8 {
            tally.failures.append("malformed answer frame of \(answer.readableBytes) bytes")
        }
    }

    @Test func decoder_onRandomAndMutatedFrames_neverTraps_andAnswersAreWellFormed() async {
        var random = SeededGenerator(seed: 0x5EED_F00D)
        var tally = Tally()
        for iteration in 0 ..< Self.frameCount {
            // Share the test runner's threads with the socket tests that run alongside.
            if iteration % 2_000 == 0 { await Task.yield() }
            var bytes = Self.corpus[Int.random(in: 0 ..< Self.corpus.count, using: &random)]
            Self.mutate(&bytes, random: &random)
            if Int.random(in: 0 ..< 4, using: &random) == 0 { Self.mutate(&bytes, random: &random) }
            Self.serve(bytes, tally: &tally)
        }
        #expect(tally.failures.isEmpty, "\(tally.failures.prefix(5))")
        // Every outcome was reached, so the mutations exercise every branch of the server's answer.
        #expect(tally.request > 10_000)
        #expect(tally.malformedBody > 1_000)
        #expect(tally.unsupportedVersion > 100)
        #expect(tally.unknownApi > 100)
        #expect(tally.unsupportedApiVersions > 10)
        #expect(tally.badHeader > 100)
    }

    @Test func frameReader_onStreamsOfMutatedFrames_returnsTheFramesUntilTheFirstBadPrefix() throws {
        var random = SeededGenerator(seed: 42)
        let maxFrameBytes = 4_096
        let reader = KafkaFrameReader(maxFrameBytes: maxFrameBytes)
        for _ in 0 ..< Self.streamCount {
            // A stream of frames, the size prefix of one possibly forged.
            var frames: [[UInt8]] = []
            var stream: [UInt8] = []
            var expectError = false
            for _ in 0 ..< Int.random(in: 1 ... 8, using: &random) {
                var bytes = Self.corpus[Int.random(in: 0 ..< Self.corpus.count, using: &random)]
                Self.mutate(&bytes, random: &random)
                var size = Int32(bytes.count)
                if Int.random(in: 0 ..< 10, using: &random) == 0 {
                    size = [Int32(-1), Int32.min, Int32(maxFrameBytes + 1), Int32.max][Int.random(in: 0 ..< 4, using: &random)]
                    expectError = true
                }
                stream += withUnsafeBytes(of: size.bigEndian, Array.init) + bytes
                if expectError { break }
                if bytes.count <= maxFrameBytes { frames.append(bytes) } else { expectError = true; break }
            }
            // Deliver in random chunks.
            var cumulation = ByteBuffer()
            var got: [[UInt8]] = []
            var failed = false
            var start = 0
            while start < stream.count, !failed {
                let end = min(stream.count, start + Int.random(in: 1 ... 200, using: &random))
                cumulation.writeBytes(stream[start ..< end])
                start = end
                do {
                    while let frame = try reader.nextFrame(from: &cumulation) { got.append(Array(frame.readableBytesView)) }
                } catch {
                    failed = true
                }
            }
            #expect(failed == expectError)
            #expect(got == frames)
            var tally = Tally()
            for frame in got { Self.serve(frame, tally: &tally) }
            #expect(tally.failures.isEmpty, "\(tally.failures.prefix(5))")
        }
    }
}
