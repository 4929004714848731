import RivuletWire
import Synchronization

/// The version ranges one broker advertised in its ApiVersions answer, by API.
///
/// Values are immutable and `Sendable`; lookups are an array index (no hashing), because the
/// producer's sender asks for the Produce version on every request.
public struct BrokerApiVersions: Sendable, Hashable, CustomStringConvertible {
    /// `ranges[apiKey]` for keys 0..<`keyLimit`; nil when the broker does not advertise the API.
    private var ranges: [ClosedRange<Int16>?]
    /// The keys above the array (none today; kept so a newer broker's table is not lost).
    private var otherRanges: [Int16: ClosedRange<Int16>]

    private static let keyLimit = 128

    /// Builds the table from an ApiVersions answer. Entries with `minVersion > maxVersion` or a
    /// negative key are ignored (a broker bug must not trap the client).
    public init(_ apiKeys: [ApiVersionsResponse.ApiVersion]) {
        var ranges = [ClosedRange<Int16>?](repeating: nil, count: Self.keyLimit)
        var otherRanges: [Int16: ClosedRange<Int16>] = [:]
        for entry in apiKeys where entry.apiKey >= 0 && entry.minVersion >= 0 && entry.minVersion <= entry.maxVersion {
            let range = entry.minVersion ... entry.maxVersion
            if Int(entry.apiKey) < Self.keyLimit { ranges[Int(entry.apiKey)] = range } else { otherRanges[entry.apiKey] = range }
        }
        self.ranges = ranges
        self.otherRanges = otherRanges
    }

    /// The broker's range for `api`, or nil when it does not support the API at all.
    @inlinable
    public func range(for api: ApiKey) -> ClosedRange<Int16>? { range(forKey: api.rawValue) }

    /// The broker's range for a raw API key, or nil.
    public func range(forKey key: Int16) -> ClosedRange<Int16>? {
        if key >= 0, Int(key) < Self.keyLimit { return ranges[Int(key)] }
        return otherRanges[key]
    }

    /// The version to use when this client can send `clientRange`: `min(client max, broker max)`,
    /// or nil when the ranges do not overlap (or the broker lacks the API).
    public func version(for api: ApiKey, clientRange: ClosedRange<Int16>) -> Int16? {
        guard let broker = range(for: api) else { return nil }
        let chosen = min(clientRange.upperBound, broker.upperBound)
        guard chosen >= max(clientRange.lowerBound, broker.lowerBound) else { return nil }
        return chosen
    }

    /// The APIs the broker advertised, as Kafka's names with ranges (for logs and tools).
    public var description: String {
        var parts: [String] = []
        for (key, range) in ranges.enumerated() {
            guard let range else { continue }
            let name = ApiKey(rawValue: Int16(key))?.name ?? "Unknown(\(key))"
            parts.append("\(name)(\(key)): \(range.lowerBound) to \(range.upperBound)")
        }
        for (key, range) in otherRanges.sorted(by: { $0.key < $1.key }) {
            parts.append("Unknown(\(key)): \(range.lowerBound) to \(range.upperBound)")
        }
        return parts.joined(separator: ", ")
    }
}

/// Why version negotiation failed, other than a transport failure.
public enum NegotiationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The broker answered ApiVersions with an error other than UNSUPPORTED_VERSION, or kept
    /// answering UNSUPPORTED_VERSION to the version it had itself advertised. The connection is
    /// unusable; reconnect (or use another broker).
    case apiVersionsRejected(BrokerAddress, errorCode: Int16, version: Int16)

    public var description: String {
        switch self {
        case let .apiVersionsRejected(address, errorCode, version):
            let name = KafkaErrorCode(rawValue: errorCode)?.name ?? "error \(errorCode)"
            return "\(address) rejected ApiVersions v\(version) with \(name)"
        }
    }
}

/// A `KafkaConnection` that knows which version of each API to speak to its broker.
///
/// On first use it sends ApiVersions (v3, Kafka's KIP-511 request that carries the client's
/// software name). A broker that does not know v3 answers UNSUPPORTED_VERSION with its own table
/// (written as v0); as Kafka's clients do, the request is then retried once at
/// `min(3, the broker's ApiVersions max)`, or v0 when the broker's table lacks ApiVersions. The
/// broker's ranges are cached, and each request goes out at `min(our highest generated version,
/// the broker's max)`, optionally lowered by `maxVersions`; when the ranges do not overlap the
/// request is refused with `TransportError.unsupportedVersion` before anything is sent.
///
/// Thread-safe. Concurrent first uses share one ApiVersions exchange. Used by the client and by
/// brokers talking to brokers; it works the same over every `Transport`.
public final class NegotiatedConnection: Sendable {
    private enum State {
        case idle
        case negotiating(ResponseFuture<BrokerApiVersions>)
        case ready(BrokerApiVersions)
    }

    /// The underlying connection.
    public let connection: any KafkaConnection
    /// Caps below our generated maxima, per API (for example to pin Fetch below topic ids).
    public let maxVersions: [ApiKey: Int16]
    /// Sent in ApiVersions v3+ (`client.software.name`).
    public let clientSoftwareName: String
    /// Sent in ApiVersions v3+ (`client.software.version`).
    public let clientSoftwareVersion: String
    private let state = Mutex(State.idle)

    /// The ApiVersions version tried first (Kafka's clients send their latest; v3 is the first
    /// flexible one and what librdkafka sends).
    public static let initialApiVersionsVersion: Int16 = 3

    /// Wraps `connection`; nothing is sent until `negotiate()` or the first `send`.
    public init(connection: any KafkaConnection, maxVersions: [ApiKey: Int16] = [:],
                clientSoftwareName: String = "rivulet", clientSoftwareVersion: String = "0.1.0") {
        self.connection = connection
        self.maxVersions = maxVersions
        self.clientSoftwareName = clientSoftwareName
        self.clientSoftwareVersion = clientSoftwareVersion
    }

    /// Connects through `transport` and negotiates before returning.
    ///
    /// - Throws: the transport's connect error, `NegotiationError`, or a `TransportError` from the
    ///   ApiVersions exchange (the new connection is closed then).
    public static func connect(using transport: any Transport, to address: BrokerAddress, clientId: String?,
                               maxVersions: [ApiKey: Int16] = [:]) async throws -> NegotiatedConnection {
        let connection = try await transport.connect(to: address, clientId: clientId)
        let negotiated = NegotiatedConnection(connection: connection, maxVersions: maxVersions)
        do {
            _ = try await negotiated.negotiate()
        } catch {
            await connection.close()
            throw error
        }
        return negotiated
    }

    /// The broker this connection reaches.
    public var address: BrokerAddress { connection.address }

    /// The broker's ranges, once negotiated.
    public var apiVersions: BrokerApiVersions? {
        state.withLock { if case let .ready(versions) = $0 { versions } else { nil } }
    }

    /// Runs the ApiVersions exchange if it has not run yet and returns the broker's ranges.
    /// A failed exchange can be retried by calling again (usually on a new connection).
    public func negotiate() async throws -> BrokerApiVersions {
        enum Step { case done(BrokerApiVersions), wait(ResponseFuture<BrokerApiVersions>), run(ResponseFuture<BrokerApiVersions>) }
        let step = state.withLock { state -> Step in
            switch state {
            case let .ready(versions): return .done(versions)
            case let .negotiating(future): return .wait(future)
            case .idle:
                let future = ResponseFuture<BrokerApiVersions>()
                state = .negotiating(future)
                return .run(future)
            }
        }
        switch step {
        case let .done(versions):
            return versions
        case let .wait(future):
            return try await future.value
        case let .run(future):
            do {
                let versions = try await exchange()
                state.withLock { $0 = .ready(versions) }
                future.succeed(versions)
                return versions
            } catch {
                state.withLock { $0 = .idle }
                future.fail(error)
                throw error
            }
        }
    }

    private func exchange() async throws -> BrokerApiVersions {
        let request = ApiVersionsRequest(clientSoftwareName: clientSoftwareName, clientSoftwareVersion: clientSoftwareVersion)
        var version = min(Self.initialApiVersionsVersion, ApiVersionsRequest.validVersions.upperBound)
        if let cap = maxVersions[.apiVersions] { version = max(0, min(version, cap)) }
        var response = try await connection.send(request, version: version)
        if response.errorCode == KafkaErrorCode.unsupportedVersion.rawValue {
            let advertised = BrokerApiVersions(response.apiKeys).range(for: .apiVersions)
            let retryVersion = advertised.map { min(version, $0.upperBound) } ?? 0
            guard retryVersion < version else {
                throw NegotiationError.apiVersionsRejected(address, errorCode: response.errorCode, version: version)
            }
            version = retryVersion
            response = try await connection.send(request, version: version)
        }
        guard response.errorCode == KafkaErrorCode.noError.rawValue else {
            throw NegotiationError.apiVersionsRejected(address, errorCode: response.errorCode, version: version)
        }
        return BrokerApiVersions(response.apiKeys)
    }

    /// This client's range for `api`: the generated `validVersions`, capped by `maxVersions`.
    public func clientRange<Request: KafkaRequest>(for type: Request.Type) -> ClosedRange<Int16> {
        let valid = Request.validVersions
        guard let cap = maxVersions[Request.apiKey] else { return valid }
        return valid.lowerBound ... max(valid.lowerBound, min(valid.upperBound, cap))
    }

    /// The version `Request` goes out at, after negotiation.
    ///
    /// - Throws: `TransportError.unsupportedVersion` when the broker's range and ours do not
    ///   overlap (or the broker lacks the API). Negotiation must have completed (`negotiate()`,
    ///   `connect`, or an earlier `send`); asking before is a programming error.
    public func version<Request: KafkaRequest>(for type: Request.Type) throws(TransportError) -> Int16 {
        guard let versions = apiVersions else {
            preconditionFailure("NegotiatedConnection.version(for:) called before negotiate()")
        }
        guard let version = versions.version(for: Request.apiKey, clientRange: clientRange(for: type)) else {
            throw .unsupportedVersion(address, apiKey: Request.apiKey)
        }
        return version
    }

    /// Queues `request` at the negotiated version without waiting (requests take effect in enqueue
    /// order). Negotiation must have completed.
    ///
    /// - Returns: the response future (nil body when `expectResponse` is false) and the version used.
    /// - Throws: `TransportError.unsupportedVersion`; nothing is sent then.
    public func enqueue<Request: KafkaRequest>(_ request: Request, expectResponse: Bool = true)
        throws(TransportError) -> (response: ResponseFuture<KafkaResponseBody?>, version: Int16) {
        let version = try version(for: Request.self)
        return (connection.enqueue(request, version: version, expectResponse: expectResponse), version)
    }

    /// Negotiates if needed, sends `request` at the negotiated version and waits for its response.
    ///
    /// - Throws: `TransportError` (including `.unsupportedVersion`), `NegotiationError`.
    public func send<Request: KafkaRequest>(_ request: Request) async throws -> Request.Response {
        _ = try await negotiate()
        let version = try version(for: Request.self)
        return try await connection.send(request, version: version)
    }

    /// Like `send`, also returning the version used (responses differ by version).
    public func sendReportingVersion<Request: KafkaRequest>(_ request: Request) async throws -> (Request.Response, Int16) {
        _ = try await negotiate()
        let version = try version(for: Request.self)
        return (try await connection.send(request, version: version), version)
    }

    /// Closes the underlying connection; pending requests fail with `TransportError.connectionClosed`.
    public func close() async {
        await connection.close()
    }
}
