import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization
import Testing

/// Forwards to a handler set after the listener is bound (the broker must advertise the port).
private final class LateHandler: KafkaRequestHandler, Sendable {
    let target = Mutex<(any KafkaRequestHandler)?>(nil)

    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        guard let handler = target.withLock({ $0 }) else { return nil }
        return await handler.handle(request, context: context)
    }

    func connectionClosed(connectionID: UInt64) async {
        await target.withLock({ $0 })?.connectionClosed(connectionID: connectionID)
    }
}

/// The same client code over the TCP transport: Kafka's wire protocol on 127.0.0.1.
@Suite(.timeLimit(.minutes(1))) struct TCPEndToEndTests {
    @Test func produceConsumeAndAdmin_overTCP() async throws {
        let forward = LateHandler()
        let server = try await TCPServer.start(config: TCPServerConfig(listenAddress: BrokerAddress(host: "127.0.0.1", port: 0)),
                                               handler: forward)
        let address = server.localAddress
        let cluster = try EmbeddedCluster(EmbeddedCluster.Configuration(storageURL: "memory://", randomSeed: 7,
                                                                        address: { _ in address }))
        try await cluster.start()
        forward.target.withLock { $0 = cluster.handler(of: 0) }
        let client = ClusterClient(config: ClientConfig(bootstrapServers: [address]), transport: TCPTransport())
        do {
            let admin = Admin(cluster: client)
            _ = try await admin.createTopic(NewTopic(name: "wire", partitions: 3))
            #expect(try await admin.describeTopics(["wire"]).first?.partitionCount == 3)

            var config = ProducerConfig()
            config.compression = .lz4
            let producer = try Producer(cluster: client, config: config)
            #expect(producer.isIdempotent)
            let outcomes = Outcomes()
            for index in 0 ..< 10_000 {
                try await producer.send(topic: "wire", key: bytes("k\(index % 97)"), value: bytes("v\(index)"),
                                        headers: [RecordHeader(key: "i", value: Array("\(index)".utf8))], completion: outcomes.completion)
            }
            await producer.close()
            #expect(outcomes.successes.count == 10_000)

            var consumerConfig = ConsumerConfig()
            consumerConfig.autoOffsetReset = .earliest
            consumerConfig.fetchMaxWaitMs = 100
            let consumer = try Consumer(cluster: client, config: consumerConfig)
            consumer.assign((0 ..< 3).map { TopicAndPartition(topic: "wire", partition: $0) })
            var seen = Set<String>()
            var headerMismatches = 0
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            while seen.count < 10_000, clock.now < deadline {
                try await consumer.poll(timeoutMs: 200).forEach { (record: ConsumerRecord) in
                    let value = record.value?.text ?? ""
                    seen.insert(value)
                    if "v" + (record.headers.first { _ in true }?.value.map { String(buffer: $0) } ?? "") != value { headerMismatches += 1 }
                }
            }
            #expect(seen.count == 10_000)
            #expect(headerMismatches == 0)
            let ends = try await consumer.endOffsets((0 ..< 3).map { TopicAndPartition(topic: "wire", partition: $0) })
            #expect(ends.values.reduce(0, +) == 10_000)
            await consumer.close()
            try await admin.deleteTopic("wire")
        } catch {
            await client.close()
            await cluster.shutdown()
            await server.close()
            throw error
        }
        await client.close()
        await cluster.shutdown()
        await server.close()
    }
}
