/// Where a `TCPServer` runs the request handler.
public enum RequestExecution: Sendable, Hashable {
    /// Requests of at most `requestBytesMax` bytes run on the event loop of their connection (a
    /// task with that loop as its executor preference): no thread switch between reading a request,
    /// handling it and writing the answer, which saves most of the CPU of a small request. Larger
    /// requests (big produce batches, whose checks and copies take long) run on Swift's global
    /// concurrent executor, so they do not hold up the other connections of the loop. Awaiting
    /// (long polls, acks=all) never holds up a loop.
    case eventLoop(requestBytesMax: Int)
    /// Every request on Swift's global concurrent executor, apart from the socket threads (Kafka's
    /// split of network threads and request handler threads): two thread switches per request.
    case concurrencyPool

    /// Small requests on the loop, requests above 64 KiB on the global executor.
    public static let `default` = RequestExecution.eventLoop(requestBytesMax: 65_536)
}

/// Settings of a `TCPServer`, named after Kafka's broker configs.
public struct TCPServerConfig: Sendable, Hashable {
    /// The address to listen on (`listeners` in Kafka). Port 0 picks a free port; read the bound
    /// one from `TCPServer.localAddress`.
    public var listenAddress: BrokerAddress
    /// `socket.request.max.bytes`: the largest request frame accepted, in bytes (default 100 MiB).
    /// A larger size prefix closes the connection with a log line; nothing of that size is allocated.
    public var socketRequestMaxBytes: Int
    /// `max.connections`: open connections beyond this are closed as soon as they are accepted.
    public var connectionsMax: Int
    /// `connections.max.idle.ms`: a connection with no traffic and no request in progress for this
    /// long is closed (default 600000, Kafka's default). 0 disables the check.
    public var connectionsMaxIdleMs: Int64
    /// How many received requests one connection may have waiting behind the one in progress
    /// before the server stops reading from its socket (backpressure; Kafka reads one at a time).
    public var queuedRequestsMax: Int
    /// How long `TCPServer.close()` waits for in-progress requests to finish before it closes the
    /// remaining connections hard, in milliseconds.
    public var shutdownTimeoutMs: Int64
    /// Where request handling runs (default: small requests on the event loop, see `RequestExecution`).
    public var requestExecution: RequestExecution

    public init(
        listenAddress: BrokerAddress = BrokerAddress(host: "127.0.0.1", port: 9092),
        socketRequestMaxBytes: Int = 104_857_600,
        connectionsMax: Int = Int(Int32.max),
        connectionsMaxIdleMs: Int64 = 600_000,
        queuedRequestsMax: Int = 32,
        shutdownTimeoutMs: Int64 = 10_000,
        requestExecution: RequestExecution = .default
    ) {
        self.listenAddress = listenAddress
        self.socketRequestMaxBytes = socketRequestMaxBytes
        self.connectionsMax = connectionsMax
        self.connectionsMaxIdleMs = connectionsMaxIdleMs
        self.queuedRequestsMax = queuedRequestsMax
        self.shutdownTimeoutMs = shutdownTimeoutMs
        self.requestExecution = requestExecution
    }
}

/// Why a `TCPServer` could not start.
public enum TCPServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Binding the listen address failed (in use, not local, no permission); pick another address.
    case bindFailed(BrokerAddress, reason: String)
    /// A setting is out of range; the message names it.
    case invalidConfig(String)

    public var description: String {
        switch self {
        case let .bindFailed(address, reason): "cannot listen on \(address): \(reason)"
        case let .invalidConfig(what): "invalid TCP server config: \(what)"
        }
    }
}
