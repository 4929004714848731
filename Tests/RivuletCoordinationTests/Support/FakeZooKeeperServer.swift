import NIOCore
import NIOPosix
import Testing

@testable import RivuletCoordination

/// A scripted ZooKeeper server on 127.0.0.1 for client tests a real server cannot stage: silence,
/// malformed replies, oversized frames, refused sessions. Every frame a client sends is handed to the
/// script with its connection's index (0, 1, ...); the first frame of a connection is its
/// `ConnectRequest`. The script answers by writing to the channel (or not).
final class FakeZooKeeperServer: Sendable {
    typealias Script = @Sendable (_ connection: Int, _ frame: ByteBuffer, _ channel: any Channel) -> Void

    let port: Int
    private let serverChannel: any Channel
    private let counter: TestBox<Int>
    /// Every request received after a handshake: (connection index, xid, op code).
    let requests: TestBox<[(connection: Int, xid: Int32, opCode: Int32)]>

    private init(port: Int, serverChannel: any Channel, counter: TestBox<Int>, requests: TestBox<[(connection: Int, xid: Int32, opCode: Int32)]>) {
        self.port = port
        self.serverChannel = serverChannel
        self.counter = counter
        self.requests = requests
    }

    var connectionCount: Int { counter.withLock { $0 } }
    var host: CoordinatorHost { CoordinatorHost(host: "127.0.0.1", port: port) }

    static func start(_ script: @escaping Script) async throws -> FakeZooKeeperServer {
        let counter = TestBox(0)
        let requests = TestBox<[(connection: Int, xid: Int32, opCode: Int32)]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                let index = counter.withLock { count -> Int in
                    defer { count += 1 }
                    return count
                }
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(ZooKeeperFrameDecoder(frameBytesMax: 1 << 20)))
                    try child.pipeline.syncOperations.addHandler(
                        FakeConnectionHandler(index: index, script: script, requests: requests))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else { throw TimedOut(description: "no port") }
        return FakeZooKeeperServer(port: port, serverChannel: channel, counter: counter, requests: requests)
    }

    func stop() async {
        try? await serverChannel.close()
    }

    // MARK: Frames a server sends

    static func connectResponse(timeoutMs: Int32, sessionID: Int64 = 0x1234, password: [UInt8] = Array(repeating: 9, count: 16)) -> ByteBuffer {
        frame { buffer in
            buffer.writeJuteInt(0)
            buffer.writeJuteInt(timeoutMs)
            buffer.writeJuteLong(sessionID)
            buffer.writeJuteBuffer(password)
            buffer.writeJuteBool(false)
        }
    }

    static func reply(xid: Int32, zxid: Int64 = 1, err: Int32 = 0, body: (inout ByteBuffer) -> Void = { _ in }) -> ByteBuffer {
        frame { buffer in
            buffer.writeJuteInt(xid)
            buffer.writeJuteLong(zxid)
            buffer.writeJuteInt(err)
            body(&buffer)
        }
    }

    static func frame(_ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var payload = ByteBuffer()
        body(&payload)
        var framed = ByteBuffer()
        framed.writeJuteInt(Int32(payload.readableBytes))
        framed.writeBuffer(&payload)
        return framed
    }

    /// The (xid, op code) of a request frame; nil for anything shorter than a request header.
    static func header(of frame: ByteBuffer) -> (xid: Int32, opCode: Int32)? {
        var buffer = frame
        guard let xid = buffer.readInteger(endianness: .big, as: Int32.self),
              let op = buffer.readInteger(endianness: .big, as: Int32.self)
        else { return nil }
        return (xid, op)
    }
}

private final class FakeConnectionHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    let index: Int
    let script: FakeZooKeeperServer.Script
    let requests: TestBox<[(connection: Int, xid: Int32, opCode: Int32)]>
    let handshaken = TestBox(false)

    init(index: Int, script: @escaping FakeZooKeeperServer.Script, requests: TestBox<[(connection: Int, xid: Int32, opCode: Int32)]>) {
        self.index = index
        self.script = script
        self.requests = requests
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if handshaken.withLock({ done in defer { done = true }; return done }), let header = FakeZooKeeperServer.header(of: frame) {
            requests.withLock { $0.append((index, header.xid, header.opCode)) }
        }
        script(index, frame, context.channel)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
