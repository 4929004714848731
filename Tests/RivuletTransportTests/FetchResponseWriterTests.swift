import NIOCore
import RivuletCore
import RivuletWire
import Testing
@testable import RivuletTransport

/// The zero-copy Fetch writer produces the generated encoder's bytes, for every version.
@Suite struct FetchResponseWriterTests {
    static func randomResponse(version: Int16, random: inout SeededGenerator) -> FetchResponse {
        func int<T: FixedWidthInteger>(_: T.Type) -> T { T.random(in: T.min ... T.max, using: &random) }
        func records() -> ByteBuffer? {
            switch Int.random(in: 0 ..< 5, using: &random) {
            case 0: return nil
            case 1: return ByteBuffer()
            case 2: return ByteBuffer(bytes: (0 ..< Int.random(in: 1 ..< 300, using: &random)).map { UInt8(truncatingIfNeeded: $0) })
            default:
                // At or above the separate-buffer threshold, as a slice of a larger buffer (like a log read).
                let size = Int.random(in: FetchResponseWriter.separateRecordsBytesMin ..< 3 * FetchResponseWriter.separateRecordsBytesMin, using: &random)
                let whole = ByteBuffer(bytes: (0 ..< size + 100).map { UInt8(truncatingIfNeeded: $0 &* 13) })
                return whole.getSlice(at: 50, length: size)
            }
        }
        var response = FetchResponse(throttleTimeMs: int(Int32.self), errorCode: int(Int16.self), sessionId: int(Int32.self))
        for topicIndex in 0 ..< Int.random(in: 0 ... 3, using: &random) {
            var topic = FetchResponse.FetchableTopicResponse(
                topic: "topic-\(topicIndex)-\(String(repeating: "é", count: Int.random(in: 0 ... 3, using: &random)))",
                topicId: KafkaUUID(mostSignificantBits: int(UInt64.self), leastSignificantBits: int(UInt64.self)))
            for partitionIndex in 0 ..< Int.random(in: 0 ... 3, using: &random) {
                var partition = FetchResponse.PartitionData(
                    partitionIndex: Int32(partitionIndex), errorCode: int(Int16.self), highWatermark: int(Int64.self),
                    lastStableOffset: int(Int64.self), logStartOffset: int(Int64.self),
                    preferredReadReplica: Bool.random(using: &random) ? -1 : int(Int32.self), records: records())
                switch Int.random(in: 0 ..< 3, using: &random) {
                case 0: partition.abortedTransactions = nil
                case 1: partition.abortedTransactions = []
                default:
                    partition.abortedTransactions = (0 ..< Int.random(in: 1 ... 3, using: &random)).map { _ in
                        FetchResponse.AbortedTransaction(producerId: int(Int64.self), firstOffset: int(Int64.self))
                    }
                }
                if Bool.random(using: &random) { partition.divergingEpoch = .init(epoch: int(Int32.self), endOffset: int(Int64.self)) }
                if Bool.random(using: &random) { partition.currentLeader = .init(leaderId: int(Int32.self), leaderEpoch: int(Int32.self)) }
                if Bool.random(using: &random) { partition.snapshotId = .init(endOffset: int(Int64.self), epoch: int(Int32.self)) }
                topic.partitions.append(partition)
            }
            response.responses.append(topic)
        }
        if Bool.random(using: &random) {
            response.nodeEndpoints = [.init(nodeId: 1, host: "broker-1", port: 9092, rack: Bool.random(using: &random) ? nil : "r1")]
        }
        return response
    }

    @Test func frame_matchesTheGeneratedEncoder_atEveryVersion() {
        var random = SeededGenerator(seed: 2024)
        var segmented = 0
        for version in FetchResponse.validVersions {
            for _ in 0 ..< 40 {
                let response = Self.randomResponse(version: version, random: &random)
                let correlationId = Int32.random(in: .min ... .max, using: &random)
                let buffers = FetchResponseWriter.frame(response, correlationId: correlationId, version: version)
                var joined = ByteBuffer()
                for var buffer in buffers { joined.writeBuffer(&buffer) }
                let expected = KafkaResponseEncoder.frame(.fetch(response), correlationId: correlationId, apiVersion: version)
                #expect(joined == expected, "Fetch v\(version)")
                if buffers.count > 1 { segmented += 1 }
            }
        }
        #expect(segmented > 100)
    }

    @Test func frame_passesLargeRecordsThroughWithoutCopying() throws {
        let records = ByteBuffer(bytes: [UInt8](repeating: 7, count: 100_000))
        let response = FetchResponse(responses: [.init(topic: "t", partitions: [.init(partitionIndex: 0, records: records)])])
        // v11: the records are the last bytes of the frame; v12: a tagged section follows.
        #expect(FetchResponseWriter.frame(response, correlationId: 1, version: 11).count == 2)
        let buffers = FetchResponseWriter.frame(response, correlationId: 1, version: 12)
        #expect(buffers.count == 3)
        let passed = try #require(buffers.first { $0.readableBytes == records.readableBytes })
        // Same storage: the pointer of the first readable byte is the log's.
        let same = passed.withUnsafeReadableBytes { a in records.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress } }
        #expect(same)
        #expect(buffers.reduce(0) { $0 + $1.readableBytes } - 4 == Int(buffers[0].getInteger(at: 0, as: Int32.self) ?? -1))
    }

    @Test func frame_withOnlySmallRecords_isOneBuffer() {
        let response = FetchResponse(responses: [.init(topic: "t", partitions: [.init(partitionIndex: 0, records: ByteBuffer(bytes: [1, 2, 3]))])])
        #expect(FetchResponseWriter.frame(response, correlationId: 1, version: 12).count == 1)
    }
}
