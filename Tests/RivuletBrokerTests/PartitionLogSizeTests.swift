import NIOCore
import RivuletBroker
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Testing

@Suite("Partition log size")
struct PartitionLogSizeTests {
    @Test("logSizeBytes is the bytes stored, for the metrics gauge", arguments: StorageKind.allCases)
    func logSizeBytes_followsAppends(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("sizes", partitions: 1)
            #expect(try fixture.partition("sizes").logSizeBytes == 0)
            let first = try makeBatch(count: 3, prefix: "a")
            let second = try makeBatch(count: 5, prefix: "b")
            #expect(try await fixture.produce("sizes", records: first).errorCode == 0)
            #expect(try await fixture.produce("sizes", records: second).errorCode == 0)
            #expect(try fixture.partition("sizes").logSizeBytes == Int64(first.readableBytes + second.readableBytes))
        }
    }
}
