import NIOCore
import Testing
@testable import RivuletWire

@Suite struct RecordBatchBuilderTests {
    @Test(arguments: CompressionCodec.allCases)
    func build_thenDecode_returnsEveryRecordExactly(codec: CompressionCodec) throws {
        let records = RecordTestData.records(count: 40, valueSize: 120)
        let batch = try RecordTestData.batch(records, compression: codec)
        try batch.validateForProduce()
        #expect(batch.header.attributes.compression == codec)
        let decoded = try batch.records()
        #expect(decoded.map(\.testRecord) == records)
        #expect(decoded.map(\.offset) == (0 ..< 40).map(Int64.init))
        #expect(decoded.map(\.offsetDelta) == (0 ..< 40).map(Int32.init))
    }

    @Test func header_matchesKafkaProducerConventions() throws {
        let records = RecordTestData.records(count: 9)
        let batch = try RecordTestData.batch(records)
        let header = batch.header
        #expect(header.baseOffset == 0)
        #expect(header.partitionLeaderEpoch == -1)
        #expect(header.magic == 2)
        #expect(header.lastOffsetDelta == 8)
        #expect(header.recordCount == 9)
        #expect(header.baseTimestamp == records[0].timestampMs)
        #expect(header.maxTimestamp == records.map(\.timestampMs).max())
        #expect(header.producerId == -1 && header.producerEpoch == -1 && header.baseSequence == -1)
        #expect(header.attributes.rawValue == 0)
        #expect(batch.isChecksumValid)
        #expect(Int(header.batchLength) + 12 == batch.buffer.readableBytes)
    }

    @Test func maxTimestamp_isTheLargest_evenWhenTheLastRecordIsOlder() throws {
        var builder = RecordBatchBuilder()
        try builder.append(timestampMs: 5_000, key: nil, value: [1])
        try builder.append(timestampMs: 9_000, key: nil, value: [2])
        try builder.append(timestampMs: 1_000, key: nil, value: [3])
        let batch = try builder.build()
        #expect(batch.header.baseTimestamp == 5_000)
        #expect(batch.header.maxTimestamp == 9_000)
        #expect(try batch.records().map(\.timestampMs) == [5_000, 9_000, 1_000])
    }

    @Test func attributesAndProducerFields_areWritten() throws {
        let batch = try RecordTestData.batch(RecordTestData.records(count: 3), compression: .zstd) { builder in
            builder.producerId = 4242
            builder.producerEpoch = 7
            builder.baseSequence = Int32.max - 1
            builder.isTransactional = true
            builder.isControl = true
        }
        let header = batch.header
        #expect(header.attributes.compression == .zstd)
        #expect(header.attributes.isTransactional)
        #expect(header.attributes.isControl)
        #expect(!header.attributes.isLogAppendTime)
        #expect(header.producerId == 4242 && header.producerEpoch == 7 && header.baseSequence == Int32.max - 1)
        // Sequences wrap from Int32.max to 0, as in Kafka's DefaultRecordBatch.incrementSequence.
        #expect(try batch.records().map(\.sequence) == [Int32.max - 1, Int32.max, 0])
        #expect(header.attributes.rawValue == 4 | 1 << 4 | 1 << 5)
    }

    @Test func logAppendTime_setsBitAndMaxTimestamp_andRecordsReportIt() throws {
        let batch = try RecordTestData.batch(RecordTestData.records(count: 4)) { $0.logAppendTimeMs = 42_000 }
        #expect(batch.header.attributes.isLogAppendTime)
        #expect(batch.header.maxTimestamp == 42_000)
        #expect(try batch.records().allSatisfy { $0.timestampMs == 42_000 })
    }

    @Test func nullAndEmptyKeysAndValues_areDistinct() throws {
        var builder = RecordBatchBuilder()
        try builder.append(timestampMs: 1, key: nil, value: nil)
        try builder.append(timestampMs: 1, key: [], value: [])
        let batch = try builder.build()
        let records = try batch.records()
        #expect(records[0].key == nil && records[0].value == nil)
        #expect(records[0].keyLength == -1 && records[0].valueLength == -1)
        #expect(records[1].key?.readableBytes == 0 && records[1].value?.readableBytes == 0)
        // Null is written as length -1: zig-zag varint 0x01.
        let recordBytes = Array(batch.buffer.readableBytesView.dropFirst(RecordBatchLayout.headerSize))
        #expect(recordBytes.prefix(7) == [0x0C, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00])
    }

    @Test func byteBufferAndRawPointerOverloads_writeTheSameBytesAsArrays() throws {
        let key: [UInt8] = Array("k".utf8)
        let value: [UInt8] = Array("the value".utf8)
        let headers = [RecordHeader(key: "h", value: ByteBuffer(bytes: [9, 9]))]
        var arrays = RecordBatchBuilder()
        try arrays.append(timestampMs: 10, key: key, value: value, headers: headers)
        try arrays.append(timestampMs: 11, key: nil, value: value)
        var buffers = RecordBatchBuilder()
        try buffers.append(timestampMs: 10, key: ByteBuffer(bytes: key), value: ByteBuffer(bytes: value), headers: headers)
        try buffers.append(timestampMs: 11, key: nil as ByteBuffer?, value: ByteBuffer(bytes: value))
        var pointers = RecordBatchBuilder()
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                try pointers.append(timestampMs: 10, key: k, value: v, headers: headers)
                try pointers.append(timestampMs: 11, key: nil as UnsafeRawBufferPointer?, value: v)
            }
        }
        let expected = try arrays.build().bytes
        #expect(try buffers.build().bytes == expected)
        #expect(try pointers.build().bytes == expected)
    }

    @Test func headers_roundTripWithUTF8KeysAndNullValues() throws {
        let headers = [
            RecordHeader(key: "a", value: [1, 2, 3]),
            RecordHeader(key: "ключ-🙂", value: nil as [UInt8]?),
            RecordHeader(key: "", value: [UInt8]()),
        ]
        var builder = RecordBatchBuilder()
        try builder.append(timestampMs: 1, key: [1], value: [2], headers: headers)
        let record = try #require(try builder.build().records().first)
        #expect(record.headers.count == 3)
        #expect(record.headers.map(\.materialized) == headers)
        #expect(record.headers.map(\.key) == ["a", "ключ-🙂", ""])
        #expect(Array(record.headers).map(\.value?.readableBytes) == [3, nil, 0])
    }

    @Test func sizes_areExactForUncompressedBatches() throws {
        var builder = RecordBatchBuilder()
        #expect(builder.estimatedSizeBytes == RecordBatchLayout.headerSize)
        for record in RecordTestData.records(count: 25) {
            let before = builder.estimatedSizeBytes
            let predicted = builder.sizeOfNextRecord(timestampMs: record.timestampMs, keyLength: record.key?.count,
                                                     valueLength: record.value?.count, headers: record.headers)
            try builder.append(timestampMs: record.timestampMs, key: record.key, value: record.value, headers: record.headers)
            #expect(builder.estimatedSizeBytes - before == predicted)
        }
        #expect(builder.recordCount == 25)
        let batch = try builder.build()
        #expect(batch.buffer.readableBytes == builder.estimatedSizeBytes)
        #expect(try batch.records().map(\.sizeInBytes).reduce(0, +) == builder.uncompressedRecordsSizeBytes)
    }

    @Test func reset_startsAFreshBatch_andKeepsSettings() throws {
        var builder = RecordBatchBuilder(compression: .lz4, producerId: 9, producerEpoch: 1, baseSequence: 0)
        try builder.append(timestampMs: 100, key: [1], value: [1])
        try builder.append(timestampMs: 200, key: [2], value: [2])
        let first = try builder.build()
        builder.reset()
        #expect(builder.isEmpty && builder.recordCount == 0)
        #expect(builder.estimatedSizeBytes == RecordBatchLayout.headerSize)
        builder.baseSequence = 2
        try builder.append(timestampMs: 300, key: [3], value: [3])
        let second = try builder.build()
        // The first batch is untouched by the reuse (copy-on-write).
        #expect(try first.records().map(\.valueBytes) == [[1], [2]])
        #expect(try second.records().map(\.valueBytes) == [[3]])
        #expect(second.header.baseTimestamp == 300 && second.header.recordCount == 1)
        #expect(second.header.baseSequence == 2 && second.header.producerId == 9)
        #expect(second.header.attributes.compression == .lz4)
    }

    @Test func build_withoutRecords_throws() {
        var builder = RecordBatchBuilder()
        #expect(throws: RecordBatchError.self) { try builder.build() }
    }

    @Test func negativeTimestamp_isRejected_butNoTimestampIsAllowed() throws {
        var builder = RecordBatchBuilder()
        #expect(throws: RecordBatchError.self) { try builder.append(timestampMs: -2, key: nil, value: [1]) }
        #expect(builder.isEmpty)
        try builder.append(timestampMs: -1, key: nil, value: [1])
        #expect(try builder.build().records().first?.timestampMs == -1)
    }

    @Test func appendAfterBuild_continuesTheSameBatch() throws {
        var builder = RecordBatchBuilder()
        try builder.append(timestampMs: 1, key: nil, value: [1])
        _ = try builder.build()
        try builder.append(timestampMs: 2, key: nil, value: [2])
        let batch = try builder.build()
        #expect(batch.header.recordCount == 2 && batch.isChecksumValid)
    }

    @Test(arguments: CompressionCodec.allCases)
    func compressionLevels_areAcceptedAndClamped(codec: CompressionCodec) throws {
        let records = RecordTestData.records(count: 20)
        for level in [-1000, 0, 1, 9, 1000] {
            let batch = try RecordTestData.batch(records, compression: codec) { $0.compressionLevel = level }
            #expect(try batch.records().map(\.testRecord) == records)
        }
    }

    @Test func sharedCompressionContext_isReusedAcrossBuildersAndDecodes() throws {
        let context = CompressionContext()
        let records = RecordTestData.records(count: 30)
        for codec in CompressionCodec.allCases {
            var builder = RecordBatchBuilder(compression: codec, compressionContext: context)
            for round in 0 ..< 3 {
                builder.reset()
                for record in records {
                    try builder.append(timestampMs: record.timestampMs, key: record.key, value: record.value, headers: record.headers)
                }
                let batch = try builder.build()
                #expect(try batch.records(context: context).map(\.testRecord) == records, "round \(round)")
            }
        }
    }
}
