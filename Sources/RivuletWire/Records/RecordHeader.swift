import NIOCore

/// A record header to append to a batch: a string key and nullable bytes.
///
/// The value is kept as given (an array or a `ByteBuffer`), so appending copies it once, into
/// the batch. Equality compares the key and the value's bytes, whatever their container.
public struct RecordHeader: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline
    enum Storage: Sendable {
        case null
        case bytes([UInt8])
        case buffer(ByteBuffer)
    }

    /// The header key (written as UTF-8; Kafka forbids null keys).
    public var key: String
    @usableFromInline var storage: Storage

    /// A header whose value is an array of bytes, or null.
    @inlinable
    public init(key: String, value: [UInt8]?) {
        self.key = key
        storage = value.map { .bytes($0) } ?? .null
    }

    /// A header whose value is the readable bytes of a buffer, or null.
    @inlinable
    public init(key: String, value: ByteBuffer?) {
        self.key = key
        storage = value.map { .buffer($0) } ?? .null
    }

    /// The value's bytes, or nil for a null value (copies when the value is a buffer).
    public var value: [UInt8]? {
        switch storage {
        case .null: nil
        case let .bytes(bytes): bytes
        case let .buffer(buffer): Array(buffer.readableBytesView)
        }
    }

    /// The value's length in bytes, or nil for a null value.
    @inlinable
    public var valueLength: Int? {
        switch storage {
        case .null: nil
        case let .bytes(bytes): bytes.count
        case let .buffer(buffer): buffer.readableBytes
        }
    }

    /// Calls `body` with the value's bytes (an empty buffer for null).
    func withUnsafeValue(_ body: (UnsafeRawBufferPointer) -> Void) {
        switch storage {
        case .null: body(UnsafeRawBufferPointer(start: nil, count: 0))
        case let .bytes(bytes): bytes.withUnsafeBytes(body)
        case let .buffer(value): value.withUnsafeReadableBytes(body)
        }
    }

    public static func == (lhs: RecordHeader, rhs: RecordHeader) -> Bool {
        lhs.key == rhs.key && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(key)
        hasher.combine(value)
    }

    public var description: String {
        "\(key)=\(value.map { "\($0.count) bytes" } ?? "null")"
    }
}
