import NIOCore
import RivuletBroker
import RivuletCore
import RivuletTransport
import RivuletWire
import Testing

/// Requests as a TCP transport would hand them over after decoding corrupted bytes: every field can
/// hold any value. The broker must answer each with a response of the right API that encodes at the
/// request's version, and never trap.
@Suite("Malformed requests")
struct MalformedRequestTests {
    /// A valid request of each API the broker serves, naming the topic "fz" so mutations reach deep paths.
    static func seeds(topicId: KafkaUUID, batch: ByteBuffer) -> [any KafkaRequest] {
        [
            ProduceRequest(acks: 1, timeoutMs: 100, topicData: [.init(name: "fz", partitionData: [.init(index: 0, records: batch)])]),
            FetchRequest(maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 16, topics: [
                .init(topic: "fz", topicId: topicId, partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 16)]),
            ]),
            ListOffsetsRequest(replicaId: -1, topics: [.init(name: "fz", partitions: [.init(partitionIndex: 0, timestamp: 1000)])]),
            MetadataRequest(topics: [.init(topicId: topicId, name: "fz")], allowAutoTopicCreation: true),
            FindCoordinatorRequest(key: "g", keyType: 0, coordinatorKeys: ["g"]),
            CreateTopicsRequest(topics: [.init(name: "fz2", numPartitions: 2, replicationFactor: 1, configs: [.init(name: "retention.ms", value: "100")])]),
            DeleteTopicsRequest(topics: [.init(name: "fz2", topicId: .zero)], topicNames: ["fz2"], timeoutMs: 100),
            DeleteRecordsRequest(topics: [.init(name: "fz", partitions: [.init(partitionIndex: 0, offset: 1)])], timeoutMs: 100),
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 100),
            OffsetForLeaderEpochRequest(replicaId: -1, topics: [.init(topic: "fz", partitions: [.init(partition: 0, leaderEpoch: 0)])]),
            DescribeConfigsRequest(resources: [.init(resourceType: 2, resourceName: "fz", configurationKeys: nil)], includeSynonyms: true),
            AlterConfigsRequest(resources: [.init(resourceType: 2, resourceName: "fz", configs: [.init(name: "segment.bytes", value: "100000")])]),
            CreatePartitionsRequest(topics: [.init(name: "fz", count: 3)], validateOnly: true),
            DescribeClusterRequest(),
        ]
    }

    @Test("byte-flipped requests of every API and version get answers, not traps")
    func corruptedRequests_areAnswered() async throws {
        let clock = ManualClock()
        try await withBroker(.memory, clock: clock, customize: { $0.topicPartitionsMax = 8 }) { fixture in
            var generator = SeededGenerator(seed: 2024)
            let created = try await fixture.createTopic("fz")
            let batch = try makeBatch(count: 2)
            var answered = 0
            for seed in Self.seeds(topicId: created.topicId, batch: batch) {
                answered += try await fuzz(seed, fixture: fixture, generator: &generator)
                // Mutations may have deleted the topic; later APIs start from a known state again.
                let metadata = try await fixture.send(MetadataRequest(topics: [.init(name: "fz")], allowAutoTopicCreation: true), version: 9)
                #expect(metadata.topics.first?.errorCode == 0)
            }
            #expect(answered > 1000)
            // The broker still works.
            #expect(try await fixture.produce("fz", records: try makeBatch(count: 1)).errorCode == 0)
        }
    }

    func fuzz<Request: KafkaRequest>(_ seed: Request, fixture: BrokerFixture, generator: inout SeededGenerator) async throws -> Int {
        let range = try #require(SupportedApiVersions.broker[Request.apiKey])
        var answered = 0
        for version in range {
            var encoded = ByteBuffer()
            seed.encode(into: &encoded, version: version)
            let bytes = Array(encoded.readableBytesView)
            for _ in 0 ..< 48 {
                var mutated = bytes
                for _ in 0 ..< 1 + Int(generator.next() % 4) where !mutated.isEmpty {
                    let index = Int(generator.next() % UInt64(mutated.count))
                    mutated[index] = UInt8(truncatingIfNeeded: generator.next())
                }
                var buffer = ByteBuffer(bytes: mutated)
                guard var request = try? Request(from: &buffer, version: version) else { continue }
                // A long poll on the manual clock would wait for ever; the delayed path has its own tests.
                if var fetch = request as? FetchRequest {
                    fetch.maxWaitMs = 0
                    request = try #require(fetch as? Request)
                }
                let expectResponse = (request as? ProduceRequest)?.acks != 0
                let body = try await fixture.connection.enqueue(request, version: version, expectResponse: expectResponse).value
                guard expectResponse else { continue }
                let response = try #require(body.flatMap { Request.Response(body: $0) }, "\(Request.apiKey) v\(version)")
                var out = ByteBuffer()
                response.encode(into: &out, version: version)
                _ = try Request.Response(from: &out, version: version)
                answered += 1
            }
        }
        return answered
    }
}
