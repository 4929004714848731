import NIOCore
import RivuletWire

/// A broker's network address as clients dial it (`host:port`). In-process brokers have addresses too,
/// so that metadata looks the same whichever transport carries it.
public struct BrokerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (IPv6 hosts in brackets: `[::1]:9092`). Returns nil when malformed.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: " \t")
        guard let colon = trimmed.lastIndex(of: ":") else { return nil }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(trimmed[trimmed.index(after: colon)...]), (1 ... 65535).contains(port) else {
            return nil
        }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension String {
    func trimmingCharacters(in characters: String) -> Substring {
        let set = Set(characters)
        var start = startIndex
        var end = endIndex
        while start < end, set.contains(self[start]) { start = index(after: start) }
        while end > start, set.contains(self[index(before: end)]) { end = index(before: end) }
        return self[start ..< end]
    }
}

/// Where a request came from and how it was framed. The broker uses the version for per-version
/// semantics and the rest for logs and metrics; it never learns which transport carried the request.
public struct RequestContext: Sendable {
    /// The request header: API key, version, correlation id, client id.
    public var header: RequestHeader
    /// A unique id of the connection within this process (for logs and group member ids).
    public var connectionID: UInt64
    /// The peer, `ip:port` for TCP, `inproc` in-process.
    public var clientAddress: String

    public init(header: RequestHeader, connectionID: UInt64, clientAddress: String) {
        self.header = header
        self.connectionID = connectionID
        self.clientAddress = clientAddress
    }

    public var apiVersion: Int16 { header.apiVersion }
    public var clientId: String? { header.clientId }
}

/// The server side of every transport: something that answers typed Kafka requests (a broker).
///
/// Transports call `handle` for one request at a time per connection, in arrival order, as Kafka's
/// brokers do; so a connection's requests take effect in the order they were sent.
public protocol KafkaRequestHandler: Sendable {
    /// Answers one request. Returns nil when Kafka sends no response (Produce with acks=0).
    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody?
    /// Called when a connection closes, so per-connection state (fetch sessions, waiters) can go.
    func connectionClosed(connectionID: UInt64) async
}

extension KafkaRequestHandler {
    public func connectionClosed(connectionID: UInt64) async {}
}

/// Why a request could not be carried. These are transport failures: the request may or may not
/// have been processed (except `.notConnected`, where it was not sent).
public enum TransportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Nothing listens at the address (in-process: no broker registered there; TCP: refused).
    case notConnected(BrokerAddress, reason: String)
    /// The connection closed before the response arrived.
    case connectionClosed(BrokerAddress)
    /// No response within the request timeout.
    case timedOut(BrokerAddress, afterMs: Int64)
    /// The peer sent bytes that do not decode as the expected response.
    case malformedResponse(BrokerAddress, reason: String)
    /// The response was for another API than the request (a transport or peer bug).
    case unexpectedResponse(BrokerAddress, expected: ApiKey)
    /// The peer does not support any version of the API that this client can send.
    case unsupportedVersion(BrokerAddress, apiKey: ApiKey)
    /// The connection was dropped by an injected network fault.
    case injectedFault(BrokerAddress, String)

    public var description: String {
        switch self {
        case let .notConnected(address, reason): "cannot connect to \(address): \(reason)"
        case let .connectionClosed(address): "connection to \(address) closed"
        case let .timedOut(address, ms): "request to \(address) timed out after \(ms) ms"
        case let .malformedResponse(address, reason): "malformed response from \(address): \(reason)"
        case let .unexpectedResponse(address, expected): "unexpected response from \(address), expected \(expected)"
        case let .unsupportedVersion(address, apiKey): "\(address) supports no version of \(apiKey) this client can send"
        case let .injectedFault(address, what): "\(what) on the connection to \(address)"
        }
    }
}

/// One client connection to one broker. Thread-safe.
///
/// Requests take effect in the order they are *enqueued*: `enqueue` is synchronous, so a producer
/// can pipeline several requests from one task (up to `max.in.flight`) and keep their order, exactly
/// like Kafka's one-request-at-a-time processing per connection.
public protocol KafkaConnection: Sendable {
    /// The broker this connection reaches.
    var address: BrokerAddress { get }
    /// Queues `request`, encoded at `version`, and returns a handle for its response (nil body when
    /// `expectResponse` is false, as for Produce with acks=0).
    func enqueue<Request: KafkaRequest>(_ request: Request, version: Int16, expectResponse: Bool) -> ResponseFuture<KafkaResponseBody?>
    /// Closes the connection; pending requests fail with `TransportError.connectionClosed`.
    func close() async
}

extension KafkaConnection {
    /// Sends `request` encoded at `version` and waits for its response.
    public func send<Request: KafkaRequest>(_ request: Request, version: Int16) async throws -> Request.Response {
        let body = try await enqueue(request, version: version, expectResponse: true).value
        guard let body, let response = Request.Response(body: body) else {
            throw TransportError.unexpectedResponse(address, expected: Request.apiKey)
        }
        return response
    }

    /// Sends a request that gets no response (Produce with acks=0); returns once it is handed over.
    public func sendWithoutResponse<Request: KafkaRequest>(_ request: Request, version: Int16) async throws {
        _ = try await enqueue(request, version: version, expectResponse: false).value
    }
}

/// How clients reach brokers: in-process (typed values handed over) or TCP (Kafka's wire protocol).
public protocol Transport: Sendable {
    /// Opens a connection to the broker at `address`, identifying as `clientId`.
    func connect(to address: BrokerAddress, clientId: String?) async throws -> any KafkaConnection
}
