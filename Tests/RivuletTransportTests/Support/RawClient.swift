import NIOCore
import NIOPosix
import RivuletWire
import Synchronization
@testable import RivuletTransport

/// A bare TCP client for server tests: sends arbitrary bytes, collects whatever comes back, and
/// notices when the server closes. Every wait is bounded.
final class RawClient: Sendable {
    private struct State {
        var received = ByteBuffer()
        var closed = false
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let shared: SharedState
        init(shared: SharedState) { self.shared = shared }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            shared.state.withLock { _ = $0.received.writeBuffer(&bytes) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            shared.state.withLock { $0.closed = true }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    private let shared: SharedState
    let channel: any Channel

    private init(channel: any Channel, shared: SharedState) {
        self.channel = channel
        self.shared = shared
    }

    static func connect(_ address: BrokerAddress) async throws -> RawClient {
        let shared = SharedState()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(shared: shared)) }
            }
            .connect(host: address.host, port: address.port).get()
        return RawClient(channel: channel, shared: shared)
    }

    private final class SharedState: Sendable {
        let state = Mutex(State())
    }

    /// Sends `bytes` as they are (one write).
    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Sends `buffer` as it is.
    func send(_ buffer: ByteBuffer) async throws {
        try await channel.writeAndFlush(buffer)
    }

    var isClosed: Bool { shared.state.withLock { $0.closed } }

    /// Waits up to `timeoutMs` for the next whole frame (without its size prefix); nil if none came
    /// (or the connection closed first).
    func readFrame(timeoutMs: Int = 5_000) async -> ByteBuffer? {
        let reader = KafkaFrameReader(maxFrameBytes: 1 << 30)
        for _ in 0 ..< max(1, timeoutMs / 5) {
            let frame = shared.state.withLock { state -> ByteBuffer?? in
                if let frame = try? reader.nextFrame(from: &state.received) { return .some(frame) }
                return state.closed ? .some(nil) : nil
            }
            if let frame { return frame }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return nil
    }

    /// Waits up to `timeoutMs` for the server to close the connection; returns whether it did.
    func waitClosed(timeoutMs: Int = 5_000) async -> Bool {
        for _ in 0 ..< max(1, timeoutMs / 5) {
            if isClosed { return true }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return isClosed
    }

    func close() async {
        try? await channel.close()
    }
}

/// Test helpers around `TCPServer`.
enum TestServer {
    static func start(_ handler: any KafkaRequestHandler, configure: (inout TCPServerConfig) -> Void = { _ in },
                      metrics: TestMetrics? = nil,
                      group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> TCPServer {
        var config = TCPServerConfig(listenAddress: BrokerAddress(host: "127.0.0.1", port: 0), shutdownTimeoutMs: 2_000)
        configure(&config)
        return try await TCPServer.start(config: config, handler: handler, group: group, metricsFactory: metrics)
    }

    /// A request frame as a client would send it.
    static func requestFrame<R: KafkaRequest>(_ request: R, version: Int16, correlationId: Int32, clientId: String? = "raw") -> ByteBuffer {
        KafkaRequestEncoder.frame(request.body, version: version, correlationId: correlationId, clientId: clientId)
    }
}
