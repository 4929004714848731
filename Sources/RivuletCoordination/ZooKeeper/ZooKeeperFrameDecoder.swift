import NIOCore

/// Splits ZooKeeper's stream into frames: a 4-byte big-endian length, then that many bytes.
///
/// A length below zero or above `frameBytesMax` throws `CoordinatorError.frameTooLarge` (the connection
/// is then dropped) instead of buffering without bound.
struct ZooKeeperFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// The largest frame accepted, in bytes (payload, without the length prefix).
    let frameBytesMax: Int

    init(frameBytesMax: Int) {
        self.frameBytesMax = frameBytesMax
    }

    /// Takes one complete frame's payload from the front of `buffer`, or returns `nil` (consuming
    /// nothing) when more bytes are needed.
    static func nextFrame(from buffer: inout ByteBuffer, frameBytesMax: Int) throws(CoordinatorError) -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else {
            return nil
        }
        guard length >= 0, Int(length) <= frameBytesMax else {
            throw .frameTooLarge(bytes: Int(length), limitBytes: frameBytesMax)
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.nextFrame(from: &buffer, frameBytesMax: frameBytesMax) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
