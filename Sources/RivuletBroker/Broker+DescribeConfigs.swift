import RivuletStorage
import RivuletWire

extension Broker {
    /// Kafka's config resource types.
    enum ConfigResourceType: Int8 {
        case topic = 2
        case broker = 4
        case brokerLogger = 8
    }

    /// DescribeConfigs: TOPIC resources (every topic config, with source and, when asked, synonyms and
    /// documentation), BROKER resources (this broker's id; "" for the cluster-wide dynamic defaults,
    /// which are empty) and BROKER_LOGGER (no configurable loggers). `configurationKeys` null or
    /// empty means all, as in Kafka.
    func handleDescribeConfigs(_ request: DescribeConfigsRequest, version: Int16) -> DescribeConfigsResponse {
        let image = metadataCache.image
        let results = request.resources.map { resource -> DescribeConfigsResponse.DescribeConfigsResult in
            var result = DescribeConfigsResponse.DescribeConfigsResult(errorCode: 0, errorMessage: nil, resourceType: resource.resourceType,
                                                                       resourceName: resource.resourceName)
            do throws(KafkaApiError) {
                var entries: [TopicConfig.Entry]
                switch ConfigResourceType(rawValue: resource.resourceType) {
                case .topic:
                    do throws(StorageError) {
                        try TopicPartition.validateTopicName(resource.resourceName)
                    } catch {
                        throw KafkaApiError(.invalidTopicException, error.description)
                    }
                    guard let topic = image.topic(named: resource.resourceName) else {
                        throw KafkaApiError(.unknownTopicOrPartition, "Topic \(resource.resourceName) does not exist")
                    }
                    entries = topic.config.entries(broker: config)
                case .broker:
                    try checkBrokerResource(resource.resourceName)
                    // The empty name asks for the cluster-wide dynamic defaults, of which there are none.
                    entries = resource.resourceName.isEmpty ? [] : config.describedEntries
                case .brokerLogger:
                    guard !resource.resourceName.isEmpty else { throw KafkaApiError(.invalidRequest, "Broker id must not be empty") }
                    try checkBrokerResource(resource.resourceName)
                    entries = []
                case nil:
                    throw KafkaApiError(.invalidRequest, "Unsupported resource type \(resource.resourceType)")
                }
                if let keys = resource.configurationKeys, !keys.isEmpty {
                    let wanted = Set(keys)
                    entries = entries.filter { wanted.contains($0.name) }
                }
                result.configs = entries.map { entry in
                    DescribeConfigsResponse.DescribeConfigsResourceResult(
                        name: entry.name, value: entry.value,
                        readOnly: ConfigResourceType(rawValue: resource.resourceType) != .topic,
                        isDefault: entry.source == .defaultConfig,
                        configSource: entry.source.rawValue, isSensitive: false,
                        synonyms: request.includeSynonyms ? entry.synonyms.map {
                            DescribeConfigsResponse.DescribeConfigsSynonym(name: $0.name, value: $0.value, source: $0.source.rawValue)
                        } : [],
                        configType: entry.type.rawValue,
                        documentation: request.includeDocumentation ? entry.documentation : nil)
                }
            } catch {
                result.errorCode = error.code.rawValue
                result.errorMessage = error.message
            }
            return result
        }
        return DescribeConfigsResponse(throttleTimeMs: 0, results: results)
    }

    /// A BROKER resource must name this broker (or be empty, the cluster-wide defaults).
    func checkBrokerResource(_ name: String) throws(KafkaApiError) {
        guard !name.isEmpty else { return }
        guard let id = Int32(name) else { throw KafkaApiError(.invalidRequest, "Broker id must be an integer, not '\(name)'") }
        guard id == config.nodeId else {
            throw KafkaApiError(.invalidRequest, "Unexpected broker id, expected \(config.nodeId) or empty string, but received \(id)")
        }
    }

    /// A DescribeConfigs answer with `error` for every resource.
    static func describeConfigsErrorAnswer(_ request: DescribeConfigsRequest, _ error: KafkaApiError) -> DescribeConfigsResponse {
        DescribeConfigsResponse(results: request.resources.map {
            DescribeConfigsResponse.DescribeConfigsResult(errorCode: error.code.rawValue, errorMessage: error.message,
                                                          resourceType: $0.resourceType, resourceName: $0.resourceName)
        })
    }
}
