import NIOCore
import RivuletClient
import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization

/// A small scripted broker for client unit tests: one node, in-memory partitions, and hooks that
/// let a test fail or delay chosen requests. The real broker is tested end to end elsewhere; this
/// one makes client behaviour (batching, retries, sequences, resets) observable in isolation.
final class FakeBroker: KafkaRequestHandler, Sendable {
    struct StoredBatch {
        var batch: RecordBatch
    }

    struct Log {
        var batches: [RecordBatch] = []
        var logStartOffset: Int64 = 0
        var logEndOffset: Int64 = 0
        /// Idempotence: the next expected sequence per producer id.
        var nextSequence: [Int64: Int32] = [:]
        /// Idempotence: base sequences already appended, with their base offsets (dedup).
        var appendedSequences: [Int64: [Int32: Int64]] = [:]
    }

    struct State {
        var topics: [String: (id: KafkaUUID, partitions: Int)] = [:]
        var logs: [TopicAndPartitionKey: Log] = [:]
        var produceRequests: [ProduceRequest] = []
        var produceVersions: [Int16] = []
        var requestCounts: [ApiKey: Int] = [:]
        /// Error codes to answer the next Produce calls with, per partition (consumed in order).
        var injectedProduceErrors: [TopicAndPartitionKey: [Int16]] = [:]
        var maxMessageBytes = 1_048_588
        var nextProducerId: Int64 = 1000
        var autoCreate = true
        var apiVersions = ApiVersionsResponse.supportedApiKeys()
        var rejectApiVersionsAbove: Int16?
        var fetchWaiters: [CheckedContinuation<Void, Never>] = []
    }

    struct TopicAndPartitionKey: Hashable {
        let topic: String
        let partition: Int32
    }

    let nodeId: Int32 = 1
    let address: BrokerAddress
    let state = Mutex(State())
    let clock: any EngineClock

    init(address: BrokerAddress = BrokerAddress(host: "fake", port: 9092), clock: any EngineClock = SystemClock()) {
        self.address = address
        self.clock = clock
    }

    func createTopic(_ name: String, partitions: Int) {
        state.withLock { state in
            var generator = SeededGenerator(seed: UInt64(state.topics.count + 1))
            state.topics[name] = (KafkaUUID.random(using: &generator), partitions)
            for partition in 0 ..< partitions { state.logs[TopicAndPartitionKey(topic: name, partition: Int32(partition))] = Log() }
        }
    }

    func injectProduceErrors(_ codes: [KafkaErrorCode], topic: String, partition: Int32) {
        state.withLock { $0.injectedProduceErrors[TopicAndPartitionKey(topic: topic, partition: partition), default: []] += codes.map(\.rawValue) }
    }

    func batches(topic: String, partition: Int32) -> [RecordBatch] {
        state.withLock { $0.logs[TopicAndPartitionKey(topic: topic, partition: partition)]?.batches ?? [] }
    }

    func records(topic: String, partition: Int32) -> [Record] {
        batches(topic: topic, partition: partition).flatMap { (try? $0.records()) ?? [] }
    }

    func deleteRecords(topic: String, partition: Int32, before offset: Int64) {
        state.withLock { state in
            let key = TopicAndPartitionKey(topic: topic, partition: partition)
            guard var log = state.logs[key] else { return }
            log.batches.removeAll { $0.header.nextOffset <= offset }
            log.logStartOffset = offset
            state.logs[key] = log
        }
    }

    var produceRequests: [ProduceRequest] { state.withLock { $0.produceRequests } }

    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        state.withLock { $0.requestCounts[request.apiKey, default: 0] += 1 }
        switch request {
        case let .apiVersions(body): return apiVersions(body, version: context.apiVersion).body
        case let .metadata(body): return metadata(body).body
        case let .produce(body):
            let response = produce(body, version: context.apiVersion)
            return body.acks == 0 ? nil : response.body
        case let .fetch(body): return await fetch(body).body
        case let .listOffsets(body): return listOffsets(body).body
        case .initProducerId:
            let id = state.withLock { state -> Int64 in
                state.nextProducerId += 1
                return state.nextProducerId
            }
            return InitProducerIdResponse(producerId: id, producerEpoch: 0).body
        default:
            return nil
        }
    }

    private func apiVersions(_ request: ApiVersionsRequest, version: Int16) -> ApiVersionsResponse {
        state.withLock { state in
            if let limit = state.rejectApiVersionsAbove, version > limit {
                return ApiVersionsResponse.unsupportedVersionAnswer(apiKeys: state.apiVersions)
            }
            return ApiVersionsResponse(apiKeys: state.apiVersions)
        }
    }

    private func metadata(_ request: MetadataRequest) -> MetadataResponse {
        state.withLock { state in
            var names = request.topics?.compactMap(\.name) ?? Array(state.topics.keys)
            names.sort()
            var topics: [MetadataResponse.MetadataResponseTopic] = []
            for name in names {
                if state.topics[name] == nil, request.allowAutoTopicCreation, state.autoCreate {
                    var generator = SeededGenerator(seed: UInt64(state.topics.count + 7))
                    state.topics[name] = (KafkaUUID.random(using: &generator), 1)
                    state.logs[TopicAndPartitionKey(topic: name, partition: 0)] = Log()
                }
                guard let topic = state.topics[name] else {
                    topics.append(.init(errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue, name: name))
                    continue
                }
                topics.append(.init(name: name, topicId: topic.id, partitions: (0 ..< topic.partitions).map {
                    .init(partitionIndex: Int32($0), leaderId: nodeId, leaderEpoch: 0, replicaNodes: [nodeId], isrNodes: [nodeId])
                }))
            }
            return MetadataResponse(brokers: [.init(nodeId: nodeId, host: address.host, port: Int32(address.port))],
                                    clusterId: "fake", controllerId: nodeId, topics: topics)
        }
    }

    private func produce(_ request: ProduceRequest, version: Int16) -> ProduceResponse {
        let now = clock.wallMilliseconds()
        let answers = state.withLock { state -> [ProduceResponse.TopicProduceResponse] in
            state.produceRequests.append(request)
            state.produceVersions.append(version)
            return request.topicData.map { topic in
                .init(name: topic.name, partitionResponses: topic.partitionData.map { data in
                    let key = TopicAndPartitionKey(topic: topic.name, partition: data.index)
                    func answer(_ code: KafkaErrorCode, _ offset: Int64 = -1) -> ProduceResponse.PartitionProduceResponse {
                        .init(index: data.index, errorCode: code.rawValue, baseOffset: offset, logAppendTimeMs: -1, logStartOffset: 0)
                    }
                    guard var log = state.logs[key] else { return answer(.unknownTopicOrPartition) }
                    if var injected = state.injectedProduceErrors[key], !injected.isEmpty {
                        let code = injected.removeFirst()
                        state.injectedProduceErrors[key] = injected
                        return answer(KafkaErrorCode(rawValue: code) ?? .unknownServerError)
                    }
                    guard let records = data.records, var batch = try? RecordBatch(records) else { return answer(.corruptMessage) }
                    guard (try? batch.validateForProduce()) != nil else { return answer(.corruptMessage) }
                    if records.readableBytes > state.maxMessageBytes { return answer(.messageTooLarge) }
                    let header = batch.header
                    if header.producerId >= 0 {
                        if let original = log.appendedSequences[header.producerId]?[header.baseSequence] {
                            return answer(.noError, original)
                        }
                        let expected = log.nextSequence[header.producerId] ?? 0
                        guard header.baseSequence == expected else { return answer(.outOfOrderSequenceNumber) }
                        log.nextSequence[header.producerId] = header.baseSequence + header.recordCount
                        log.appendedSequences[header.producerId, default: [:]][header.baseSequence] = log.logEndOffset
                    }
                    let base = log.logEndOffset
                    batch.setBaseOffset(base)
                    log.batches.append(batch)
                    log.logEndOffset = header.nextOffset - header.baseOffset + base
                    state.logs[key] = log
                    _ = now
                    return answer(.noError, base)
                })
            }
        }
        let waiters = state.withLock { state in
            let waiters = state.fetchWaiters
            state.fetchWaiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume() }
        return ProduceResponse(responses: answers)
    }

    private func fetchAnswer(_ request: FetchRequest) -> (FetchResponse, Int) {
        state.withLock { state in
            var bytes = 0
            let topics = request.topics.map { topic -> FetchResponse.FetchableTopicResponse in
                let name = topic.topic.isEmpty ? (state.topics.first { $0.value.id == topic.topicId }?.key ?? "") : topic.topic
                return .init(topic: name, topicId: topic.topicId, partitions: topic.partitions.map { partition in
                    let key = TopicAndPartitionKey(topic: name, partition: partition.partition)
                    guard let log = state.logs[key] else {
                        return .init(partitionIndex: partition.partition, errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue)
                    }
                    guard partition.fetchOffset >= log.logStartOffset, partition.fetchOffset <= log.logEndOffset else {
                        return .init(partitionIndex: partition.partition, errorCode: KafkaErrorCode.offsetOutOfRange.rawValue,
                                     highWatermark: log.logEndOffset, logStartOffset: log.logStartOffset)
                    }
                    var records = ByteBuffer()
                    for batch in log.batches where batch.header.nextOffset > partition.fetchOffset {
                        if records.readableBytes > 0, records.readableBytes + batch.buffer.readableBytes > Int(partition.partitionMaxBytes) { break }
                        var copy = batch.buffer
                        records.writeBuffer(&copy)
                    }
                    bytes += records.readableBytes
                    return .init(partitionIndex: partition.partition, highWatermark: log.logEndOffset, lastStableOffset: log.logEndOffset,
                                 logStartOffset: log.logStartOffset, records: records)
                })
            }
            return (FetchResponse(responses: topics), bytes)
        }
    }

    private func fetch(_ request: FetchRequest) async -> FetchResponse {
        let deadline = clock.monotonicNanoseconds() + UInt64(max(request.maxWaitMs, 0)) * 1_000_000
        while true {
            let (response, bytes) = fetchAnswer(request)
            let now = clock.monotonicNanoseconds()
            if bytes >= Int(request.minBytes) || now >= deadline { return response }
            // Wait for a produce or the deadline, whichever first.
            let timer = Task { [clock] in
                try? await clock.sleep(nanoseconds: deadline - now)
                let waiters = self.state.withLock { state in
                    let waiters = state.fetchWaiters
                    state.fetchWaiters = []
                    return waiters
                }
                for waiter in waiters { waiter.resume() }
            }
            await withCheckedContinuation { continuation in state.withLock { $0.fetchWaiters.append(continuation) } }
            timer.cancel()
        }
    }

    private func listOffsets(_ request: ListOffsetsRequest) -> ListOffsetsResponse {
        state.withLock { state in
            ListOffsetsResponse(topics: request.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { partition in
                    guard let log = state.logs[TopicAndPartitionKey(topic: topic.name, partition: partition.partitionIndex)] else {
                        return .init(partitionIndex: partition.partitionIndex, errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue)
                    }
                    let offset = partition.timestamp == -2 ? log.logStartOffset : log.logEndOffset
                    return .init(partitionIndex: partition.partitionIndex, timestamp: -1, offset: offset)
                })
            })
        }
    }
}

/// An in-process network with one fake broker registered, and a client config pointing at it.
struct FakeCluster {
    let broker: FakeBroker
    let network: InProcessNetwork
    let transport: InProcessTransport
    let clock: any EngineClock

    init(clock: any EngineClock = SystemClock()) {
        self.clock = clock
        broker = FakeBroker(clock: clock)
        network = InProcessNetwork(clock: clock)
        network.register(broker, at: broker.address)
        transport = InProcessTransport(network: network)
    }

    func clientConfig() -> ClientConfig {
        var config = ClientConfig(bootstrapServers: [broker.address], clock: clock)
        config.retryBackoffMs = 5
        config.retryBackoffMaxMs = 20
        config.reconnectBackoffMs = 5
        config.reconnectBackoffMaxMs = 20
        return config
    }

    func clusterClient() -> ClusterClient {
        ClusterClient(config: clientConfig(), transport: transport)
    }
}
