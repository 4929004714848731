import RivuletWire

extension Broker {
    /// DescribeCluster: the cluster id, controller and brokers. Asking for controller endpoints
    /// (v1 `endpointType` 2) from a broker is MISMATCHED_ENDPOINT_TYPE, as in Kafka.
    func handleDescribeCluster(_ request: DescribeClusterRequest, version: Int16) -> DescribeClusterResponse {
        let endpointType: Int8 = version >= 1 ? request.endpointType : 1
        guard endpointType == 1 else {
            let code: KafkaErrorCode = endpointType == 2 ? .mismatchedEndpointType : .unsupportedEndpointType
            return DescribeClusterResponse(errorCode: code.rawValue, errorMessage: "This is a broker; it describes broker endpoints (type 1)",
                                           endpointType: endpointType)
        }
        let image = metadataCache.image
        return DescribeClusterResponse(
            throttleTimeMs: 0, errorCode: 0, errorMessage: nil, endpointType: 1, clusterId: image.clusterId,
            controllerId: image.controllerId,
            brokers: image.sortedBrokers.map {
                DescribeClusterResponse.DescribeClusterBroker(brokerId: $0.nodeId, host: $0.host, port: $0.port, rack: $0.rack)
            },
            clusterAuthorizedOperations: request.includeClusterAuthorizedOperations
                ? Self.clusterAuthorizedOperations : Self.authorizedOperationsNotRequested)
    }
}
