import RivuletTransport
import RivuletWire

extension Broker {
    /// The answer to a request the broker will not process (unsupported version, not running): the
    /// API's response with `error` in every partition, topic or resource the request named (Kafka's
    /// `AbstractRequest.getErrorResponse`), so no client mistakes it for success. Produce with acks=0
    /// gets no answer, as always.
    func errorAnswer(to request: KafkaRequestBody, _ error: KafkaApiError, version: Int16) -> KafkaResponseBody? {
        Self.errorAnswer(to: request, error, version: version, apiKeys: apiVersionsTable)
    }

    /// `errorAnswer(to:_:version:)` without a broker; `apiKeys` is the ApiVersions table to send.
    public static func errorAnswer(to request: KafkaRequestBody, _ error: KafkaApiError, version: Int16,
                                   apiKeys: [ApiVersionsResponse.ApiVersion]) -> KafkaResponseBody? {
        switch request {
        case let .produce(request): request.acks == 0 ? nil : produceErrorAnswer(request, error).body
        case let .fetch(request): fetchErrorAnswer(request, error, version: version).body
        case let .listOffsets(request): listOffsetsErrorAnswer(request, error).body
        case let .metadata(request): metadataErrorAnswer(request, error).body
        case let .findCoordinator(request): findCoordinatorErrorAnswer(request, error, version: version).body
        case let .createTopics(request): createTopicsErrorAnswer(request, error).body
        case let .deleteTopics(request): deleteTopicsErrorAnswer(request, error, version: version).body
        case let .deleteRecords(request): deleteRecordsErrorAnswer(request, error).body
        case let .offsetForLeaderEpoch(request): offsetForLeaderEpochErrorAnswer(request, error).body
        case let .describeConfigs(request): describeConfigsErrorAnswer(request, error).body
        case let .alterConfigs(request): alterConfigsErrorAnswer(request, error).body
        case let .createPartitions(request): createPartitionsErrorAnswer(request, error).body
        case .apiVersions: ApiVersionsResponse.unsupportedVersionAnswer(apiKeys: apiKeys).body
        default: topLevelErrorAnswer(request.message, error)
        }
    }

    /// `errorResponse(errorCode:)` of the request's response type (APIs with a top-level error code).
    private static func topLevelErrorAnswer<Request: KafkaRequest>(_ request: Request, _ error: KafkaApiError) -> KafkaResponseBody {
        Request.Response.errorResponse(error.code).body
    }
}
