import DequeModule
import Logging
import NIOCore
import RivuletWire
import Synchronization

/// One client connection to one broker over TCP. Thread-safe.
///
/// `enqueue` stamps the next correlation id and hands the frame to the event loop under one lock,
/// so frames reach the socket in enqueue order and the broker answers them in that order; responses
/// are matched to the oldest outstanding request and its correlation id is checked. Requests
/// without a response (Produce acks=0) complete once written.
public final class TCPConnection: KafkaConnection {
    public let address: BrokerAddress
    /// The client id written in every request header.
    public let clientId: String?

    private struct Pending {
        let correlationId: Int32
        let apiKey: ApiKey
        let version: Int16
        let deadline: NIODeadline
        let future: ResponseFuture<KafkaResponseBody?>
    }

    private struct State {
        var inFlight = Deque<Pending>()
        var nextCorrelationId: Int32 = 0
        var closedError: TransportError?
        var timerArmed = false
    }

    private let channel: any Channel
    private let config: TCPTransportConfig
    private let logger: Logger
    private let state = Mutex(State())

    init(address: BrokerAddress, clientId: String?, channel: any Channel, config: TCPTransportConfig, logger: Logger) {
        self.address = address
        self.clientId = clientId
        self.channel = channel
        self.config = config
        self.logger = logger
    }

    /// The number of requests sent and not yet answered.
    public var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    /// Whether the connection is closed (by either side or by a failure).
    public var isClosed: Bool { state.withLock { $0.closedError != nil } }

    public func enqueue<Request: KafkaRequest>(_ request: Request, version: Int16, expectResponse: Bool) -> ResponseFuture<KafkaResponseBody?> {
        let future = ResponseFuture<KafkaResponseBody?>()
        // Encode outside the lock with a placeholder correlation id; stamp it under the lock. Produce
        // requests keep their record batches as separate buffers (no copy into the frame).
        let body = request.body
        var frames: [ByteBuffer]
        if case let .produce(produce) = body {
            frames = ProduceRequestWriter.frame(produce, version: version, correlationId: 0, clientId: clientId,
                                                allocator: channel.allocator)
        } else {
            frames = [KafkaRequestEncoder.frame(body, version: version, correlationId: 0, clientId: clientId,
                                                allocator: channel.allocator)]
        }
        let channel = channel
        let (rejected, armTimer) = state.withLock { state -> (TransportError?, NIODeadline?) in
            if let closedError = state.closedError { return (closedError, nil) }
            state.nextCorrelationId = state.nextCorrelationId == Int32.max ? 0 : state.nextCorrelationId + 1
            let correlationId = state.nextCorrelationId
            frames[0].setInteger(correlationId, at: frames[0].readerIndex + KafkaRequestEncoder.correlationIdOffset)
            var arm: NIODeadline?
            if expectResponse {
                let deadline = NIODeadline.now() + .milliseconds(config.requestTimeoutMs)
                state.inFlight.append(Pending(correlationId: correlationId, apiKey: Request.apiKey, version: version,
                                              deadline: deadline, future: future))
                if !state.timerArmed {
                    state.timerArmed = true
                    arm = deadline
                }
            }
            // Handing over under the lock keeps the socket order equal to the correlation order;
            // `execute` never runs the closure inline, so no handler code runs under this lock.
            let sendFrames = frames
            if expectResponse {
                channel.eventLoop.execute {
                    for frame in sendFrames { channel.write(frame, promise: nil) }
                    channel.flush()
                }
            } else {
                channel.eventLoop.execute {
                    let promise = channel.eventLoop.makePromise(of: Void.self)
                    promise.futureResult.whenComplete { result in
                        switch result {
                        case .success: future.succeed(nil)
                        case .failure: future.fail(TransportError.connectionClosed(self.address))
                        }
                    }
                    for frame in sendFrames.dropLast() { channel.write(frame, promise: nil) }
                    if let last = sendFrames.last { channel.write(last, promise: promise) }
                    channel.flush()
                }
            }
            return (nil, arm)
        }
        if let rejected {
            future.fail(rejected)
            return future
        }
        if let armTimer { scheduleTimeoutCheck(at: armTimer) }
        return future
    }

    public func close() async {
        fail(with: .connectionClosed(address))
        try? await channel.close()
    }

    // MARK: Event loop side

    /// One response frame arrived. On the event loop.
    func responseReceived(_ frame: ByteBuffer) {
        var buffer = frame
        guard let correlationId = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else {
            protocolFailure("response of \(frame.readableBytes) bytes has no correlation id")
            return
        }
        let outcome = state.withLock { state -> Result<Pending, TransportError>? in
            guard let head = state.inFlight.first else {
                return state.closedError == nil ? .failure(.malformedResponse(address, reason: "response with correlation id \(correlationId) but no request outstanding")) : nil
            }
            guard head.correlationId == correlationId else {
                return .failure(.malformedResponse(address, reason: "response correlation id \(correlationId), expected \(head.correlationId)"))
            }
            state.inFlight.removeFirst()
            return .success(head)
        }
        switch outcome {
        case nil:
            return
        case let .failure(error):
            protocolFailure(error)
        case let .success(pending):
            do {
                _ = try ResponseHeader(from: &buffer, apiKey: pending.apiKey, apiVersion: pending.version)
                let body = try KafkaResponseBody.decode(apiKey: pending.apiKey.rawValue, version: pending.version, from: &buffer)
                pending.future.succeed(body)
            } catch {
                // The frame boundary is intact, so only this request fails; the connection stays.
                logger.warning("undecodable response", metadata: ["broker": "\(address)", "api": "\(pending.apiKey.name)",
                                                                  "version": "\(pending.version)", "error": "\(error)"])
                pending.future.fail(TransportError.malformedResponse(address, reason: "\(pending.apiKey.name) v\(pending.version): \(error)"))
            }
        }
    }

    /// The channel closed. On the event loop.
    func channelClosed() {
        fail(with: .connectionClosed(address))
    }

    /// The stream cannot be trusted any more (bad framing, unmatched response): fail everything
    /// and close.
    func protocolFailure(_ reason: String) {
        protocolFailure(.malformedResponse(address, reason: reason))
    }

    private func protocolFailure(_ error: TransportError) {
        logger.warning("closing connection", metadata: ["broker": "\(address)", "error": "\(error)"])
        fail(with: error)
        channel.close(promise: nil)
    }

    private func fail(with error: TransportError) {
        let failed = state.withLock { state -> Deque<Pending> in
            if state.closedError == nil { state.closedError = .connectionClosed(address) }
            let failed = state.inFlight
            state.inFlight.removeAll()
            return failed
        }
        for pending in failed { pending.future.fail(error) }
    }

    private func scheduleTimeoutCheck(at deadline: NIODeadline) {
        channel.eventLoop.scheduleTask(deadline: deadline) { self.checkTimeouts() }
    }

    /// Fails the oldest request if its deadline passed (and closes the connection, since the
    /// requests behind it would be answered only after it); otherwise re-arms for the oldest.
    private func checkTimeouts() {
        let now = NIODeadline.now()
        let (expired, rearm) = state.withLock { state -> (Pending?, NIODeadline?) in
            guard let head = state.inFlight.first else {
                state.timerArmed = false
                return (nil, nil)
            }
            if head.deadline <= now {
                state.inFlight.removeFirst()
                state.timerArmed = false
                return (head, nil)
            }
            return (nil, head.deadline)
        }
        if let rearm { scheduleTimeoutCheck(at: rearm) }
        guard let expired else { return }
        logger.warning("request timed out; closing connection",
                       metadata: ["broker": "\(address)", "api": "\(expired.apiKey.name)", "request.timeout.ms": "\(config.requestTimeoutMs)"])
        expired.future.fail(TransportError.timedOut(address, afterMs: config.requestTimeoutMs))
        fail(with: .connectionClosed(address))
        channel.close(promise: nil)
    }
}

/// The last handler of a client connection's pipeline. Event-loop bound.
final class TCPClientChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: TCPConnection

    init(connection: TCPConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.responseReceived(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.channelClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let frameError = error as? KafkaFrameError {
            connection.protocolFailure("\(frameError)")
        } else {
            connection.channelClosed()
        }
        context.close(promise: nil)
    }
}
