import NIOCore
import RivuletWire

/// Writes response frames (size prefix, response header, body) on the server side, and the answers
/// the transport gives by itself to requests it cannot hand to the broker.
public enum KafkaResponseEncoder {
    /// Encodes `body` as the answer to a request of `apiVersion` with `correlationId`: int32 size,
    /// response header (v0, or v1 when the version is flexible; always v0 for ApiVersions), body.
    public static func frame(_ body: KafkaResponseBody, correlationId: Int32, apiVersion: Int16,
                             allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: capacityHint(body))
        buffer.writeInteger(Int32(0))  // size, patched below
        ResponseHeader(correlationId: correlationId).encode(into: &buffer, apiKey: body.apiKey, apiVersion: apiVersion)
        body.encode(into: &buffer, version: apiVersion)
        buffer.setInteger(Int32(truncatingIfNeeded: buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }

    /// The answer to an ApiVersions request whose version is above ours: Kafka's v0 body with
    /// UNSUPPORTED_VERSION and `apiKeys`, behind a v0 header, whatever version was asked.
    public static func unsupportedApiVersionsFrame(correlationId: Int32, apiKeys: [ApiVersionsResponse.ApiVersion],
                                                   allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        frame(ApiVersionsResponse.unsupportedVersionAnswer(apiKeys: apiKeys).body, correlationId: correlationId,
              apiVersion: 0, allocator: allocator)
    }

    /// The answer to a request with an unknown API key or a version outside the API's range, where
    /// no response schema exists to answer in: a v0 response header and a body of just the int16
    /// `errorCode` (UNSUPPORTED_VERSION by default). A client that reads an error code first (as
    /// every ApiVersions reader does) sees the error; any other sees a short response and fails the
    /// request rather than waiting for an answer that never comes.
    public static func genericErrorFrame(correlationId: Int32, errorCode: Int16 = KafkaErrorCode.unsupportedVersion.rawValue,
                                         allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 10)
        buffer.writeInteger(Int32(6))
        buffer.writeInteger(correlationId)
        buffer.writeInteger(errorCode)
        return buffer
    }

    /// A response of `api` with `errorCode` in every top-level error code field and defaults
    /// elsewhere: the answer to a request whose body could not be parsed.
    public static func errorBody(for api: ApiKey, errorCode: Int16) -> KafkaResponseBody {
        responseType(for: api).errorResponse(errorCode: errorCode).body
    }

    /// The response type of `api`.
    public static func responseType(for api: ApiKey) -> any KafkaResponse.Type {
        switch api {
        case .produce: ProduceResponse.self
        case .fetch: FetchResponse.self
        case .listOffsets: ListOffsetsResponse.self
        case .metadata: MetadataResponse.self
        case .offsetCommit: OffsetCommitResponse.self
        case .offsetFetch: OffsetFetchResponse.self
        case .findCoordinator: FindCoordinatorResponse.self
        case .joinGroup: JoinGroupResponse.self
        case .heartbeat: HeartbeatResponse.self
        case .leaveGroup: LeaveGroupResponse.self
        case .syncGroup: SyncGroupResponse.self
        case .describeGroups: DescribeGroupsResponse.self
        case .listGroups: ListGroupsResponse.self
        case .saslHandshake: SaslHandshakeResponse.self
        case .apiVersions: ApiVersionsResponse.self
        case .createTopics: CreateTopicsResponse.self
        case .deleteTopics: DeleteTopicsResponse.self
        case .deleteRecords: DeleteRecordsResponse.self
        case .initProducerId: InitProducerIdResponse.self
        case .offsetForLeaderEpoch: OffsetForLeaderEpochResponse.self
        case .addPartitionsToTxn: AddPartitionsToTxnResponse.self
        case .addOffsetsToTxn: AddOffsetsToTxnResponse.self
        case .endTxn: EndTxnResponse.self
        case .writeTxnMarkers: WriteTxnMarkersResponse.self
        case .txnOffsetCommit: TxnOffsetCommitResponse.self
        case .describeConfigs: DescribeConfigsResponse.self
        case .alterConfigs: AlterConfigsResponse.self
        case .saslAuthenticate: SaslAuthenticateResponse.self
        case .createPartitions: CreatePartitionsResponse.self
        case .describeCluster: DescribeClusterResponse.self
        case .consumerGroupHeartbeat: ConsumerGroupHeartbeatResponse.self
        case .deleteGroups: DeleteGroupsResponse.self
        }
    }

    /// A first guess at the encoded size so that large fetch responses are written without regrowing.
    static func capacityHint(_ body: KafkaResponseBody) -> Int {
        guard case let .fetch(fetch) = body else { return 256 }
        var bytes = 64
        for topic in fetch.responses {
            bytes += 64 + topic.topic.utf8.count
            for partition in topic.partitions {
                bytes += 96 + (partition.records?.readableBytes ?? 0) + 24 * (partition.abortedTransactions?.count ?? 0)
            }
        }
        return bytes
    }
}

/// Writes request frames on the client side.
public enum KafkaRequestEncoder {
    /// The byte offset of the correlation id inside a request frame (after the size, API key and
    /// version), where `TCPConnection` stamps it once the request's turn is known.
    public static let correlationIdOffset = 8

    /// Encodes `body` at `version`: int32 size, request header (v1, or v2 when the version is
    /// flexible), body.
    public static func frame(_ body: KafkaRequestBody, version: Int16, correlationId: Int32, clientId: String?,
                             allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: capacityHint(body))
        buffer.writeInteger(Int32(0))  // size, patched below
        RequestHeader(apiKey: body.apiKey, apiVersion: version, correlationId: correlationId, clientId: clientId)
            .encode(into: &buffer)
        body.encode(into: &buffer, version: version)
        buffer.setInteger(Int32(truncatingIfNeeded: buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }

    static func capacityHint(_ body: KafkaRequestBody) -> Int {
        guard case let .produce(produce) = body else { return 256 }
        var bytes = 64
        for topic in produce.topicData {
            bytes += 32 + topic.name.utf8.count
            for partition in topic.partitionData { bytes += 16 + (partition.records?.readableBytes ?? 0) }
        }
        return bytes
    }
}
