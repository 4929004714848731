import NIOCore
import RivuletWire
import Synchronization
@testable import RivuletTransport

/// A stand-in broker for transport tests: answers ApiVersions, Metadata, Produce and Fetch with
/// simple, checkable values and records what it saw.
///
/// - Produce: acks=0 gets no response; otherwise every partition answers `baseOffset` = the number
///   of Produce requests this broker saw before (so order is visible), and its index.
/// - Fetch: answers `fetchRecords` for every requested partition.
/// - A client id `slow-N` makes every request of that client wait N ms (awaiting) before it is
///   answered; `busy-N` makes it compute for N ms (holding its thread).
final class FakeBroker: KafkaRequestHandler {
    struct Seen: Sendable, Hashable {
        let connectionID: UInt64
        let correlationId: Int32
        let api: ApiKey
        let version: Int16
        let clientId: String?
    }

    private struct State {
        var seen: [Seen] = []
        var produceCount: Int64 = 0
        var active: [UInt64: Int] = [:]
        var maxActivePerConnection = 0
        var closed: [UInt64] = []
    }

    private let state = Mutex(State())
    let fetchRecords: ByteBuffer?
    let advertised: BrokerAddress

    init(fetchRecords: ByteBuffer? = nil, advertised: BrokerAddress = BrokerAddress(host: "127.0.0.1", port: 9092)) {
        self.fetchRecords = fetchRecords
        self.advertised = advertised
    }

    var seen: [Seen] { state.withLock { $0.seen } }
    var maxActivePerConnection: Int { state.withLock { $0.maxActivePerConnection } }
    var closedConnections: [UInt64] { state.withLock { $0.closed } }

    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        let produceIndex = state.withLock { state -> Int64 in
            state.seen.append(Seen(connectionID: context.connectionID, correlationId: context.header.correlationId,
                                   api: request.apiKey, version: context.apiVersion, clientId: context.clientId))
            state.active[context.connectionID, default: 0] += 1
            state.maxActivePerConnection = max(state.maxActivePerConnection, state.active[context.connectionID] ?? 0)
            if case .produce = request {
                state.produceCount += 1
                return state.produceCount - 1
            }
            return -1
        }
        defer { state.withLock { $0.active[context.connectionID, default: 1] -= 1 } }
        if let clientId = context.clientId, clientId.hasPrefix("slow-"), let ms = UInt64(clientId.dropFirst(5)) {
            try? await Task.sleep(nanoseconds: ms * 1_000_000)
        }
        if let clientId = context.clientId, clientId.hasPrefix("busy-"), let ms = Int(clientId.dropFirst(5)) {
            let until = ContinuousClock.now + .milliseconds(ms)
            while ContinuousClock.now < until {}
        }
        switch request {
        case .apiVersions:
            return .apiVersions(ApiVersionsResponse(errorCode: 0, apiKeys: ApiVersionsResponse.supportedApiKeys()))
        case let .metadata(metadata):
            let topics = (metadata.topics ?? []).map { topic in
                MetadataResponse.MetadataResponseTopic(
                    errorCode: 0, name: topic.name,
                    partitions: [MetadataResponse.MetadataResponsePartition(partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1])])
            }
            return .metadata(MetadataResponse(
                brokers: [MetadataResponse.MetadataResponseBroker(nodeId: 1, host: advertised.host, port: Int32(advertised.port))],
                clusterId: "fake-cluster", controllerId: 1, topics: topics))
        case let .produce(produce):
            if produce.acks == 0 { return nil }
            return .produce(ProduceResponse(responses: produce.topicData.map { topic in
                ProduceResponse.TopicProduceResponse(name: topic.name, partitionResponses: topic.partitionData.map { partition in
                    ProduceResponse.PartitionProduceResponse(index: partition.index, errorCode: 0, baseOffset: produceIndex)
                })
            }))
        case let .fetch(fetch):
            return .fetch(FetchResponse(responses: fetch.topics.map { topic in
                FetchResponse.FetchableTopicResponse(topic: topic.topic, topicId: topic.topicId, partitions: topic.partitions.map { partition in
                    FetchResponse.PartitionData(partitionIndex: partition.partition, highWatermark: 100, lastStableOffset: 100,
                                                logStartOffset: 0, records: fetchRecords)
                })
            }))
        default:
            return KafkaResponseEncoder.errorBody(for: request.apiKey, errorCode: KafkaErrorCode.unsupportedVersion.rawValue)
        }
    }

    func connectionClosed(connectionID: UInt64) async {
        state.withLock { $0.closed.append(connectionID) }
    }
}
