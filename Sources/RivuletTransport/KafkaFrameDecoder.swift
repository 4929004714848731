import NIOCore

/// Why a stream of length-prefixed Kafka frames could not be split into frames. Either side closes
/// the connection on these: the stream is out of step and nothing after the bad prefix can be trusted.
public enum KafkaFrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The int32 size prefix is larger than the limit (`socket.request.max.bytes` on a broker, the
    /// response limit on a client). Nothing of that size was allocated. The remedy is a client that
    /// sends smaller requests, or a larger limit.
    case frameTooLarge(sizeBytes: Int, maxBytes: Int)
    /// The int32 size prefix is negative: the peer does not speak Kafka's framing.
    case negativeSize(Int32)

    public var description: String {
        switch self {
        case let .frameTooLarge(size, max): "frame of \(size) bytes exceeds the limit of \(max) bytes"
        case let .negativeSize(size): "negative frame size \(size)"
        }
    }
}

/// Splits a byte stream into Kafka frames: an int32 big-endian size, then that many bytes.
///
/// Pure and I/O free, so it is tested drip-fed, coalesced and split at every offset. It never
/// reserves memory from a size prefix: it only checks the prefix against `maxFrameBytes` and waits
/// for the bytes to arrive.
public struct KafkaFrameReader: Sendable {
    /// The largest frame accepted, in bytes, not counting the 4-byte size prefix.
    public let maxFrameBytes: Int

    /// - Parameter maxFrameBytes: the largest accepted frame (Kafka's `socket.request.max.bytes`,
    ///   default 104857600 on a broker).
    public init(maxFrameBytes: Int) {
        precondition(maxFrameBytes >= 0, "maxFrameBytes must not be negative")
        self.maxFrameBytes = maxFrameBytes
    }

    /// Takes the next whole frame (without its size prefix) off the front of `buffer`, or returns nil
    /// and consumes nothing when the frame has not fully arrived yet.
    ///
    /// - Throws: `KafkaFrameError.frameTooLarge` or `.negativeSize` as soon as the prefix is readable.
    @inlinable
    public func nextFrame(from buffer: inout ByteBuffer) throws(KafkaFrameError) -> ByteBuffer? {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        guard size >= 0 else { throw .negativeSize(size) }
        guard Int(size) <= maxFrameBytes else { throw .frameTooLarge(sizeBytes: Int(size), maxBytes: maxFrameBytes) }
        guard buffer.readableBytes >= 4 + Int(size),
              let frame = buffer.getSlice(at: buffer.readerIndex + 4, length: Int(size))
        else { return nil }
        buffer.moveReaderIndex(forwardBy: 4 + Int(size))
        return frame
    }
}

/// The NIO decoder around `KafkaFrameReader`: emits one `ByteBuffer` per frame. A bad size prefix
/// throws, which reaches the pipeline's `errorCaught`; the connection handlers close the channel.
///
/// When a frame's size is known (and within the limit) but its bytes are still arriving, the
/// decoder reserves room for the rest of the frame, up to `reserveBytesMax`, so that the reads that
/// follow are appended without the cumulation buffer regrowing (and copying) several times.
public struct KafkaFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// The most memory reserved ahead for a frame still arriving. A peer can make the server reserve
    /// this much per connection by announcing a large frame, so it stays well below the frame limit.
    public static let reserveBytesMax = 8 << 20

    private let reader: KafkaFrameReader

    /// - Parameter maxFrameBytes: the largest accepted frame, in bytes, without the size prefix.
    public init(maxFrameBytes: Int) {
        reader = KafkaFrameReader(maxFrameBytes: maxFrameBytes)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try reader.nextFrame(from: &buffer) else {
            if let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) {
                // `nextFrame` has checked the size against the limit.
                let missing = min(Int(size) + 4, Self.reserveBytesMax) - buffer.readableBytes
                if missing > buffer.writableBytes { buffer.reserveCapacity(minimumWritableBytes: missing) }
            }
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // Leftover bytes at EOF are a frame cut short; the connection is going away anyway, so they
        // are dropped (the handlers log the close) rather than raised as an error.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
