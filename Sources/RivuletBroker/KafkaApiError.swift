import RivuletWire

/// A failure the broker answers with a Kafka error code: what went wrong for one topic, partition or
/// resource, and the human-readable message that goes with it where the response has a message field.
///
/// Every layer of the broker (topic lifecycle, configs, partitions, producer state) throws this type,
/// so each code is chosen once, where the condition is detected, and handlers copy it into responses.
public struct KafkaApiError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The Kafka error code to answer with.
    public var code: KafkaErrorCode
    /// What went wrong, for the response's error message (nil keeps Kafka's default message out).
    public var message: String?

    /// Creates an error with `code` and an optional message.
    public init(_ code: KafkaErrorCode, _ message: String? = nil) {
        self.code = code
        self.message = message
    }

    public var description: String {
        if let message { "\(code.name): \(message)" } else { code.name }
    }
}
