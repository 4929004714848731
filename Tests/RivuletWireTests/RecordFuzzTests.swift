import NIOCore
import RivuletCore
import Testing
@testable import RivuletWire

/// Feeds the decoder 100,000 randomized and mutated batches. Typed errors only, no crash, and
/// enough of each kind of damage reaching the record parser and the decompressors that the run
/// proves something.
@Suite struct RecordFuzzTests {
    enum Mutation: Int, CaseIterable {
        case bitFlipsKeepingCRC, bitFlipsInRecordsFixingCRC, truncation, truncationFixingLength,
             forgedBatchLength, forgedCountOrDelta, forgedVarint, wrongCodecBits, compressedGarbage, splice
    }

    struct Tally {
        var decoded = 0
        var errors: [String: Int] = [:]
        mutating func record(_ error: RecordBatchError) {
            let kind: String
            switch error {
            case .truncated: kind = "truncated"
            case .invalidLength: kind = "invalidLength"
            case .unsupportedMagic: kind = "unsupportedMagic"
            case .checksumMismatch: kind = "checksumMismatch"
            case .invalidHeader: kind = "invalidHeader"
            case .invalidRecord: kind = "invalidRecord"
            case .decompressionFailed: kind = "decompressionFailed"
            case .tooLarge: kind = "tooLarge"
            }
            errors[kind, default: 0] += 1
        }
    }

    static func seeds() throws -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for (index, codec) in CompressionCodec.allCases.enumerated() {
            for count in [1, 3, 12] {
                let records = RecordTestData.records(count: count, valueSize: 24 + index * 7, seed: UInt64(count))
                seeds.append(try RecordTestData.batch(records, compression: codec) { $0.baseSequence = 5 }.bytes)
            }
        }
        return seeds
    }

    static func mutate(_ seed: [UInt8], _ mutation: Mutation, _ generator: inout SeededGenerator) -> [UInt8] {
        var bytes = seed
        let headerSize = RecordBatchLayout.headerSize
        func randomIndex(from start: Int = 0) -> Int { Int.random(in: start ..< bytes.count, using: &generator) }
        switch mutation {
        case .bitFlipsKeepingCRC:
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &generator) {
                bytes[randomIndex()] ^= 1 << UInt8.random(in: 0 ... 7, using: &generator)
            }
        case .bitFlipsInRecordsFixingCRC:
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &generator) {
                bytes[randomIndex(from: headerSize)] ^= 1 << UInt8.random(in: 0 ... 7, using: &generator)
            }
            bytes.refreshCRC()
        case .truncation:
            bytes = Array(bytes.prefix(Int.random(in: 1 ..< bytes.count, using: &generator)))
        case .truncationFixingLength:
            bytes = Array(bytes.prefix(Int.random(in: headerSize ..< bytes.count, using: &generator)))
            bytes.refreshBatchFraming()
        case .forgedBatchLength:
            let forged: Int32 = generator.next() % 2 == 0
                ? Int32(truncatingIfNeeded: generator.next())
                : Int32(bytes.count - 12) + Int32.random(in: -70 ... 70, using: &generator)
            bytes.setInt32(forged, at: RecordBatchLayout.batchLength)
        case .forgedCountOrDelta:
            let field = generator.next() % 2 == 0 ? RecordBatchLayout.recordCount : RecordBatchLayout.lastOffsetDelta
            let forged: Int32 = generator.next() % 3 == 0
                ? Int32(truncatingIfNeeded: generator.next())
                : Int32.random(in: -2 ... 20, using: &generator)
            bytes.setInt32(forged, at: field)
            bytes.refreshCRC()
        case .forgedVarint:
            // Over-long or huge varints dropped over a random spot of the records.
            let patterns: [[UInt8]] = [[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], [0xFE, 0xFF, 0xFF, 0xFF, 0x0F],
                                       [0x01], [0x03], [0x80], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]]
            let pattern = patterns[Int(generator.next() % UInt64(patterns.count))]
            let at = randomIndex(from: headerSize)
            for (offset, byte) in pattern.enumerated() where at + offset < bytes.count { bytes[at + offset] = byte }
            bytes.refreshCRC()
        case .wrongCodecBits:
            let attributes = Int16(bytes[21]) << 8 | Int16(bytes[22])
            bytes.setInt16((attributes & ~7) | Int16.random(in: 0 ... 7, using: &generator), at: RecordBatchLayout.attributes)
            bytes.refreshCRC()
        case .compressedGarbage:
            let length = Int.random(in: 0 ... 300, using: &generator)
            var garbage = (0 ..< length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // Sometimes a plausible codec prefix, so the decoders get past their magic.
            let prefixes: [[UInt8]] = [[], [0x1F, 0x8B, 0x08, 0x00], [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1],
                                       [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82], [0x28, 0xB5, 0x2F, 0xFD]]
            garbage = prefixes[Int(generator.next() % UInt64(prefixes.count))] + garbage
            bytes = Array(bytes.prefix(headerSize)) + garbage
            let codec = Int16.random(in: 1 ... 4, using: &generator)
            let attributes = Int16(bytes[21]) << 8 | Int16(bytes[22])
            bytes.setInt16((attributes & ~7) | codec, at: RecordBatchLayout.attributes)
            bytes.refreshBatchFraming()
        case .splice:
            let start = randomIndex(from: headerSize)
            let length = Int.random(in: 1 ... 16, using: &generator)
            for index in start ..< min(start + length, bytes.count) { bytes[index] = UInt8(truncatingIfNeeded: generator.next()) }
            bytes.refreshCRC()
        }
        return bytes
    }

    /// Runs the whole decode path a consumer runs: framing, CRC, decompression, every record,
    /// every key, value and header.
    static func decode(_ bytes: [UInt8], context: CompressionContext, tally: inout Tally) {
        var iterator = RecordBatchSequence(ByteBuffer(bytes: bytes), mode: .strict).makeIterator()
        while let batch = iterator.next() {
            do {
                try batch.forEachRecord(decompressedBytesMax: 1 << 20, context: context) { record in
                    _ = record.key?.readableBytes
                    _ = record.value?.readableBytes
                    for header in record.headers { _ = header.key; _ = header.value }
                }
                tally.decoded += 1
            } catch {
                tally.record(error)
            }
        }
        if let failure = iterator.failure { tally.record(failure) }
    }

    @Test func hundredThousandMutatedBatches_throwOnlyTypedErrors() throws {
        let seeds = try Self.seeds()
        var generator = SeededGenerator(seed: 2026)
        let context = CompressionContext()
        var tally = Tally()
        var perMutation = [Int](repeating: 0, count: Mutation.allCases.count)
        let iterations = 100_000
        for _ in 0 ..< iterations {
            let seed = seeds[Int(generator.next() % UInt64(seeds.count))]
            let mutation = Mutation(rawValue: Int(generator.next() % UInt64(Mutation.allCases.count))) ?? .splice
            perMutation[mutation.rawValue] += 1
            Self.decode(Self.mutate(seed, mutation, &generator), context: context, tally: &tally)
        }
        print("fuzz tally: decoded \(tally.decoded), errors \(tally.errors.sorted { $0.key < $1.key })")
        let outcomes = tally.decoded + tally.errors.values.reduce(0, +)
        #expect(outcomes >= iterations)
        #expect(perMutation.allSatisfy { $0 > 8_000 })
        // Each kind of damage was reached, deep in the decoder too.
        #expect(tally.errors["checksumMismatch", default: 0] > 5_000)
        #expect(tally.errors["invalidRecord", default: 0] > 5_000)
        #expect(tally.errors["decompressionFailed", default: 0] > 10_000)
        #expect(tally.errors["truncated", default: 0] > 5_000)
        #expect(tally.errors["invalidHeader", default: 0] > 1_000)
        // Harmless mutations (a flipped bit inside a value) still decode.
        #expect(tally.decoded > 1_000)
    }

    @Test func seedsDecodeCleanly() throws {
        var tally = Tally()
        for seed in try Self.seeds() { Self.decode(seed, context: CompressionContext(), tally: &tally) }
        #expect(tally.errors.isEmpty)
        #expect(tally.decoded == 15)
    }
}
