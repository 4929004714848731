import RivuletWire

extension Broker {
    /// DeleteTopics: names (v0-5) or names and ids (v6+; giving both, or neither, is INVALID_REQUEST).
    /// A topic listed twice is deleted once and answered for each entry.
    func handleDeleteTopics(_ request: DeleteTopicsRequest, version: Int16) async -> DeleteTopicsResponse {
        var references: [TopicReference?] = []
        var errors: [KafkaApiError?] = []
        if version >= 6 {
            for state in request.topics {
                switch (state.name, state.topicId) {
                case let (name?, .zero):
                    references.append(.name(name))
                    errors.append(nil)
                case let (nil, topicId) where topicId != .zero:
                    references.append(.id(topicId))
                    errors.append(nil)
                default:
                    references.append(nil)
                    errors.append(KafkaApiError(.invalidRequest, "Exactly one of the topic name and the topic id must be given"))
                }
            }
        } else {
            references = request.topicNames.map { .name($0) }
            errors = Array(repeating: nil, count: references.count)
        }
        var unique: [TopicReference] = []
        var seen = Set<TopicReference>()
        for case let reference? in references where seen.insert(reference).inserted { unique.append(reference) }
        let outcomes = await clusterControl.deleteTopics(unique)
        var byReference: [TopicReference: Result<TopicMetadata, KafkaApiError>] = [:]
        for (reference, outcome) in zip(unique, outcomes) { byReference[reference] = outcome }
        let responses = zip(references, errors).enumerated().map { index, pair -> DeleteTopicsResponse.DeletableTopicResult in
            let (reference, error) = pair
            let requestedName: String? = version >= 6 ? request.topics[index].name : request.topicNames[index]
            let requestedId: KafkaUUID = version >= 6 ? request.topics[index].topicId : .zero
            guard let reference, let outcome = byReference[reference] else {
                let failure = error ?? KafkaApiError(.unknownServerError)
                return DeleteTopicsResponse.DeletableTopicResult(name: requestedName, topicId: requestedId,
                                                                 errorCode: failure.code.rawValue, errorMessage: failure.message)
            }
            switch outcome {
            case let .success(topic):
                return DeleteTopicsResponse.DeletableTopicResult(name: topic.name, topicId: topic.topicId, errorCode: 0)
            case let .failure(failure):
                return DeleteTopicsResponse.DeletableTopicResult(name: requestedName, topicId: requestedId,
                                                                 errorCode: failure.code.rawValue, errorMessage: failure.message)
            }
        }
        return DeleteTopicsResponse(throttleTimeMs: 0, responses: responses)
    }

    /// A DeleteTopics answer with `error` for every topic.
    static func deleteTopicsErrorAnswer(_ request: DeleteTopicsRequest, _ error: KafkaApiError, version: Int16) -> DeleteTopicsResponse {
        let results: [DeleteTopicsResponse.DeletableTopicResult] = version >= 6
            ? request.topics.map { DeleteTopicsResponse.DeletableTopicResult(name: $0.name, topicId: $0.topicId, errorCode: error.code.rawValue) }
            : request.topicNames.map { DeleteTopicsResponse.DeletableTopicResult(name: $0, errorCode: error.code.rawValue) }
        return DeleteTopicsResponse(responses: results)
    }
}
