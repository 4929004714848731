import NIOCore
import RivuletCore
import Testing
@testable import RivuletWire

@Suite struct CompressionCodecTests {
    static let compressedCodecs: [CompressionCodec] = [.gzip, .snappy, .lz4, .zstd]

    /// Half-compressible bytes: runs of text with random bytes mixed in.
    static func payload(_ count: Int, seed: UInt64 = 3, randomness: UInt64 = 4) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        let text = Array("the quick brown fox jumps over the lazy dog; kafka record batch v2 ".utf8)
        return (0 ..< count).map { index in
            generator.next() % 16 < randomness ? UInt8(truncatingIfNeeded: generator.next()) : text[index % text.count]
        }
    }

    func compress(_ codec: CompressionCodec, _ input: [UInt8], context: CompressionContext? = nil) -> [UInt8] {
        var output = ByteBuffer()
        input.withUnsafeBytes { codec.compress($0, into: &output, context: context) }
        return Array(output.readableBytesView)
    }

    func decompress(_ codec: CompressionCodec, _ input: [UInt8], maxBytes: Int = RecordBatchLimits.decompressedBytesMax,
                    context: CompressionContext? = nil) throws(RecordBatchError) -> [UInt8] {
        var output = ByteBuffer()
        try codec.decompress(ByteBuffer(bytes: input), into: &output, maxBytes: maxBytes, context: context)
        return Array(output.readableBytesView)
    }

    @Test(arguments: CompressionCodec.allCases, [0, 1, 100, 32_767, 32_768, 32_769, 65_536 * 2 + 5, 300_000])
    func roundTrip_returnsTheInput(codec: CompressionCodec, count: Int) throws {
        for randomness: UInt64 in [0, 4, 16] {
            let input = Self.payload(count, seed: UInt64(count), randomness: randomness)
            let compressed = compress(codec, input)
            #expect(try decompress(codec, compressed) == input, "\(codec) \(count) bytes, randomness \(randomness)")
        }
    }

    @Test func snappy_writesXerialFramingWith32KiBBlocks() throws {
        let input = Self.payload(100_000)
        let framed = compress(.snappy, input)
        #expect(Array(framed.prefix(16)) == [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1])
        var position = 16
        var blocks: [Int] = []
        while position < framed.count {
            let length = Int(framed[position]) << 24 | Int(framed[position + 1]) << 16 | Int(framed[position + 2]) << 8 | Int(framed[position + 3])
            let block = Array(framed[(position + 4) ..< (position + 4 + length)])
            // Every block is a raw snappy block on its own.
            blocks.append(try decompress(.snappy, block).count)
            position += 4 + length
        }
        #expect(position == framed.count)
        #expect(blocks == [32_768, 32_768, 32_768, 100_000 - 3 * 32_768])
    }

    @Test func snappy_decodesARawBlockAndConcatenatedStreams() throws {
        let input = Self.payload(20_000)
        let framed = compress(.snappy, input)
        let rawBlock = Array(framed[20...]) // one block: header (16) + length (4)
        #expect(try decompress(.snappy, rawBlock) == input)
        let other = Self.payload(5_000, seed: 9)
        #expect(try decompress(.snappy, framed + compress(.snappy, other)) == input + other)
    }

    @Test func lz4_writesTheFrameKafkaWrites() {
        let frame = compress(.lz4, Self.payload(200_000))
        #expect(Array(frame.prefix(4)) == [0x04, 0x22, 0x4D, 0x18])
        // FLG: version 01, independent blocks; no block checksum, content size or content checksum.
        #expect(frame[4] == 0x60)
        // BD: 64 KiB maximum block size.
        #expect(frame[5] == 0x40)
        // End mark.
        #expect(Array(frame.suffix(4)) == [0, 0, 0, 0])
    }

    @Test func zstdAndGzip_writeTheirMagic() {
        #expect(Array(compress(.zstd, [1, 2, 3]).prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])
        #expect(Array(compress(.gzip, [1, 2, 3]).prefix(3)) == [0x1F, 0x8B, 0x08])
    }

    @Test(arguments: [CompressionCodec.gzip, .lz4, .zstd])
    func concatenatedFramesOrMembers_decodeAsOneStream(codec: CompressionCodec) throws {
        let first = Self.payload(70_000, seed: 1)
        let second = Self.payload(1_000, seed: 2)
        #expect(try decompress(codec, compress(codec, first) + compress(codec, second)) == first + second)
    }

    @Test func gzip_ignoresTrailingBytesThatStartNoMember_butRejectsABrokenMember() throws {
        let input = Self.payload(5_000)
        let member = compress(.gzip, input)
        #expect(try decompress(.gzip, member + [0, 0, 0, 0]) == input)
        #expect(throws: RecordBatchError.self) { try decompress(.gzip, member + [0x1F, 0x8B, 0x08, 0x00, 0x01]) }
    }

    @Test(arguments: compressedCodecs)
    func capExactlyAtTheSize_passes_oneBelow_throwsTooLarge(codec: CompressionCodec) throws {
        let input = Self.payload(150_000)
        let compressed = compress(codec, input)
        #expect(try decompress(codec, compressed, maxBytes: input.count) == input)
        do {
            _ = try decompress(codec, compressed, maxBytes: input.count - 1)
            Issue.record("\(codec): a cap below the size must throw")
        } catch {
            guard case let .tooLarge(_, limit) = error else { Issue.record("\(codec): \(error)"); return }
            #expect(limit == input.count - 1)
        }
    }

    @Test(arguments: compressedCodecs)
    func garbage_throwsDecompressionFailed(codec: CompressionCodec) {
        var generator = SeededGenerator(seed: 77)
        for length in [0, 1, 2, 3, 7, 16, 17, 64, 1000] {
            for _ in 0 ..< 20 {
                let garbage = (0 ..< length).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
                do {
                    let output = try decompress(codec, garbage, maxBytes: 1 << 20)
                    // A few random inputs are valid (a raw snappy block of a tiny literal, say);
                    // what matters is no crash and a bounded output.
                    #expect(output.count <= 1 << 20)
                } catch {
                    switch error {
                    case .decompressionFailed(let failed, _): #expect(failed == codec)
                    case .tooLarge: break
                    default: Issue.record("\(codec): unexpected \(error)")
                    }
                }
            }
        }
    }

    @Test(arguments: compressedCodecs)
    func truncatedAtEveryOffset_throws(codec: CompressionCodec) {
        let input = Self.payload(3_000)
        let compressed = compress(codec, input)
        for cut in 0 ..< compressed.count {
            // A cut snappy stream can end exactly between blocks and still be valid; with one
            // 3 KB block that happens only at the xerial header (16 bytes: empty output).
            if codec == .snappy, cut == 16 { continue }
            #expect(throws: RecordBatchError.self, "\(codec) cut at \(cut)") {
                try decompress(codec, Array(compressed[..<cut]))
            }
        }
    }

    @Test func context_recoversAfterErrors_andIsReusedAcrossCodecs() throws {
        let context = CompressionContext()
        let input = Self.payload(40_000)
        for round in 0 ..< 3 {
            for codec in Self.compressedCodecs {
                let compressed = compress(codec, input, context: context)
                #expect(throws: RecordBatchError.self) {
                    try decompress(codec, Array(compressed.prefix(compressed.count / 2)), context: context)
                }
                #expect(try decompress(codec, compressed, context: context) == input, "\(codec) round \(round)")
            }
        }
    }

    @Test func noneCodec_copiesAndHonoursTheCap() throws {
        #expect(try decompress(.none, [1, 2, 3]) == [1, 2, 3])
        #expect(throws: RecordBatchError.self) { try decompress(.none, [1, 2, 3], maxBytes: 2) }
    }

    @Test func snappy_highestRealRatio_decodes_butAForgedLengthIsRejected() throws {
        // Zeros give snappy's best ratio (about 21x); they must still decode.
        let zeros = [UInt8](repeating: 0, count: 1_000_000)
        let framed = compress(.snappy, zeros)
        #expect(try decompress(.snappy, framed) == zeros)
        // A raw block whose header claims 50 MB from 6 bytes is refused before any allocation.
        let forged: [UInt8] = [0x80, 0xE1, 0xEB, 0x17, 0x00, 0x00] // varint 50,000,000 then junk
        do {
            _ = try decompress(.snappy, forged)
            Issue.record("forged length must be rejected")
        } catch {
            guard case let .decompressionFailed(codec, reason) = error else { Issue.record("\(error)"); return }
            #expect(codec == .snappy && reason.contains("expansion limit"))
        }
    }
}
