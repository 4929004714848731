import RivuletWire

extension Broker {
    /// AlterConfigs (the non-incremental API): replaces all of a topic's config overrides with the
    /// given set. BROKER resources are read-only here (static configuration): INVALID_REQUEST.
    /// A resource listed twice is INVALID_REQUEST.
    func handleAlterConfigs(_ request: AlterConfigsRequest) async -> AlterConfigsResponse {
        var counts: [String: Int] = [:]
        for resource in request.resources where resource.resourceType == ConfigResourceType.topic.rawValue {
            counts[resource.resourceName, default: 0] += 1
        }
        var responses = request.resources.map {
            AlterConfigsResponse.AlterConfigsResourceResponse(errorCode: 0, errorMessage: nil, resourceType: $0.resourceType,
                                                              resourceName: $0.resourceName)
        }
        var changes: [TopicConfigChange] = []
        var slots: [Int] = []
        for (index, resource) in request.resources.enumerated() {
            switch ConfigResourceType(rawValue: resource.resourceType) {
            case .topic:
                if counts[resource.resourceName, default: 0] > 1 {
                    responses[index].errorCode = KafkaErrorCode.invalidRequest.rawValue
                    responses[index].errorMessage = "Duplicate resource in request: \(resource.resourceName)"
                    continue
                }
                slots.append(index)
                changes.append(TopicConfigChange(topic: resource.resourceName,
                                                 configs: resource.configs.map { ConfigOverride(name: $0.name, value: $0.value) }))
            case .broker, .brokerLogger:
                responses[index].errorCode = KafkaErrorCode.invalidRequest.rawValue
                responses[index].errorMessage = "Broker configs are static and cannot be altered"
            case nil:
                responses[index].errorCode = KafkaErrorCode.invalidRequest.rawValue
                responses[index].errorMessage = "Unsupported resource type \(resource.resourceType)"
            }
        }
        if !changes.isEmpty {
            let outcomes = await clusterControl.alterTopicConfigs(changes, validateOnly: request.validateOnly)
            for (slot, outcome) in zip(slots, outcomes) {
                if case let .failure(error) = outcome {
                    responses[slot].errorCode = error.code.rawValue
                    responses[slot].errorMessage = error.message
                }
            }
        }
        return AlterConfigsResponse(throttleTimeMs: 0, responses: responses)
    }

    /// An AlterConfigs answer with `error` for every resource.
    static func alterConfigsErrorAnswer(_ request: AlterConfigsRequest, _ error: KafkaApiError) -> AlterConfigsResponse {
        AlterConfigsResponse(responses: request.resources.map {
            AlterConfigsResponse.AlterConfigsResourceResponse(errorCode: error.code.rawValue, errorMessage: error.message,
                                                              resourceType: $0.resourceType, resourceName: $0.resourceName)
        })
    }
}
