import Foundation
import NIOCore
import Testing
@testable import RivuletWire

/// Golden batches written by a real Kafka client implementation (kafka-python's
/// DefaultRecordBatchBuilder and codecs; see Fixtures/records/generate_fixtures.py).
@Suite struct RecordFixtureTests {
    struct Manifest: Decodable {
        var client: String
        var fixtures: [Fixture]
        var recordSets: [String: [ExpectedRecord]]
    }

    struct Fixture: Decodable, CustomTestStringConvertible {
        var file: String
        var codec: String
        var framing: String
        var baseOffset: Int64
        var partitionLeaderEpoch: Int32
        var attributes: Int16
        var lastOffsetDelta: Int32
        var baseTimestamp: Int64
        var maxTimestamp: Int64
        var producerId: Int64
        var producerEpoch: Int16
        var baseSequence: Int32
        var recordCount: Int32
        var crc: UInt32
        var recordSet: String
        var testDescription: String { "\(file) (\(framing))" }
    }

    struct ExpectedRecord: Decodable {
        struct Header: Decodable { var key: String; var value: String? }
        var offsetDelta: Int64
        var timestampMs: Int64
        var key: String?
        var value: String?
        var headers: [Header]
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/records")

    static let manifest: Manifest? = {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")) else { return nil }
        return try? JSONDecoder().decode(Manifest.self, from: data)
    }()

    static var fixtures: [Fixture] { manifest?.fixtures ?? [] }

    static func bytes(hex: String?) -> [UInt8]? {
        guard let hex else { return nil }
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index ..< next], radix: 16) ?? 0)
            index = next
        }
        return result
    }

    static func load(_ fixture: Fixture) throws -> RecordBatch {
        let data = try Data(contentsOf: directory.appendingPathComponent(fixture.file))
        return try RecordBatch(ByteBuffer(bytes: data))
    }

    @Test func manifest_listsEveryCodecAndFraming() throws {
        let manifest = try #require(Self.manifest, "Fixtures/records/manifest.json must load")
        #expect(manifest.client.hasPrefix("kafka-python 3.0.12"))
        #expect(Set(manifest.fixtures.map(\.codec)) == Set(CompressionCodec.allCases.map(\.description)))
        #expect(manifest.fixtures.count >= 15)
    }

    @Test(arguments: fixtures)
    func fixture_decodesToTheRecordsTheClientWrote(fixture: Fixture) throws {
        let batch = try Self.load(fixture)
        try batch.validate()
        let header = batch.header
        #expect(header.attributes.compression?.description == fixture.codec)
        #expect(header.attributes.rawValue == fixture.attributes)
        #expect(header.baseOffset == fixture.baseOffset)
        #expect(header.partitionLeaderEpoch == fixture.partitionLeaderEpoch)
        #expect(header.lastOffsetDelta == fixture.lastOffsetDelta)
        #expect(header.baseTimestamp == fixture.baseTimestamp && header.maxTimestamp == fixture.maxTimestamp)
        #expect(header.producerId == fixture.producerId && header.producerEpoch == fixture.producerEpoch)
        #expect(header.baseSequence == fixture.baseSequence && header.recordCount == fixture.recordCount)
        #expect(header.crc == fixture.crc)

        let expected = try #require(Self.manifest?.recordSets[fixture.recordSet])
        let records = try batch.records()
        try #require(records.count == expected.count)
        for (record, want) in zip(records, expected) {
            #expect(record.offset == fixture.baseOffset + want.offsetDelta)
            #expect(record.timestampMs == want.timestampMs)
            #expect(record.keyBytes == Self.bytes(hex: want.key))
            #expect(record.valueBytes == Self.bytes(hex: want.value))
            #expect(record.headers.map(\.key) == want.headers.map(\.key))
            #expect(record.headers.map { $0.value.map { Array($0.readableBytesView) } } == want.headers.map { Self.bytes(hex: $0.value) })
            if fixture.baseSequence >= 0 {
                #expect(record.sequence == fixture.baseSequence + Int32(want.offsetDelta))
            }
        }
    }

    @Test(arguments: fixtures)
    func fixture_reencodedBySwift_hasTheSameRecordBytes(fixture: Fixture) throws {
        // kafka-python and RecordBatchBuilder must agree byte for byte on the uncompressed records.
        let batch = try Self.load(fixture)
        var builder = RecordBatchBuilder()
        for record in try batch.records() {
            try builder.append(timestampMs: record.timestampMs, key: record.key, value: record.value,
                               headers: record.headers.map(\.materialized))
        }
        let rebuilt = try builder.build()
        #expect(try rebuilt.recordBytes() == batch.recordBytes())
    }

    /// Writes Swift-encoded batches (every codec) for the check in the other direction:
    ///     RIVULET_EXPORT_SWIFT_BATCHES=/tmp/swift-batches swift test --filter RecordFixtureTests
    ///     python3 Tests/RivuletWireTests/Fixtures/records/check_swift_batches.py /tmp/swift-batches
    /// Without the variable it only checks that the export round-trips.
    @Test func swiftEncodedBatches_exportForKafkaPython() throws {
        let records = RecordTestData.records(count: 300, valueSize: 300)
        var exported: [(name: String, bytes: [UInt8])] = []
        for codec in CompressionCodec.allCases {
            let batch = try RecordTestData.batch(records, compression: codec) { builder in
                builder.producerId = 77
                builder.producerEpoch = 2
                builder.baseSequence = 10
            }
            #expect(try batch.records().map(\.testRecord) == records)
            exported.append(("swift-\(codec)", batch.bytes))
        }
        guard let path = ProcessInfo.processInfo.environment["RIVULET_EXPORT_SWIFT_BATCHES"] else { return }
        let directory = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, bytes) in exported {
            try Data(bytes).write(to: directory.appendingPathComponent(name + ".bin"))
        }
        let hex = { (bytes: [UInt8]?) -> Any in bytes.map { $0.map { String(format: "%02x", $0) }.joined() } ?? NSNull() }
        let expected: [[String: Any]] = records.enumerated().map { index, record in
            ["offsetDelta": index, "timestampMs": record.timestampMs, "key": hex(record.key), "value": hex(record.value),
             "headers": record.headers.map { ["key": $0.key, "value": hex($0.value)] }]
        }
        let manifest: [String: Any] = ["batches": exported.map { $0.name + ".bin" }, "records": expected]
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            .write(to: directory.appendingPathComponent("expected.json"))
    }
}
