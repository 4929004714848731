import RivuletWire

extension Broker {
    /// FindCoordinator: one key (v0-3) or a list (v4+). Without a `GroupCoordinatorService` every key
    /// is answered COORDINATOR_NOT_AVAILABLE (node -1), which clients retry.
    func handleFindCoordinator(_ request: FindCoordinatorRequest, version: Int16) async -> FindCoordinatorResponse {
        let keyType = version >= 1 ? request.keyType : 0
        if version >= 4 {
            var coordinators: [FindCoordinatorResponse.Coordinator] = []
            for key in request.coordinatorKeys {
                switch await locateCoordinator(key: key, keyType: keyType) {
                case let .success(endpoint):
                    coordinators.append(FindCoordinatorResponse.Coordinator(key: key, nodeId: endpoint.nodeId, host: endpoint.host,
                                                                            port: endpoint.port, errorCode: 0, errorMessage: nil))
                case let .failure(error):
                    coordinators.append(FindCoordinatorResponse.Coordinator(key: key, nodeId: -1, host: "", port: -1,
                                                                            errorCode: error.code.rawValue, errorMessage: error.message))
                }
            }
            return FindCoordinatorResponse(throttleTimeMs: 0, coordinators: coordinators)
        }
        switch await locateCoordinator(key: request.key, keyType: keyType) {
        case let .success(endpoint):
            return FindCoordinatorResponse(throttleTimeMs: 0, errorCode: 0, errorMessage: nil, nodeId: endpoint.nodeId,
                                           host: endpoint.host, port: endpoint.port)
        case let .failure(error):
            return FindCoordinatorResponse(throttleTimeMs: 0, errorCode: error.code.rawValue, errorMessage: error.message,
                                           nodeId: -1, host: "", port: -1)
        }
    }

    private func locateCoordinator(key: String, keyType: Int8) async -> Result<BrokerEndpoint, KafkaApiError> {
        guard keyType == 0 || keyType == 1 || keyType == 2 else {
            return .failure(KafkaApiError(.invalidRequest, "Unknown coordinator key type \(keyType)"))
        }
        guard let groupCoordinator else {
            return .failure(KafkaApiError(.coordinatorNotAvailable, "The coordinator is not available."))
        }
        return await groupCoordinator.findCoordinator(key: key, keyType: keyType)
    }

    /// A FindCoordinator answer with `error` (top level for v0-3, per key for v4+).
    static func findCoordinatorErrorAnswer(_ request: FindCoordinatorRequest, _ error: KafkaApiError, version: Int16) -> FindCoordinatorResponse {
        if version >= 4 {
            return FindCoordinatorResponse(coordinators: request.coordinatorKeys.map {
                FindCoordinatorResponse.Coordinator(key: $0, nodeId: -1, host: "", port: -1, errorCode: error.code.rawValue,
                                                    errorMessage: error.message)
            })
        }
        return FindCoordinatorResponse(errorCode: error.code.rawValue, errorMessage: error.message, nodeId: -1, host: "", port: -1)
    }
}
