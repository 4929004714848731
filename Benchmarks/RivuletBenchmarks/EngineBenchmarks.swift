import Benchmark
import NIOCore
import RivuletClient
import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization

// Engine benchmarks: the client's producer path against a broker that only acknowledges, and
// (with the broker) the end-to-end path and the broker's allocations per batch.
// Run: swift package benchmark --filter 'Engine.*'   (results and figures: results/engine-benchmarks.md)

/// A broker stand-in that acknowledges every Produce with increasing offsets and stores nothing:
/// it isolates the producer's own cost (partitioning, appending, batching, sending).
private final class AcknowledgingBroker: KafkaRequestHandler, Sendable {
    let address = BrokerAddress(host: "ack", port: 1)
    let partitions: Int
    private let offsets: Mutex<[Int64]>

    init(partitions: Int) {
        self.partitions = partitions
        offsets = Mutex(Array(repeating: 0, count: partitions))
    }

    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        switch request {
        case .apiVersions:
            return ApiVersionsResponse(apiKeys: ApiVersionsResponse.supportedApiKeys()).body
        case let .metadata(body):
            let topics = (body.topics ?? []).compactMap(\.name).map { name in
                MetadataResponse.MetadataResponseTopic(name: name, partitions: (0 ..< partitions).map {
                    .init(partitionIndex: Int32($0), leaderId: 0, leaderEpoch: 0, replicaNodes: [0], isrNodes: [0])
                })
            }
            return MetadataResponse(brokers: [.init(nodeId: 0, host: address.host, port: Int32(address.port))],
                                    clusterId: "bench", controllerId: 0, topics: topics).body
        case .initProducerId:
            return InitProducerIdResponse(producerId: 1, producerEpoch: 0).body
        case let .produce(body):
            let responses = offsets.withLock { offsets in
                body.topicData.map { topic in
                    ProduceResponse.TopicProduceResponse(name: topic.name, partitionResponses: topic.partitionData.map { data in
                        let count = data.records.flatMap { $0.getInteger(at: $0.readerIndex + RecordBatchLayout.recordCount, as: Int32.self) } ?? 0
                        let index = Int(data.index) % offsets.count
                        let base = offsets[index]
                        offsets[index] += Int64(count)
                        return .init(index: data.index, baseOffset: base, logAppendTimeMs: -1)
                    })
                }
            }
            return body.acks == 0 ? nil : ProduceResponse(responses: responses).body
        default:
            return nil
        }
    }
}

/// A 100-byte value, as in the OpenMessaging Benchmark's default workload.
private func engineBenchmarkValue(size: Int = 100) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: size)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for _ in 0 ..< size {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        buffer.writeInteger(0x61 + UInt8(truncatingIfNeeded: state >> 60))
    }
    return buffer
}

func registerEngineBenchmarks() {
    let recordsPerIteration = 1_000_000
    let producerConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .mega,
        maxDuration: .seconds(10), maxIterations: 10)

    // The producer alone: 1M records of 100 B, no key, over 8 partitions, linger 5 ms, 1 MiB batches,
    // acks=1, no completions; the broker only acknowledges.
    Benchmark("Engine.Producer.send.100B.acknowledgeOnly", configuration: producerConfiguration) { benchmark in
        let broker = AcknowledgingBroker(partitions: 8)
        let network = InProcessNetwork()
        network.register(broker, at: broker.address)
        var producerConfig = ProducerConfig()
        producerConfig.lingerMs = 5
        producerConfig.batchSizeBytes = 1 << 20
        producerConfig.maxRequestSizeBytes = 8 << 20
        producerConfig.bufferMemoryBytes = 64 << 20
        producerConfig.acks = .leader
        guard let producer = try? Producer(clientConfig: ClientConfig(bootstrapServers: [broker.address]),
                                           transport: InProcessTransport(network: network), config: producerConfig)
        else { return }
        let value = engineBenchmarkValue()
        _ = try? await producer.send(topic: "bench", key: nil, value: value)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try? await producer.send(topic: "bench", key: nil, value: value, completion: nil)
        }
        await producer.flush()
        benchmark.stopMeasurement()
        await producer.close()
        _ = recordsPerIteration
    }
}
