import RivuletStorage

/// Why a broker (or an embedded cluster) could not start, stop or reload its state. Request-level
/// failures are `KafkaApiError`s instead, answered with Kafka error codes.
public enum BrokerError: Error, Sendable, CustomStringConvertible {
    /// A broker setting is out of range. Remedy: fix the named setting.
    case invalidConfig(name: String, value: String, reason: String)
    /// The storage failed while the broker started, stopped or persisted metadata.
    case storage(StorageError)
    /// A stored metadata document could not be decoded. Remedy: restore the data directory from a
    /// backup, or remove the document to start with an empty cluster (topics are lost).
    case corruptMetadata(document: String, reason: String)
    /// A partition's log could not be opened while the broker started.
    case cannotOpenPartition(topic: String, reason: String)
    /// `start()` was called on a broker that is running or was shut down; create a new `Broker`.
    case invalidState(String)
    /// The request needs something this build does not have yet (for example more than one broker).
    case unsupported(String)

    public var description: String {
        switch self {
        case let .invalidConfig(name, value, reason): "invalid broker setting \(name)=\(value): \(reason)"
        case let .storage(error): "storage failure: \(error)"
        case let .corruptMetadata(document, reason): "metadata document '\(document)' is corrupt: \(reason)"
        case let .cannotOpenPartition(topic, reason): "cannot open the logs of topic \(topic): \(reason)"
        case let .invalidState(what): "invalid broker state: \(what)"
        case let .unsupported(what): "not supported: \(what)"
        }
    }
}
