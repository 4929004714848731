import NIOCore

// The protocols every generated message type conforms to (see scripts/generate-protocol.py).
// Hand-written: the generator never touches this file.

/// A Kafka request or response body that can be written and read in any of its versions.
///
/// Values are plain `Sendable` structs: the in-process transport hands them over unchanged, the TCP
/// transport encodes them. Fields absent from a version keep their defaults when read and are
/// skipped when written. Encoding does not fail: a value the version cannot express (a non-default
/// field the version lacks, a null where the version has no null) is written the closest way the
/// version allows (field skipped, null written as empty), as Kafka does for ignorable fields.
public protocol KafkaMessage: Sendable, Hashable {
    /// The API this message belongs to.
    static var apiKey: ApiKey { get }
    /// The versions this type can encode and decode (Kafka's `validVersions`).
    static var validVersions: ClosedRange<Int16> { get }
    /// The first version with compact encodings and tagged fields, or nil when no version has them.
    static var firstFlexibleVersion: Int16? { get }

    /// Writes the body (not the header) as `version`. `version` should be in `validVersions`.
    func encode(into buffer: inout ByteBuffer, version: Int16)

    /// Reads a body encoded as `version`, consuming exactly its bytes.
    ///
    /// - Throws: `WireError.inMessage(apiKey:version:underlying:)`, whose underlying error names the
    ///   field that could not be read. Never traps on malformed input.
    init(from buffer: inout ByteBuffer, version: Int16) throws
}

extension KafkaMessage {
    /// Whether `version` of this message uses compact encodings and tagged fields.
    public static func isFlexible(version: Int16) -> Bool {
        apiKey.isFlexible(version: version)
    }
}

/// A request body; `Response` is the body a broker answers it with.
public protocol KafkaRequest: KafkaMessage {
    /// The response type for this request.
    associatedtype Response: KafkaResponse

    /// This request wrapped in `KafkaRequestBody`.
    var body: KafkaRequestBody { get }

    /// Unwraps a `KafkaRequestBody`; nil when it holds another API.
    init?(body: KafkaRequestBody)
}

extension KafkaRequest {
    /// The request header version for `apiVersion`: 2 when the version is flexible, else 1.
    public static func requestHeaderVersion(apiVersion: Int16) -> Int16 {
        apiKey.requestHeaderVersion(apiVersion: apiVersion)
    }
}

/// A response body.
public protocol KafkaResponse: KafkaMessage {
    /// This response wrapped in `KafkaResponseBody`.
    var body: KafkaResponseBody { get }

    /// Unwraps a `KafkaResponseBody`; nil when it holds another API.
    init?(body: KafkaResponseBody)

    /// A response with `errorCode` in every top-level `ErrorCode` field and defaults everywhere else:
    /// the answer to a request whose body could not be parsed. Responses without a top-level error
    /// code (Produce, Fetch before v7, Metadata, ...) come back all default; a broker that wants
    /// per-partition errors builds those itself.
    static func errorResponse(errorCode: Int16) -> Self
}

extension KafkaResponse {
    /// The response header version for `apiVersion`: 1 when the version is flexible, else 0, and
    /// always 0 for ApiVersions.
    public static func responseHeaderVersion(apiVersion: Int16) -> Int16 {
        apiKey.responseHeaderVersion(apiVersion: apiVersion)
    }

    /// `errorResponse(errorCode:)` from a typed code.
    public static func errorResponse(_ error: KafkaErrorCode) -> Self {
        errorResponse(errorCode: error.rawValue)
    }
}
