import NIOCore
import RivuletCore
import Testing
@testable import RivuletTransport

/// The frame splitter fed the way TCP delivers bytes: one byte at a time, everything at once, and
/// split at every offset.
@Suite struct KafkaFrameReaderTests {
    /// Frames of sizes 0, 1, 3, 4, 5, 300 and 70000 (bytes of each frame = its index pattern).
    static let payloads: [[UInt8]] = [0, 1, 3, 4, 5, 300, 70_000].enumerated().map { index, size in
        (0 ..< size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
    }

    static func stream(_ payloads: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        for payload in payloads {
            let size = UInt32(payload.count)
            bytes += [UInt8(size >> 24), UInt8(truncatingIfNeeded: size >> 16), UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size)]
            bytes += payload
        }
        return bytes
    }

    /// Feeds `chunks` one after the other into a cumulation buffer, as a ByteToMessageDecoder does,
    /// and collects every frame.
    static func split(_ chunks: [ArraySlice<UInt8>], maxFrameBytes: Int = 1 << 20) throws -> [[UInt8]] {
        let reader = KafkaFrameReader(maxFrameBytes: maxFrameBytes)
        var cumulation = ByteBuffer()
        var frames: [[UInt8]] = []
        for chunk in chunks {
            cumulation.writeBytes(chunk)
            while let frame = try reader.nextFrame(from: &cumulation) { frames.append(Array(frame.readableBytesView)) }
        }
        #expect(cumulation.readableBytes == 0, "bytes left over after the last frame")
        return frames
    }

    @Test func nextFrame_whenCoalesced_returnsEveryFrameInOrder() throws {
        let stream = Self.stream(Self.payloads)
        #expect(try Self.split([stream[...]]) == Self.payloads)
    }

    @Test func nextFrame_whenDripFedOneByteAtATime_returnsEveryFrameInOrder() throws {
        let stream = Self.stream(Self.payloads)
        let chunks = stream.indices.map { stream[$0 ... $0] }
        #expect(try Self.split(chunks) == Self.payloads)
    }

    @Test func nextFrame_whenSplitAtEveryOffset_returnsEveryFrameInOrder() throws {
        // Small frames so that every offset of the stream is tried quickly.
        let payloads = Array(Self.payloads.prefix(6))
        let stream = Self.stream(payloads)
        for cut in 0 ... stream.count {
            #expect(try Self.split([stream[..<cut], stream[cut...]]) == payloads, "cut at \(cut)")
        }
        // Two cuts, every pair on a shorter stream.
        let short = Self.stream(Array(payloads.prefix(5)))
        for first in 0 ... short.count {
            for second in first ... short.count {
                #expect(try Self.split([short[..<first], short[first ..< second], short[second...]]) == Array(payloads.prefix(5)))
            }
        }
    }

    @Test func nextFrame_whenChunkedRandomly_returnsEveryFrameInOrder() throws {
        var random = SeededGenerator(seed: 7)
        let stream = Self.stream(Self.payloads)
        for _ in 0 ..< 50 {
            var chunks: [ArraySlice<UInt8>] = []
            var start = 0
            while start < stream.count {
                let end = min(stream.count, start + Int.random(in: 1 ... 9000, using: &random))
                chunks.append(stream[start ..< end])
                start = end
            }
            #expect(try Self.split(chunks) == Self.payloads)
        }
    }

    @Test func nextFrame_whenIncomplete_consumesNothing() throws {
        let reader = KafkaFrameReader(maxFrameBytes: 100)
        var buffer = ByteBuffer(bytes: [0, 0, 0, 5, 1, 2, 3])
        #expect(try reader.nextFrame(from: &buffer) == nil)
        #expect(buffer.readableBytes == 7)
        var prefixOnly = ByteBuffer(bytes: [0, 0])
        #expect(try reader.nextFrame(from: &prefixOnly) == nil)
        #expect(prefixOnly.readableBytes == 2)
    }

    @Test func nextFrame_whenSizeAtLimit_accepts_andAboveLimit_throwsBeforeTheBytesArrive() throws {
        let reader = KafkaFrameReader(maxFrameBytes: 10)
        var atLimit = ByteBuffer(bytes: [0, 0, 0, 10] + [UInt8](repeating: 7, count: 10))
        #expect(try reader.nextFrame(from: &atLimit)?.readableBytes == 10)
        // Only the prefix has arrived: the error comes at once, nothing is reserved for 2 GiB.
        var huge = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: KafkaFrameError.frameTooLarge(sizeBytes: Int(Int32.max), maxBytes: 10)) {
            try reader.nextFrame(from: &huge)
        }
        #expect(huge.capacity < 1024)
        var eleven = ByteBuffer(bytes: [0, 0, 0, 11])
        #expect(throws: KafkaFrameError.frameTooLarge(sizeBytes: 11, maxBytes: 10)) { try reader.nextFrame(from: &eleven) }
    }

    @Test func nextFrame_whenSizeNegative_throws() {
        let reader = KafkaFrameReader(maxFrameBytes: 10)
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFE])
        #expect(throws: KafkaFrameError.negativeSize(-2)) { try reader.nextFrame(from: &buffer) }
    }
}
