import Benchmark
import Foundation
import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization
import Logging

// Engine benchmarks: the end-to-end path (producer -> in-process broker on memory storage ->
// consumer), the producer alone against a broker that only acknowledges, and the broker's
// allocations per Produce and Fetch whatever the batch's record count.
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
    }

    // End to end: one producer and one consumer, in-process, memory storage, 8 partitions, 100 B
    // records without keys, linger 5 ms, 1 MiB batches. An iteration produces 1M records and ends
    // when the consumer has received all of them.
    let endToEndConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .mega,
        maxDuration: .seconds(30), maxIterations: 5)
    // A fresh broker per sample: every byte of the log is memory the process has never touched
    // (page faults and zeroing by the kernel are a tenth of the run's CPU).
    Benchmark("Engine.EndToEnd.memory.100B.linger5ms.batch1MiB", configuration: endToEndConfiguration) { benchmark in
        guard let broker = try? await EndToEndBroker.start(),
              let run = try? await EndToEndRun.start(on: broker, topic: EndToEndRun.topic, partitions: 8) else { return }
        let count = await run.measure(benchmark)
        await run.stop()
        await broker.stop()
        precondition(count == benchmark.scaledIterations.count, "consumed \(count) of \(benchmark.scaledIterations.count) records")
    }

    // The same on a broker in steady state: one broker for the whole benchmark and a new topic per
    // sample, the previous sample's topic deleted, so the log writes into memory chunks the broker
    // recycled (as a long-running broker under retention does) instead of fresh pages.
    let steadyBroker = SharedEndToEndBroker()
    Benchmark("Engine.EndToEnd.memory.100B.linger5ms.batch1MiB.steadyState", configuration: endToEndConfiguration, closure: { benchmark in
        guard let broker = steadyBroker.broker,
              let run = try? await EndToEndRun.start(on: broker, topic: steadyBroker.nextTopic(), partitions: 8) else { return }
        let count = await run.measure(benchmark)
        await run.stop()
        await broker.deleteTopic(run.topic)
        precondition(count == benchmark.scaledIterations.count, "consumed \(count) of \(benchmark.scaledIterations.count) records")
    }, setup: {
        try await steadyBroker.start()
    }, teardown: {
        await steadyBroker.stop()
    })

    // The broker's allocations for one Produce (acks=1) of one batch, by record count: constant.
    // The broker and its log are set up once per benchmark (setup/teardown hooks), so every sample is
    // an append into a log in steady state; the harness calls the closure once per sample, and a
    // broker set up inside it would measure the second append into a fresh log every time.
    let brokerConfiguration = Benchmark.Configuration(
        metrics: [.mallocCountTotal, .wallClock], maxDuration: .seconds(5), maxIterations: 2000)
    for recordCount in [1, 100, 1000, 8000] {
        // The log is bounded by retention (`BrokerRun.start(boundedLog:)`), so big batches can run as
        // many samples as small ones.
        let produceConfiguration = brokerConfiguration
        let produceRun = SharedBrokerRun()
        Benchmark("Engine.Broker.Produce.memory.records\(recordCount)", configuration: produceConfiguration, closure: { benchmark in
            guard let run = produceRun.run, let request = produceRun.produce else { return }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(await run.broker.handle(.produce(request), context: run.context(.produce)))
            }
            benchmark.stopMeasurement()
        }, setup: {
            try await produceRun.start(records: recordCount, boundedLog: true)
        }, teardown: {
            await produceRun.stop()
        })
        let fetchRun = SharedBrokerRun()
        Benchmark("Engine.Broker.Fetch.memory.records\(recordCount)", configuration: brokerConfiguration, closure: { benchmark in
            guard let run = fetchRun.run else { return }
            let fetch = BrokerRun.fetchRequest()
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(await run.broker.handle(.fetch(fetch), context: run.context(.fetch)))
            }
            benchmark.stopMeasurement()
        }, setup: {
            try await fetchRun.start(records: recordCount, boundedLog: false)
            guard let run = fetchRun.run else { return }
            let first = await run.broker.handle(.fetch(BrokerRun.fetchRequest()), context: run.context(.fetch))
            precondition(BrokerRun.fetchReturnedRecords(first, count: recordCount), "the benchmark's Fetch returned no batch")
        }, teardown: {
            await fetchRun.stop()
        })
    }
}

/// A broker set up once for all samples of one benchmark, with its Produce request; the first 64
/// Produces warm the log up (chunks, index arrays) before any sample.
private final class SharedBrokerRun: @unchecked Sendable {
    // @unchecked Sendable: written by the setup hook before the samples and by the teardown hook
    // after them; the harness runs hooks and samples one after another.
    private(set) var run: BrokerRun?
    private(set) var produce: ProduceRequest?

    func start(records: Int, boundedLog: Bool) async throws {
        guard let run = try await BrokerRun.start(boundedLog: boundedLog), let request = BrokerRun.produceRequest(records: records) else {
            preconditionFailure("the benchmark's broker did not start")
        }
        for _ in 0 ..< 64 {
            let answer = await run.broker.handle(.produce(request), context: run.context(.produce))
            precondition(BrokerRun.produceSucceeded(answer), "the benchmark's Produce was refused: \(String(describing: answer))")
        }
        self.run = run
        produce = request
    }

    func stop() async {
        await run?.stop()
        run = nil
        produce = nil
    }
}

/// The embedded broker of the end-to-end benchmarks and its client.
private struct EndToEndBroker: Sendable {
    let cluster: EmbeddedCluster
    let client: ClusterClient

    static func start() async throws -> EndToEndBroker {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let cluster = try EmbeddedCluster(EmbeddedCluster.Configuration(storageURL: "memory://", randomSeed: 1, logger: logger))
        try await cluster.start()
        let client = ClusterClient(config: ClientConfig(bootstrapServers: cluster.bootstrapAddresses), transport: cluster.transport)
        return EndToEndBroker(cluster: cluster, client: client)
    }

    /// Deletes `topic`; its memory chunks go back to the broker's pool.
    func deleteTopic(_ topic: String) async {
        _ = try? await Admin(cluster: client).deleteTopics([topic])
    }

    func stop() async {
        await client.close()
        await cluster.shutdown()
    }
}

/// The steady-state benchmark's broker, set up once per benchmark by the setup hook.
private final class SharedEndToEndBroker: @unchecked Sendable {
    // @unchecked Sendable: written by the setup and teardown hooks and read by the samples; the
    // harness runs hooks and samples one after another.
    private(set) var broker: EndToEndBroker?
    private var topics = 0

    func start() async throws {
        broker = try await EndToEndBroker.start()
        // One unmeasured round fills the broker's chunk pool.
        if let broker, let run = try? await EndToEndRun.start(on: broker, topic: nextTopic(), partitions: 8) {
            _ = await run.produceAndConsume(count: 1_000_000)
            await run.stop()
            await broker.deleteTopic(run.topic)
        }
    }

    func nextTopic() -> String {
        topics += 1
        return "\(EndToEndRun.topic)-\(topics)"
    }

    func stop() async {
        await broker?.stop()
        broker = nil
    }
}

/// A producer and a consumer on one topic of an `EndToEndBroker`.
private struct EndToEndRun: Sendable {
    static let topic = "bench"
    static let producerThread = BenchmarkThread(name: "bench-producer")
    static let consumerThread = BenchmarkThread(name: "bench-consumer")
    let topic: String
    let producer: Producer
    let consumer: Consumer

    static func start(on broker: EndToEndBroker, topic: String, partitions: Int32) async throws -> EndToEndRun {
        let client = broker.client
        _ = try await Admin(cluster: client).createTopic(NewTopic(name: topic, partitions: partitions))
        var producerConfig = ProducerConfig()
        producerConfig.lingerMs = 5
        producerConfig.batchSizeBytes = 1 << 20
        producerConfig.maxRequestSizeBytes = 1 << 20
        producerConfig.bufferMemoryBytes = 64 << 20
        let producer = try Producer(cluster: client, config: producerConfig)
        var consumerConfig = ConsumerConfig()
        consumerConfig.autoOffsetReset = .latest
        consumerConfig.maxPollRecords = Int.max
        consumerConfig.fetchMaxWaitMs = 100
        let consumer = try Consumer(cluster: client, config: consumerConfig)
        let assigned = (0 ..< partitions).map { TopicAndPartition(topic: topic, partition: $0) }
        consumer.assign(assigned)
        for partition in assigned { _ = try await consumer.position(partition) }
        _ = try await producer.send(topic: topic, key: nil, value: engineBenchmarkValue())
        _ = try await consumer.poll(timeoutMs: 1000)
        return EndToEndRun(topic: topic, producer: producer, consumer: consumer)
    }

    /// Produces and consumes the sample's records between the benchmark's start and stop marks;
    /// returns the number of records consumed.
    func measure(_ benchmark: Benchmark) async -> Int {
        let total = benchmark.scaledIterations.count
        benchmark.startMeasurement()
        let count = await produceAndConsume(count: total)
        benchmark.stopMeasurement()
        return count
    }

    /// Sends `count` records (fire and forget) and waits until the consumer has received them.
    func produceAndConsume(count total: Int) async -> Int {
        // The application's producing and consuming loops run on threads of their own, as they
        // would in an application (see `BenchmarkThread` for why not on the shared pool).
        let received = Task(executorPreference: Self.consumerThread) { await consume(count: total) }
        let produced = Task(executorPreference: Self.producerThread) {
            // Made on the producing thread, as an application makes its values: allocated on the
            // pool thread, the buffer's storage object shared a cache line with memory the broker's
            // threads write, and reading its byte pointer missed the cache on every send (11% of
            // the run's CPU in `perf`).
            let value = engineBenchmarkValue()
            for _ in 0 ..< total {
                try? await producer.send(topic: topic, key: nil, value: value, completion: nil)
            }
            await producer.flush()
        }
        await produced.value
        return await received.value
    }

    /// Polls until `count` records arrived (or 60 s passed); reads every value's length.
    func consume(count: Int) async -> Int {
        var received = 0
        var bytes = 0
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while received < count, clock.now < deadline {
            guard let records = try? await consumer.poll(timeoutMs: 100) else { break }
            try? records.forEach { (record: ConsumerRecord) in
                received += 1
                bytes &+= record.record.valueLength
            }
        }
        blackHole(bytes)
        return received
    }

    func stop() async {
        await producer.close()
        await consumer.close()
    }
}

/// One broker called directly (no transport) for the allocation benchmarks.
private struct BrokerRun: Sendable {
    let cluster: EmbeddedCluster
    let broker: Broker

    /// With `boundedLog` the topic keeps at most about 64 MiB (16 MiB segments, `retention.bytes`
    /// 64 MiB, retention every 100 ms), so a long run appends into recycled memory chunks, as a
    /// broker under retention does, instead of into ever more fresh pages.
    static func start(boundedLog: Bool = false) async throws -> BrokerRun? {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        var configuration = EmbeddedCluster.Configuration(storageURL: "memory://", randomSeed: 1, logger: logger)
        if boundedLog { configuration.customize = { $0.logRetentionCheckIntervalMs = 100 } }
        let cluster = try EmbeddedCluster(configuration)
        try await cluster.start()
        guard let broker = cluster.broker(0) else { return nil }
        let configs: [CreateTopicsRequest.CreatableTopicConfig] = boundedLog
            ? [.init(name: "segment.bytes", value: "16777216"), .init(name: "retention.bytes", value: "67108864")] : []
        let create = CreateTopicsRequest(topics: [.init(name: "alloc", numPartitions: 1, replicationFactor: 1, configs: configs)])
        _ = await broker.handle(.createTopics(create), context: context(.createTopics))
        return BrokerRun(cluster: cluster, broker: broker)
    }

    static func context(_ api: ApiKey) -> RequestContext {
        let version: Int16 = switch api {
        case .produce: 9
        case .fetch: 12
        default: 5
        }
        return RequestContext(header: RequestHeader(apiKey: api, apiVersion: version, correlationId: 1, clientId: "bench"),
                              connectionID: 1, clientAddress: "inproc")
    }

    func context(_ api: ApiKey) -> RequestContext { Self.context(api) }

    /// A Produce request with one batch of `records` 100-byte records (no producer id: the same
    /// bytes can be appended again and again).
    static func produceRequest(records: Int) -> ProduceRequest? {
        var builder = RecordBatchBuilder(initialCapacityBytes: records * 128 + 128)
        let value = engineBenchmarkValue()
        for _ in 0 ..< records { _ = try? builder.append(timestampMs: 1_700_000_000_000, key: nil, value: value) }
        guard let batch = try? builder.build() else { return nil }
        return ProduceRequest(acks: 1, timeoutMs: 30000,
                              topicData: [.init(name: "alloc", partitionData: [.init(index: 0, records: batch.buffer)])])
    }

    static func produceSucceeded(_ body: KafkaResponseBody?) -> Bool {
        guard let body, let response = ProduceResponse(body: body) else { return false }
        return response.responses.allSatisfy { $0.partitionResponses.allSatisfy { $0.errorCode == 0 } }
    }

    static func fetchReturnedRecords(_ body: KafkaResponseBody?, count: Int) -> Bool {
        guard let body, let response = FetchResponse(body: body),
              let records = response.responses.first?.partitions.first?.records else { return false }
        var batches = RecordBatchSequence(records, mode: .allowPartialTail).makeIterator()
        guard let batch = batches.next() else { return false }
        return Int(batch.header.recordCount) == count
    }

    /// A Fetch of partition 0 from offset 0, up to 1 MiB (the first batch).
    static func fetchRequest() -> FetchRequest {
        FetchRequest(replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, topics: [
            .init(topic: "alloc", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)]),
        ])
    }

    func stop() async {
        await cluster.shutdown()
    }
}

/// A task executor with one thread of its own.
///
/// Why: the benchmark harness (ordo-one/benchmark 1.38.1) waits for an async benchmark with a
/// semaphore on one of the cooperative pool's threads, and on this 2-core machine the pool has two.
/// Everything async would then share the one thread left, which measures the harness, not the
/// engine. The application's own loops (producing, consuming) get threads of their own here, as
/// an application's threads would; the client's and broker's tasks stay on the pool.
final class BenchmarkThread: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init(name: String) {
        let thread = Thread { [self] in
            while true {
                condition.lock()
                while jobs.isEmpty { condition.wait() }
                let job = jobs.removeFirst()
                condition.unlock()
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }
}
