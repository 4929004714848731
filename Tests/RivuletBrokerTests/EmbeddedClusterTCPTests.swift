import NIOCore
import RivuletBroker
import RivuletTransport
import RivuletWire
import Testing

/// An embedded cluster served over TCP (`EmbeddedCluster.startWithTCP`): Metadata advertises the
/// listener, records go through the wire protocol both ways, and the listener survives a broker restart.
@Suite struct EmbeddedClusterTCPTests {
    static func batch(count: Int, prefix: String) throws -> ByteBuffer {
        var builder = RecordBatchBuilder()
        for i in 0 ..< count {
            try builder.append(timestampMs: 1_700_000_000_000 + Int64(i), key: Array("k\(i)".utf8), value: Array("\(prefix)-\(i)".utf8))
        }
        return try builder.build().buffer
    }

    static func values(_ records: ByteBuffer?) throws -> [String] {
        guard let records else { return [] }
        return try RecordBatchSequence(records).batches().flatMap { try $0.records() }.map { String(decoding: $0.valueBytes ?? [], as: UTF8.self) }
    }

    @Test func cluster_overTCP_advertisesTheListener_andServesProduceAndFetchAcrossARestart() async throws {
        let (cluster, listeners) = try await EmbeddedCluster.startWithTCP(EmbeddedCluster.Configuration(storageURL: "memory://"))
        let address = try #require(listeners.bootstrapAddresses.first)
        #expect(address.host == "127.0.0.1" && address.port > 0)
        #expect(cluster.address(of: 0) == address)
        let connection = try await listeners.transport().connect(to: address, clientId: "embedded-tcp")

        let metadata = try await connection.send(MetadataRequest(topics: [.init(name: "orders")], allowAutoTopicCreation: true), version: 12)
        #expect(metadata.brokers.map { BrokerAddress(host: $0.host, port: Int($0.port)) } == [address])
        #expect(metadata.topics.first?.errorCode == 0)

        let produce = ProduceRequest(acks: -1, timeoutMs: 5_000,
                                     topicData: [.init(name: "orders", partitionData: [.init(index: 0, records: try Self.batch(count: 50, prefix: "v"))])])
        let produced = try await connection.send(produce, version: 9)
        #expect(produced.responses.first?.partitionResponses.first?.errorCode == 0)
        #expect(produced.responses.first?.partitionResponses.first?.baseOffset == 0)

        let fetch = FetchRequest(replicaId: -1, maxWaitMs: 100, minBytes: 1, maxBytes: 1 << 20,
                                 topics: [.init(topic: "orders", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)])])
        let fetched = try await connection.send(fetch, version: 11)
        #expect(try Self.values(fetched.responses.first?.partitions.first?.records) == (0 ..< 50).map { "v-\($0)" })
        await connection.close()

        // The listener outlives a broker restart; memory storage keeps the records.
        try await cluster.restartBroker(0)
        let again = try await listeners.transport().connect(to: address, clientId: "embedded-tcp-2")
        let refetched = try await again.send(fetch, version: 11)
        #expect(try Self.values(refetched.responses.first?.partitions.first?.records) == (0 ..< 50).map { "v-\($0)" })
        await again.close()

        await listeners.close()
        await cluster.shutdown()
    }
}
