import RivuletWire

extension Broker {
    /// CreatePartitions: a topic listed twice is INVALID_REQUEST for each entry; the rest go to `ClusterControl`.
    func handleCreatePartitions(_ request: CreatePartitionsRequest) async -> CreatePartitionsResponse {
        var counts: [String: Int] = [:]
        for topic in request.topics { counts[topic.name, default: 0] += 1 }
        var results = request.topics.map { CreatePartitionsResponse.CreatePartitionsTopicResult(name: $0.name) }
        var increases: [PartitionIncrease] = []
        var slots: [Int] = []
        for (index, topic) in request.topics.enumerated() {
            if counts[topic.name, default: 0] > 1 {
                results[index].errorCode = KafkaErrorCode.invalidRequest.rawValue
                results[index].errorMessage = "Duplicate topic in request: \(topic.name)"
                continue
            }
            slots.append(index)
            increases.append(PartitionIncrease(topic: topic.name, totalCount: topic.count,
                                               assignments: (topic.assignments?.isEmpty ?? true) ? nil : topic.assignments?.map(\.brokerIds)))
        }
        if !increases.isEmpty {
            let outcomes = await clusterControl.createPartitions(increases, validateOnly: request.validateOnly)
            for (slot, outcome) in zip(slots, outcomes) {
                if case let .failure(error) = outcome {
                    results[slot].errorCode = error.code.rawValue
                    results[slot].errorMessage = error.message
                }
            }
        }
        return CreatePartitionsResponse(throttleTimeMs: 0, results: results)
    }

    /// A CreatePartitions answer with `error` for every topic.
    static func createPartitionsErrorAnswer(_ request: CreatePartitionsRequest, _ error: KafkaApiError) -> CreatePartitionsResponse {
        CreatePartitionsResponse(results: request.topics.map {
            CreatePartitionsResponse.CreatePartitionsTopicResult(name: $0.name, errorCode: error.code.rawValue, errorMessage: error.message)
        })
    }
}
