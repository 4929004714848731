import NIOCore
import Testing
@testable import RivuletWire

@Suite struct RecordDecoderTests {
    /// Decodes `bytes` and returns the error, or nil when every record decoded.
    func decodeError(_ bytes: [UInt8], verifyChecksum: Bool = true,
                     decompressedBytesMax: Int = RecordBatchLimits.decompressedBytesMax) -> RecordBatchError? {
        do {
            let batch = try RecordBatch.from(bytes)
            try batch.forEachRecord(verifyChecksum: verifyChecksum, decompressedBytesMax: decompressedBytesMax) { record in
                _ = record.key; _ = record.value
                for header in record.headers { _ = header.value }
            }
            return nil
        } catch {
            return error
        }
    }

    func isInvalidRecord(_ error: RecordBatchError?, containing text: String) -> Bool {
        guard case let .invalidRecord(_, reason) = error else { return false }
        return reason.contains(text)
    }

    func batch(_ records: [RecordForge], count: Int32? = nil, lastOffsetDelta: Int32? = nil) -> [UInt8] {
        RecordForge.batch(records: records.flatMap { $0.framed() }, recordCount: count ?? Int32(records.count),
                          lastOffsetDelta: lastOffsetDelta ?? Int32(max(records.count - 1, 0)))
    }

    @Test func handForgedValidBatch_decodes() throws {
        let bytes = batch([
            .body(timestampDelta: 5, offsetDelta: 0, key: [1], value: [2, 3], headers: [("h", nil)]),
            .body(timestampDelta: -3, offsetDelta: 1, key: nil, value: nil),
        ])
        let records = try RecordBatch.from(bytes).records()
        #expect(records.count == 2)
        #expect(records[0].timestampMs == 1005 && records[1].timestampMs == 997)
        #expect(records[0].headers.map(\.key) == ["h"])
    }

    @Test func iterator_yieldsRecordsThenNil() throws {
        let batch = try RecordTestData.batch(RecordTestData.records(count: 5))
        var iterator = try batch.makeRecordIterator()
        #expect(iterator.count == 5)
        var offsets: [Int64] = []
        while let record = try iterator.next() { offsets.append(record.offset) }
        #expect(offsets == [0, 1, 2, 3, 4])
        #expect(try iterator.next() == nil)
    }

    @Test func baseOffsetStampedByBroker_isAddedToEveryRecord() throws {
        var batch = try RecordTestData.batch(RecordTestData.records(count: 3))
        batch.setBaseOffset(1_000)
        #expect(batch.isChecksumValid)
        #expect(try batch.records().map(\.offset) == [1_000, 1_001, 1_002])
    }

    @Test func withUnsafeKeyAndValue_seeTheSameBytesAsSlices() throws {
        let batch = try RecordTestData.batch(RecordTestData.records(count: 12))
        try batch.forEachRecord { record in
            record.withUnsafeKey { #expect($0.map { Array($0) } == record.keyBytes) }
            record.withUnsafeValue { #expect($0.map { Array($0) } == record.valueBytes) }
        }
    }

    @Test func negativeKeyLengthOtherThanMinusOne_isInvalid() {
        var forge = RecordForge()
        forge.raw([0]); forge.varlong(0); forge.varint(0); forge.varint(-2); forge.varint(-1); forge.varint(0)
        #expect(isInvalidRecord(decodeError(batch([forge])), containing: "key length -2 is negative"))
    }

    @Test func negativeValueLength_isInvalid() {
        var forge = RecordForge()
        forge.raw([0]); forge.varlong(0); forge.varint(0); forge.varint(-1); forge.varint(-7); forge.varint(0)
        #expect(isInvalidRecord(decodeError(batch([forge])), containing: "value length -7"))
    }

    @Test func nullHeaderKey_isInvalid() {
        var forge = RecordForge()
        forge.raw([0]); forge.varlong(0); forge.varint(0); forge.varint(-1); forge.varint(-1)
        forge.varint(1); forge.varint(-1); forge.varint(-1)
        #expect(isInvalidRecord(decodeError(batch([forge])), containing: "header key length -1"))
    }

    @Test func negativeHeaderCount_isInvalid() {
        var forge = RecordForge()
        forge.raw([0]); forge.varlong(0); forge.varint(0); forge.varint(-1); forge.varint(-1); forge.varint(-1)
        #expect(isInvalidRecord(decodeError(batch([forge])), containing: "header count -1"))
    }

    @Test func headerCountBeyondRecord_isInvalid() {
        var forge = RecordForge()
        forge.raw([0]); forge.varlong(0); forge.varint(0); forge.varint(-1); forge.varint(-1); forge.varint(1_000_000)
        #expect(isInvalidRecord(decodeError(batch([forge])), containing: "header count length 1000000"))
    }

    @Test func keyLongerThanRecord_isInvalid() {
        var forge = RecordForge()
        forge.raw([0]); forge.varlong(0); forge.varint(0); forge.varint(50); forge.raw([1, 2]); forge.varint(-1); forge.varint(0)
        #expect(isInvalidRecord(decodeError(batch([forge])), containing: "key length 50 exceeds"))
    }

    @Test func overlongVarint_isInvalid() {
        var forge = RecordForge()
        forge.raw([0]); forge.raw([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        forge.varint(0); forge.varint(-1); forge.varint(-1); forge.varint(0)
        #expect(isInvalidRecord(decodeError(batch([forge])), containing: "timestamp delta varint"))
        var offset = RecordForge()
        offset.raw([0]); offset.varlong(0); offset.raw([0x80, 0x80, 0x80, 0x80, 0x10]); offset.varint(-1); offset.varint(-1); offset.varint(0)
        #expect(isInvalidRecord(decodeError(batch([offset])), containing: "offset delta varint"))
    }

    @Test func recordLengthTooShortOrBeyondBatch_isInvalid() {
        let short = RecordForge.body(offsetDelta: 0, key: nil, value: nil).framed(length: 3)
        #expect(isInvalidRecord(decodeError(RecordForge.batch(records: short, recordCount: 1, lastOffsetDelta: 0)),
                                containing: "below the 6-byte minimum"))
        let long = RecordForge.body(offsetDelta: 0, key: nil, value: nil).framed(length: 500)
        #expect(isInvalidRecord(decodeError(RecordForge.batch(records: long, recordCount: 1, lastOffsetDelta: 0)),
                                containing: "exceeds the"))
    }

    @Test func fieldsNotFillingTheDeclaredLength_areInvalid() {
        let body = RecordForge.body(offsetDelta: 0, key: [1], value: [2])
        let padded = body.framed(length: Int32(body.bytes.count + 2)) + [0, 0]
        #expect(isInvalidRecord(decodeError(RecordForge.batch(records: padded, recordCount: 1, lastOffsetDelta: 0)),
                                containing: "length says"))
    }

    @Test func offsetDeltas_mustIncreaseAndStayWithinLastOffsetDelta() {
        let repeated = batch([.body(offsetDelta: 0, key: nil, value: [1]), .body(offsetDelta: 0, key: nil, value: [2])])
        #expect(isInvalidRecord(decodeError(repeated), containing: "offset delta 0"))
        let beyond = batch([.body(offsetDelta: 0, key: nil, value: [1]), .body(offsetDelta: 5, key: nil, value: [2])],
                           lastOffsetDelta: 4)
        #expect(isInvalidRecord(decodeError(beyond), containing: "offset delta 5"))
        let negative = batch([.body(offsetDelta: -1, key: nil, value: [1])])
        #expect(isInvalidRecord(decodeError(negative), containing: "offset delta -1"))
        // Gaps left by compaction are fine.
        let gaps = batch([.body(offsetDelta: 0, key: nil, value: [1]), .body(offsetDelta: 7, key: nil, value: [2])],
                         lastOffsetDelta: 9)
        #expect(decodeError(gaps) == nil)
    }

    @Test func recordCount_mustMatchTheBytes() {
        let ten = [UInt8](repeating: 7, count: 10)
        let two = [RecordForge.body(offsetDelta: 0, key: nil, value: ten), .body(offsetDelta: 1, key: nil, value: ten)]
        #expect(isInvalidRecord(decodeError(batch(two, count: 3, lastOffsetDelta: 2)), containing: "bytes end after 2"))
        #expect(isInvalidRecord(decodeError(batch(two, count: 1, lastOffsetDelta: 1)), containing: "follow the last of 1"))
        #expect(isInvalidRecord(decodeError(batch(two, count: 1_000_000, lastOffsetDelta: 1_000_000)), containing: "cannot fit"))
    }

    @Test func headerContradictions_areInvalidHeaders() {
        let one = [RecordForge.body(offsetDelta: 0, key: nil, value: [1])]
        guard case .invalidHeader = decodeError(batch(one, count: 3, lastOffsetDelta: 1)) else {
            Issue.record("recordCount above lastOffsetDelta + 1 must be rejected"); return
        }
        guard case .invalidHeader = decodeError(batch(one, count: -1, lastOffsetDelta: 0)) else {
            Issue.record("negative recordCount must be rejected"); return
        }
        var reserved = batch(one)
        reserved.setInt16(6, at: RecordBatchLayout.attributes)
        reserved.refreshCRC()
        guard case .invalidHeader = decodeError(reserved) else { Issue.record("codec 6 must be rejected"); return }
    }

    @Test func checksum_isVerifiedByDefault_andCanBeSkipped() throws {
        var bytes = try RecordTestData.batch(RecordTestData.records(count: 3)).bytes
        bytes[RecordBatchLayout.maxTimestamp + 7] ^= 0x01 // covered by the CRC, harmless to the records
        guard case .checksumMismatch = decodeError(bytes) else { Issue.record("CRC must be checked"); return }
        #expect(decodeError(bytes, verifyChecksum: false) == nil)
    }

    @Test func emptyBatch_hasNoRecords_butTrailingBytesAreRejected() {
        #expect(decodeError(RecordForge.batch(records: [], recordCount: 0, lastOffsetDelta: 0)) == nil)
        #expect(isInvalidRecord(decodeError(RecordForge.batch(records: [1, 2, 3], recordCount: 0, lastOffsetDelta: 0)),
                                containing: "3 bytes follow"))
        // An empty compressed batch is not decompressed, as in Kafka.
        #expect(decodeError(RecordForge.batch(records: [9, 9, 9], recordCount: 0, lastOffsetDelta: 0, codec: .zstd)) == nil)
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func decompressionBomb_stopsAtTheCap(codec: CompressionCodec) throws {
        // 4 MiB of records that compress to a few KiB; a 1 MiB cap must stop them.
        let records = (0 ..< 4096).map { _ in TestRecord(timestampMs: 0, key: nil, value: [UInt8](repeating: 0, count: 1000)) }
        let batch = try RecordTestData.batch(records, compression: codec)
        #expect(batch.buffer.readableBytes < 300_000)
        #expect(throws: RecordBatchError.self) { try batch.forEachRecord(decompressedBytesMax: 1 << 20) { _ in } }
        do {
            try batch.forEachRecord(decompressedBytesMax: 1 << 20) { _ in }
        } catch {
            guard case let .tooLarge(size, limit) = error else { Issue.record("expected tooLarge, got \(error)"); return }
            #expect(limit == 1 << 20 && size > limit)
        }
        #expect(try batch.records().count == 4096)
    }

    @Test func recordsCutAtEveryOffset_withForgedLengthAndCRC_areRejectedCleanly() throws {
        let original = try RecordTestData.batch(RecordTestData.records(count: 8, valueSize: 30)).bytes
        var rejected = 0
        for cut in RecordBatchLayout.headerSize ..< original.count {
            var bytes = Array(original[..<cut])
            bytes.refreshBatchFraming()
            let error = decodeError(bytes)
            #expect(error != nil, "cut at \(cut) must not decode")
            if case .invalidRecord = error { rejected += 1 }
        }
        #expect(rejected == original.count - RecordBatchLayout.headerSize)
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func compressedBlockCutAtEveryOffset_isRejectedCleanly(codec: CompressionCodec) throws {
        let original = try RecordTestData.batch(RecordTestData.records(count: 6, valueSize: 40), compression: codec).bytes
        for cut in RecordBatchLayout.headerSize ..< original.count {
            var bytes = Array(original[..<cut])
            bytes.refreshBatchFraming()
            #expect(decodeError(bytes) != nil, "\(codec) cut at \(cut) must not decode")
        }
    }

    @Test func sequenceCutAtEveryOffset_yieldsCompleteBatchesOnly() throws {
        var all = ByteBuffer()
        var boundaries: [Int] = [0]
        for codec in CompressionCodec.allCases {
            let batch = try RecordTestData.batch(RecordTestData.records(count: 4, valueSize: 20), compression: codec)
            all.writeImmutableBuffer(batch.buffer)
            boundaries.append(all.readableBytes)
        }
        for cut in 0 ... all.readableBytes {
            let prefix = try #require(all.getSlice(at: 0, length: cut))
            let complete = boundaries.filter { $0 <= cut }.count - 1
            let atBoundary = boundaries.contains(cut)
            // strict: every complete batch, then an error unless the cut is at a boundary.
            var iterator = RecordBatchSequence(prefix, mode: .strict).makeIterator()
            var count = 0
            while let batch = iterator.next() {
                count += 1
                try batch.forEachRecord { _ in }
            }
            #expect(count == complete, "cut \(cut)")
            #expect((iterator.failure == nil) == atBoundary, "cut \(cut)")
            if !atBoundary {
                guard case .truncated = iterator.failure else { Issue.record("cut \(cut): \(String(describing: iterator.failure))"); continue }
            }
            // allowPartialTail: the same complete batches, no error.
            var tolerant = RecordBatchSequence(prefix, mode: .allowPartialTail).makeIterator()
            var tolerantCount = 0
            while tolerant.next() != nil { tolerantCount += 1 }
            #expect(tolerantCount == complete && tolerant.failure == nil, "cut \(cut)")
        }
    }

    @Test func singleBatchCutAtEveryOffset_isTruncated() throws {
        let bytes = try RecordTestData.batch(RecordTestData.records(count: 5), compression: .snappy).bytes
        for cut in 0 ..< bytes.count {
            #expect(throws: RecordBatchError.self) { try RecordBatch.from(Array(bytes[..<cut])) }
        }
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func recordsHeldFromAnEarlierDecode_surviveTheContextsScratchReuse(codec: CompressionCodec) throws {
        let context = CompressionContext()
        let first = RecordTestData.records(count: 20, seed: 1)
        let second = RecordTestData.records(count: 20, seed: 2).map { record -> TestRecord in
            var changed = record
            changed.value = record.value.map { $0.map { $0 ^ 0x5A } }
            return changed
        }
        let held = try RecordTestData.batch(first, compression: codec).records(context: context)
        let later = try RecordTestData.batch(second, compression: codec).records(context: context)
        #expect(held.map(\.testRecord) == first)
        #expect(later.map(\.testRecord) == second)
    }
}
