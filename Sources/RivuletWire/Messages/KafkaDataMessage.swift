import NIOCore

// The protocol of the generated data schemas (see scripts/generate-protocol.py and
// scripts/kafka-messages-extra/). Hand-written: the generator never touches this file.

/// A Kafka data schema without an API key: the consumer protocol's subscription and assignment
/// (inside JoinGroup/SyncGroup metadata bytes) and the `__consumer_offsets` record keys and values.
///
/// Kafka writes these as an int16 version followed by the fields of that version
/// (`MessageUtil.toVersionPrefixedBytes`); `versionPrefixed(version:)` and
/// `init(versionPrefixed:)` do the same.
public protocol KafkaDataMessage: Sendable, Hashable {
    /// The versions this type can encode and decode (Kafka's `validVersions`).
    static var validVersions: ClosedRange<Int16> { get }
    /// The first version with compact encodings and tagged fields, or nil when no version has them.
    static var firstFlexibleVersion: Int16? { get }

    /// Writes the fields (without a version prefix) as `version`.
    func encode(into buffer: inout ByteBuffer, version: Int16)

    /// Reads the fields (without a version prefix) encoded as `version`.
    ///
    /// - Throws: `WireError` naming the field that could not be read. Never traps on bad input.
    init(from buffer: inout ByteBuffer, version: Int16) throws
}

extension KafkaDataMessage {
    /// The int16 `version` followed by the fields in that version.
    public func versionPrefixed(version: Int16) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(version)
        encode(into: &buffer, version: version)
        return buffer
    }

    /// Reads an int16 version and then the fields in that version; returns the value and the version
    /// that was written.
    ///
    /// - Parameter readingNewerAsLatest: read a version above `validVersions` with the latest known
    ///   layout, as Kafka does for the consumer protocol (newer versions only append fields). When
    ///   false such a version throws `WireError.invalidValue`.
    /// - Throws: `WireError` for a truncated prefix, a version below `validVersions` (or above it
    ///   unless `readingNewerAsLatest`), or a field that cannot be read.
    public static func decodeVersionPrefixed(_ buffer: inout ByteBuffer,
                                             readingNewerAsLatest: Bool = false) throws -> (value: Self, version: Int16) {
        guard let version = buffer.readInteger(as: Int16.self) else {
            throw WireError.truncated(field: "\(Self.self).version", needed: 2, available: buffer.readableBytes)
        }
        var readAs = version
        if version > validVersions.upperBound, readingNewerAsLatest {
            readAs = validVersions.upperBound
        }
        guard validVersions.contains(readAs) else {
            throw WireError.invalidValue(field: "\(Self.self).version",
                                         reason: "version \(version) is outside \(validVersions.lowerBound)-\(validVersions.upperBound)")
        }
        return (try Self(from: &buffer, version: readAs), version)
    }
}
