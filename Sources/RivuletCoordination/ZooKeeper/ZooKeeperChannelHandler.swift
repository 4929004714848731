import NIOCore

/// The last handler of a ZooKeeper connection's pipeline: hands each frame and the connection's end to
/// the session, tagged with the connection's generation so a late callback from an old connection is
/// ignored. Runs on the channel's event loop.
final class ZooKeeperChannelHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    let generation: UInt64
    let session: ZooKeeperCoordinator

    init(generation: UInt64, session: ZooKeeperCoordinator) {
        self.generation = generation
        self.session = session
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.handleFrame(generation, unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.handleClosed(generation, reason: "connection closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        session.handleClosed(generation, reason: "\(error)")
        context.close(promise: nil)
    }
}
