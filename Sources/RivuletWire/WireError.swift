/// Why bytes from the network or the disk could not be decoded.
///
/// Decoders never trap on input: every malformed, truncated or oversized input ends in one of
/// these. The remedy is always the same for a server: answer with Kafka's error code for the
/// request (or close the connection when even the header is unreadable) and keep running.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes remained than the field needs.
    case truncated(field: String, needed: Int, available: Int)
    /// A length prefix is negative (and not the null marker) or larger than the bytes that remain.
    case invalidLength(field: String, length: Int)
    /// A varint ran past its maximum size (5 bytes for 32-bit, 10 for 64-bit values).
    case varintTooLong(field: String)
    /// A string is not valid UTF-8.
    case invalidUTF8(field: String)
    /// A field was null where the version does not allow null.
    case unexpectedNull(field: String)
    /// A value is out of its allowed range.
    case invalidValue(field: String, reason: String)
    /// The API or version is not supported by this decoder.
    case unsupportedVersion(apiKey: Int16, version: Int16)
    /// A failure inside a request or response body, with the API and version it happened in.
    indirect case inMessage(apiKey: Int16, version: Int16, underlying: WireError)

    public var description: String {
        switch self {
        case let .truncated(field, needed, available):
            return "truncated \(field): needed \(needed) bytes, \(available) available"
        case let .invalidLength(field, length):
            return "invalid length \(length) for \(field)"
        case let .varintTooLong(field):
            return "varint too long in \(field)"
        case let .invalidUTF8(field):
            return "invalid UTF-8 in \(field)"
        case let .unexpectedNull(field):
            return "unexpected null in \(field)"
        case let .invalidValue(field, reason):
            return "invalid \(field): \(reason)"
        case let .unsupportedVersion(apiKey, version):
            return "unsupported version \(version) of API \(apiKey)"
        case let .inMessage(apiKey, version, underlying):
            return "API \(apiKey) v\(version): \(underlying)"
        }
    }
}
