import DequeModule
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore
import RivuletWire
import Synchronization

/// One accepted client connection: a FIFO of received request frames, drained by one task at a
/// time so that the handler sees the connection's requests one by one, in order, and the responses
/// go out in the same order. Frames arrive on the event loop; the drain task runs on Swift's
/// concurrent executor, so a slow request delays only its own connection.
final class TCPServerConnection: Sendable {
    let id: UInt64
    let channel: any Channel
    let peer: String
    private let shared: TCPServerShared
    /// Where the drain task runs: the connection's event loop, or nil for the global executor.
    private let executor: EventLoopTaskExecutor?

    private struct State {
        var queue = Deque<ByteBuffer>()
        var queuedBytes = 0
        /// A drain task is running (it owns the front of the queue).
        var draining = false
        /// Reading from the socket is paused because too much is queued (backpressure).
        var readPaused = false
        /// The connection is going away: queued frames are dropped and nothing new is queued.
        var closing = false
        /// Written responses not yet flushed.
        var unflushed = false
    }

    private let state = Mutex(State())

    init(id: UInt64, channel: any Channel, peer: String, shared: TCPServerShared) {
        self.id = id
        self.channel = channel
        self.peer = peer
        self.shared = shared
        if case .eventLoop = shared.config.requestExecution {
            executor = EventLoopTaskExecutor(eventLoop: channel.eventLoop)
        } else {
            executor = nil
        }
    }

    private var logger: Logger { shared.logger }

    // MARK: Event loop side

    /// A whole request frame arrived. On the event loop.
    func received(_ frame: ByteBuffer) {
        let config = shared.config
        let (startDrain, pause) = state.withLock { state -> (Bool, Bool) in
            guard !state.closing else { return (false, false) }
            state.queue.append(frame)
            state.queuedBytes += frame.readableBytes
            var pause = false
            if !state.readPaused,
               state.queue.count > config.queuedRequestsMax || state.queuedBytes > config.socketRequestMaxBytes {
                state.readPaused = true
                pause = true
            }
            guard !state.draining else { return (false, pause) }
            state.draining = true
            return (true, pause)
        }
        if pause { channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in } }
        if startDrain {
            if let executor {
                Task(executorPreference: executor) { await self.drain() }
            } else {
                Task { await self.drain() }
            }
        }
    }

    /// Whether nothing is queued or in progress (for the idle check). On the event loop.
    var isIdle: Bool {
        state.withLock { !$0.draining && $0.queue.isEmpty }
    }

    /// The channel closed (by either side). On the event loop.
    func closed() {
        state.withLock { state in
            state.closing = true
            state.queue.removeAll()
            state.queuedBytes = 0
        }
        shared.removeConnection(id)
        let handler = shared.handler
        let id = id
        Task { await handler.connectionClosed(connectionID: id) }
        logger.debug("connection closed", metadata: ["connection": "\(id)", "peer": "\(peer)"])
    }

    /// Server shutdown: finish the request in progress, drop the queued ones, then close.
    func shutdown() {
        let closeNow = state.withLock { state -> Bool in
            state.closing = true
            state.queue.removeAll()
            state.queuedBytes = 0
            return !state.draining
        }
        shared.metrics.connectionClosed(reason: "shutdown")
        if closeNow { channel.close(promise: nil) }
    }

    /// Closes the connection because of `reason` (logged at `level`).
    func closeForError(_ message: Logger.Message, reason: String, level: Logger.Level, metadata: Logger.Metadata = [:]) {
        var metadata = metadata
        metadata["connection"] = "\(id)"
        metadata["peer"] = "\(peer)"
        logger.log(level: level, message, metadata: metadata)
        shared.metrics.connectionClosed(reason: reason)
        state.withLock { state in
            state.closing = true
            state.queue.removeAll()
            state.queuedBytes = 0
        }
        channel.close(promise: nil)
    }

    private func resumeReadingIfDrained() {
        let resume = state.withLock { state -> Bool in
            guard state.readPaused, !state.closing,
                  state.queue.count <= shared.config.queuedRequestsMax / 2,
                  state.queuedBytes <= shared.config.socketRequestMaxBytes / 2
            else { return false }
            state.readPaused = false
            return true
        }
        if resume { channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in } }
    }

    // MARK: Drain task

    private enum Next {
        case frame(ByteBuffer, resumeCheck: Bool)
        case stop(flush: Bool, close: Bool)
    }

    private func drain() async {
        while true {
            let next = state.withLock { state -> Next in
                guard !state.closing, let frame = state.queue.popFirst() else {
                    state.draining = false
                    let flush = state.unflushed
                    state.unflushed = false
                    return .stop(flush: flush, close: state.closing)
                }
                state.queuedBytes -= frame.readableBytes
                return .frame(frame, resumeCheck: state.readPaused)
            }
            switch next {
            case let .stop(flush, close):
                if flush { channel.flush() }
                if close { channel.close(promise: nil) }
                return
            case let .frame(frame, resumeCheck):
                if resumeCheck { channel.eventLoop.execute { self.resumeReadingIfDrained() } }
                await process(frame)
            }
        }
    }

    /// Decodes one frame, hands it to the handler, and writes the answer (flushing when nothing
    /// else is queued, so pipelined responses leave in one write).
    private func process(_ frame: ByteBuffer) async {
        let started = NIODeadline.now()
        let decoded: DecodedKafkaRequest
        do {
            decoded = try KafkaRequestDecoder.decode(frame: frame)
        } catch {
            shared.metrics.requestError(api: "Unknown", reason: "bad_header")
            closeForError("closing connection: unreadable request header", reason: "bad_header", level: .warning,
                          metadata: ["error": "\(error)", "frameBytes": "\(frame.readableBytes)"])
            return
        }
        let header = decoded.header
        let metrics = shared.metrics.api(header.apiKey)
        metrics.requests.increment()
        metrics.bytesIn.increment(by: frame.readableBytes + 4)
        let allocator = channel.allocator
        let response: ByteBuffer?
        switch decoded {
        case let .request(header, body):
            let context = RequestContext(header: header, connectionID: id, clientAddress: peer)
            let handler = shared.handler
            let answer: KafkaResponseBody?
            if case let .eventLoop(requestBytesMax) = shared.config.requestExecution, frame.readableBytes > requestBytesMax {
                // Off the loop, so the other connections of this loop keep flowing meanwhile.
                answer = await withTaskExecutorPreference(globalConcurrentExecutor) { await handler.handle(body, context: context) }
            } else {
                answer = await handler.handle(body, context: context)
            }
            if let answer {
                if case let .fetch(fetch) = answer, case .fetch = body {
                    // Records go to the socket as the log's own buffers, not copied into the frame.
                    let buffers = FetchResponseWriter.frame(fetch, correlationId: header.correlationId,
                                                            version: header.apiVersion, allocator: allocator)
                    send(buffers, metrics: metrics)
                    response = nil
                } else if answer.apiKey == body.apiKey {
                    response = KafkaResponseEncoder.frame(answer, correlationId: header.correlationId,
                                                          apiVersion: header.apiVersion, allocator: allocator)
                } else {
                    logger.error("handler answered with another API; sending UNKNOWN_SERVER_ERROR",
                                 metadata: ["connection": "\(id)", "request": "\(body.apiKey.name)", "response": "\(answer.apiKey.name)"])
                    response = KafkaResponseEncoder.frame(
                        KafkaResponseEncoder.errorBody(for: body.apiKey, errorCode: KafkaErrorCode.unknownServerError.rawValue),
                        correlationId: header.correlationId, apiVersion: header.apiVersion, allocator: allocator)
                }
            } else {
                response = nil
            }
        case let .malformedBody(header, api, error):
            shared.metrics.requestError(api: api.name, reason: "malformed_body")
            logger.warning("unreadable request body; answering INVALID_REQUEST",
                           metadata: ["connection": "\(id)", "peer": "\(peer)", "api": "\(api.name)",
                                      "version": "\(header.apiVersion)", "error": "\(error)"])
            response = KafkaResponseEncoder.frame(
                KafkaResponseEncoder.errorBody(for: api, errorCode: KafkaErrorCode.invalidRequest.rawValue),
                correlationId: header.correlationId, apiVersion: header.apiVersion, allocator: allocator)
        case let .unsupportedApiVersionsVersion(header):
            // A newer client: answer in v0 with the table the handler advertises (Kafka's rule).
            let context = RequestContext(
                header: RequestHeader(apiKey: .apiVersions, apiVersion: 0, correlationId: header.correlationId, clientId: header.clientId),
                connectionID: id, clientAddress: peer)
            var apiKeys = ApiVersionsResponse.supportedApiKeys()
            if case let .apiVersions(table)? = await shared.handler.handle(.apiVersions(ApiVersionsRequest()), context: context) {
                apiKeys = table.apiKeys
            }
            logger.debug("ApiVersions version above ours; answering UNSUPPORTED_VERSION in v0",
                         metadata: ["connection": "\(id)", "version": "\(header.apiVersion)"])
            response = KafkaResponseEncoder.unsupportedApiVersionsFrame(
                correlationId: header.correlationId, apiKeys: apiKeys, allocator: allocator)
        case let .unsupportedVersion(header, api):
            shared.metrics.requestError(api: api.name, reason: "unsupported_version")
            logger.warning("unsupported API version; answering UNSUPPORTED_VERSION",
                           metadata: ["connection": "\(id)", "peer": "\(peer)", "api": "\(api.name)", "version": "\(header.apiVersion)"])
            response = KafkaResponseEncoder.genericErrorFrame(correlationId: header.correlationId, allocator: allocator)
        case let .unknownApiKey(header):
            shared.metrics.requestError(api: "Unknown", reason: "unknown_api")
            logger.warning("unknown API key; answering UNSUPPORTED_VERSION",
                           metadata: ["connection": "\(id)", "peer": "\(peer)", "apiKey": "\(header.apiKey)"])
            response = KafkaResponseEncoder.genericErrorFrame(correlationId: header.correlationId, allocator: allocator)
        }
        if let response { send(CollectionOfOne(response), metrics: metrics) }
        metrics.duration.recordNanoseconds(Int64(truncatingIfNeeded: (NIODeadline.now() - started).nanoseconds))
    }

    /// Writes one response (one or more buffers) in a single hop to the event loop, flushing unless
    /// more requests are queued (their responses then leave together).
    private func send<Buffers: Collection & Sendable>(_ buffers: Buffers, metrics: TCPServerMetrics.PerApi) where Buffers.Element == ByteBuffer {
        var bytes = 0
        for buffer in buffers { bytes += buffer.readableBytes }
        metrics.bytesOut.increment(by: bytes)
        let flush = state.withLock { state -> Bool in
            if state.queue.isEmpty || state.closing {
                state.unflushed = false
                return true
            }
            state.unflushed = true
            return false
        }
        let channel = channel
        if channel.eventLoop.inEventLoop {
            // The drain task runs on this connection's loop (`RequestExecution.eventLoop`).
            for buffer in buffers { channel.write(buffer, promise: nil) }
            if flush { channel.flush() }
        } else {
            channel.eventLoop.execute {
                for buffer in buffers { channel.write(buffer, promise: nil) }
                if flush { channel.flush() }
            }
        }
    }
}

/// The last handler of a server connection's pipeline: hands frames to the connection, closes on
/// framing errors and idleness, and reports the close. Event-loop bound.
final class TCPServerChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: TCPServerConnection

    init(connection: TCPServerConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.received(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.closed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let KafkaFrameError.frameTooLarge(size, max):
            connection.closeForError("closing connection: request larger than socket.request.max.bytes", reason: "frame_too_large",
                                     level: .warning, metadata: ["sizeBytes": "\(size)", "socket.request.max.bytes": "\(max)"])
        case let frameError as KafkaFrameError:
            connection.closeForError("closing connection: bad frame", reason: "bad_frame", level: .warning,
                                     metadata: ["error": "\(frameError)"])
        case let io as IOError where io.errnoCode == ECONNRESET || io.errnoCode == EPIPE:
            connection.closeForError("connection reset by peer", reason: "peer", level: .debug)
        default:
            connection.closeForError("closing connection after error", reason: "error", level: .info, metadata: ["error": "\(error)"])
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case IdleStateHandler.IdleStateEvent.all = event {
            if connection.isIdle {
                connection.closeForError("closing idle connection (connections.max.idle.ms)", reason: "idle", level: .debug)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
