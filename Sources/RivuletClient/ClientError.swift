import RivuletTransport
import RivuletWire

/// Why a client operation failed. Every case says what to do about it.
public enum ClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A broker answered with a Kafka error code (`KafkaErrorCode(rawValue:)` names it) for a
    /// topic or partition, after any retries the client makes for retriable codes. Non-retriable
    /// codes (MESSAGE_TOO_LARGE, INVALID_CONFIG, TOPIC_ALREADY_EXISTS...) need a change of input.
    case broker(errorCode: Int16, topic: String?, partition: Int32?, message: String?)
    /// The request could not be carried (connection refused or closed, injected fault). The client
    /// has already retried where that is safe; check that the brokers are reachable.
    case transport(TransportError)
    /// The ApiVersions exchange failed or the broker supports no version of a needed API.
    case connectionFailed(BrokerAddress, reason: String)
    /// An operation did not finish in time (`request.timeout.ms`, `delivery.timeout.ms`,
    /// `max.block.ms`, `default.api.timeout.ms`: named in `config`). Retry later or raise the limit.
    case timedOut(operation: String, config: String, afterMs: Int64)
    /// A record is larger than a client limit (`max.request.size` or `buffer.memory`, named in
    /// `config`). Send smaller records or raise the limit.
    case recordTooLarge(sizeBytes: Int, limitBytes: Int, config: String)
    /// The topic does not exist (and was not auto-created). Create it first.
    case unknownTopic(String)
    /// The partition number is outside the topic's partitions.
    case invalidPartition(topic: String, partition: Int32, partitionCount: Int)
    /// The consumer has no position for the partition and `auto.offset.reset` is `none`: seek first.
    case noOffsetForPartition(TopicAndPartition)
    /// The consumer's position is outside the log and `auto.offset.reset` is `none`: seek to a valid
    /// offset (`seekToBeginning`, `seekToEnd`).
    case offsetOutOfRange(TopicAndPartition, offset: Int64)
    /// The consumer is not assigned the partition: `assign` it first.
    case notAssigned(TopicAndPartition)
    /// Fetched bytes do not decode as record batches (a broker or storage bug, or corruption).
    case corruptRecords(TopicAndPartition, reason: String)
    /// A configuration value is invalid. `name` is Kafka's property name.
    case invalidConfig(name: String, value: String, reason: String)
    /// The producer, consumer or admin client was closed.
    case closed

    /// The Kafka error code of a `.broker` error, typed (nil for other cases or unknown codes).
    public var kafkaErrorCode: KafkaErrorCode? {
        if case let .broker(code, _, _, _) = self { return KafkaErrorCode(rawValue: code) }
        return nil
    }

    /// Whether retrying the same operation later may succeed.
    public var isRetriable: Bool {
        switch self {
        case let .broker(code, _, _, _): KafkaErrorCode(rawValue: code)?.isRetriable ?? false
        case .transport, .timedOut, .connectionFailed: true
        default: false
        }
    }

    /// A broker error for one partition.
    static func broker(_ code: Int16, _ partition: TopicAndPartition, message: String? = nil) -> ClientError {
        .broker(errorCode: code, topic: partition.topic, partition: partition.partition, message: message)
    }

    /// Wraps any error thrown by a transport or negotiation into a `ClientError`.
    static func wrap(_ error: any Error, address: BrokerAddress? = nil) -> ClientError {
        switch error {
        case let error as ClientError: error
        case let error as TransportError: .transport(error)
        case let error as NegotiationError:
            .connectionFailed(address ?? BrokerAddress(host: "unknown", port: 1), reason: error.description)
        default:
            .connectionFailed(address ?? BrokerAddress(host: "unknown", port: 1), reason: "\(error)")
        }
    }

    public var description: String {
        switch self {
        case let .broker(code, topic, partition, message):
            let name = KafkaErrorCode(rawValue: code).map { "\($0.name): \($0.message)" } ?? "error code \(code)"
            var place = ""
            if let topic { place = partition.map { " for \(topic)-\($0)" } ?? " for topic \(topic)" }
            return "broker answered \(name)\(place)" + (message.map { " (\($0))" } ?? "")
        case let .transport(error): return error.description
        case let .connectionFailed(address, reason): return "connection to \(address) failed: \(reason)"
        case let .timedOut(operation, config, ms): return "\(operation) timed out after \(ms) ms (\(config))"
        case let .recordTooLarge(size, limit, config):
            return "record of \(size) bytes exceeds \(config)=\(limit)"
        case let .unknownTopic(topic): return "topic \(topic) does not exist"
        case let .invalidPartition(topic, partition, count):
            return "partition \(partition) of \(topic) does not exist (the topic has \(count))"
        case let .noOffsetForPartition(partition):
            return "no position for \(partition) and auto.offset.reset=none; seek first"
        case let .offsetOutOfRange(partition, offset):
            return "offset \(offset) is out of range for \(partition) and auto.offset.reset=none"
        case let .notAssigned(partition): return "\(partition) is not assigned to this consumer"
        case let .corruptRecords(partition, reason): return "corrupt records from \(partition): \(reason)"
        case let .invalidConfig(name, value, reason): return "invalid \(name)=\(value): \(reason)"
        case .closed: return "the client is closed"
        }
    }
}
