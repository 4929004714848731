import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import RivuletTransport

/// One partition's log gauges: `rivulet_log_size_bytes` (when known), `rivulet_log_start_offset`,
/// `rivulet_log_end_offset`, `rivulet_log_high_watermark`, and `rivulet_log_records` (end - start).
struct LogSizeSample: Sendable {
    var topic: String
    var partition: Int32
    var sizeBytes: Int64?
    var logStartOffset: Int64
    var logEndOffset: Int64
    var highWatermark: Int64
}

/// Serves Prometheus metrics over HTTP/1.1 (`GET /metrics`): everything recorded through
/// swift-metrics into `registry` (request rates, bytes, latencies per API, connections), plus
/// per-partition log gauges read from the broker at scrape time, so deleted topics disappear.
final class MetricsServer: Sendable {
    let localAddress: BrokerAddress
    private let channel: any Channel

    private init(channel: any Channel, localAddress: BrokerAddress) {
        self.channel = channel
        self.localAddress = localAddress
    }

    /// Binds `address` and serves until `close()`.
    ///
    /// - Parameter logSizes: called on every scrape, from an event loop; must be quick.
    /// - Throws: `TCPServerError.bindFailed` when the address cannot be bound.
    static func start(address: BrokerAddress, registry: PrometheusCollectorRegistry,
                      logSizes: @escaping @Sendable () -> [LogSizeSample], logger: Logger) async throws -> MetricsServer {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 32)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(registry: registry, logSizes: logSizes))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: address.host, port: address.port).get()
        } catch {
            throw TCPServerError.bindFailed(address, reason: "\(error)")
        }
        let bound = BrokerAddress(host: address.host, port: channel.localAddress?.port ?? address.port)
        logger.info("serving metrics", metadata: ["address": "http://\(bound)/metrics"])
        return MetricsServer(channel: channel, localAddress: bound)
    }

    func close() async {
        try? await channel.close()
    }

    /// The text exposition of `samples` (Prometheus format 0.0.4).
    static func exposition(_ samples: [LogSizeSample]) -> String {
        guard !samples.isEmpty else { return "" }
        var text = ""
        func gauge(_ name: String, _ value: (LogSizeSample) -> Int64?) {
            let values = samples.compactMap { sample in value(sample).map { (sample, $0) } }
            guard !values.isEmpty else { return }
            text += "# TYPE \(name) gauge\n"
            for (sample, value) in values { text += "\(name){\(labels(sample))} \(value)\n" }
        }
        gauge("rivulet_log_size_bytes") { $0.sizeBytes }
        gauge("rivulet_log_start_offset") { $0.logStartOffset }
        gauge("rivulet_log_end_offset") { $0.logEndOffset }
        gauge("rivulet_log_high_watermark") { $0.highWatermark }
        gauge("rivulet_log_records") { $0.logEndOffset >= $0.logStartOffset && $0.logStartOffset >= 0 ? $0.logEndOffset - $0.logStartOffset : nil }
        return text
    }

    private static func labels(_ sample: LogSizeSample) -> String {
        "topic=\"\(escape(sample.topic))\",partition=\"\(sample.partition)\""
    }

    /// Escapes a label value: backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}

/// Answers `GET /metrics` (and `/`) with the exposition; anything else gets 404 or 405.
private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let logSizes: @Sendable () -> [LogSizeSample]
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, logSizes: @escaping @Sendable () -> [LogSizeSample]) {
        self.registry = registry
        self.logSizes = logSizes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(context: context, to: head)
        }
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        var body = context.channel.allocator.buffer(capacity: 4096)
        if head.method != .GET && head.method != .HEAD {
            status = .methodNotAllowed
            body.writeString("only GET\n")
        } else if path == "/metrics" || path == "/" {
            status = .ok
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            body.writeBytes(bytes)
            body.writeString(MetricsServer.exposition(logSizes()))
        } else {
            status = .notFound
            body.writeString("not found; try /metrics\n")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
