import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization

/// The client's view of a cluster: bootstrap, metadata cache, one negotiated connection per
/// broker, reconnect backoff and request timeouts. Producers, consumers and admin clients share it
/// (or own one each).
///
/// Metadata is refreshed when asked (after NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
/// LEADER_NOT_AVAILABLE or a connection error), and when it is older than `metadata.max.age.ms`
/// at the time it is used. Connections are opened lazily; a broker whose connection failed is not
/// dialled again before `reconnect.backoff.ms` (doubling per failure up to
/// `reconnect.backoff.max.ms`, with Kafka's 20% jitter).
///
/// Thread-safe (`Mutex`-protected state); works over any `Transport`.
public final class ClusterClient: Sendable {
    private enum Slot {
        case connecting(ResponseFuture<NegotiatedConnection>)
        case connected(NegotiatedConnection)
        case failed(attempts: Int, retryAtNanoseconds: UInt64)
    }

    private struct State {
        var metadata = ClusterMetadata()
        /// Topics a producer or consumer uses: every refresh asks for all of them.
        var trackedTopics: Set<String> = []
        /// The background refresh in flight, if any.
        var backgroundRefresh = false
        var slots: [BrokerAddress: Slot] = [:]
        var random: SeededGenerator
        var closed = false
    }

    /// The configuration this client was made with.
    public let config: ClientConfig
    /// How requests reach brokers.
    public let transport: any Transport
    private let state: Mutex<State>

    /// Creates a client; nothing is dialled until first use.
    public init(config: ClientConfig, transport: any Transport) {
        self.config = config
        self.transport = transport
        state = Mutex(State(random: SeededGenerator(seed: config.randomSeed ^ 0xC1A5_7E12)))
    }

    /// The clock of `config`.
    public var clock: any EngineClock { config.clock }

    /// The current metadata snapshot (possibly empty before the first refresh).
    public var metadata: ClusterMetadata { state.withLock { $0.metadata } }

    /// Whether `close()` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }

    // MARK: Metadata

    /// Fetches metadata for `topics` (nil: every topic) plus the tracked topics, and merges it.
    ///
    /// - Parameter allowAutoCreate: overrides `allow.auto.create.topics` for this request.
    /// - Throws: `ClientError` when no broker could answer (each reachable one is tried once).
    @discardableResult
    public func refreshMetadata(topics: [String]?, allowAutoCreate: Bool? = nil) async throws(ClientError) -> ClusterMetadata {
        let autoCreate = allowAutoCreate ?? config.allowAutoCreateTopics
        // Tracked topics ride along only on requests that create nothing, so that a refresh never
        // recreates a topic somebody deleted.
        let requested: [String]? = topics.map { explicit in
            if autoCreate { return Array(Set(explicit)).sorted() }
            let tracked = state.withLock { $0.trackedTopics }
            return Array(Set(explicit).union(tracked)).sorted()
        }
        let request = MetadataRequest(
            topics: requested.map { $0.map { MetadataRequest.MetadataRequestTopic(name: $0) } },
            allowAutoTopicCreation: autoCreate)
        let response = try await sendToAnyBroker(request)
        let now = clock.monotonicNanoseconds()
        return state.withLock { state in
            var metadata = state.metadata
            metadata.clusterId = response.clusterId
            metadata.controllerId = response.controllerId
            let brokers = ClusterMetadata.brokers(from: response)
            if !brokers.isEmpty { metadata.brokers = brokers }
            let topics = ClusterMetadata.topics(from: response)
            if requested == nil { metadata.topics = [:] }
            for topic in topics { metadata.topics[topic.name] = topic }
            metadata.fetchedAtNanoseconds = now
            state.metadata = metadata
            return metadata
        }
    }

    /// Starts a metadata refresh in the background unless one is running (after an error that
    /// means the cached leaders are stale). Returns at once.
    public func requestMetadataRefresh() {
        let start = state.withLock { state -> Bool in
            guard !state.backgroundRefresh, !state.closed else { return false }
            state.backgroundRefresh = true
            return true
        }
        guard start else { return }
        Task {
            _ = try? await self.refreshMetadata(topics: [], allowAutoCreate: false)
            self.state.withLock { $0.backgroundRefresh = false }
        }
    }

    /// Adds topics to those every refresh asks about (producers and consumers call this).
    public func track(topics: some Sequence<String>) {
        state.withLock { $0.trackedTopics.formUnion(topics) }
    }

    /// The metadata of `topic`, refreshed when missing, stale, or without a leader for some
    /// partition; waits (retrying with `retry.backoff.ms`) while the topic is unknown or electing.
    ///
    /// - Parameters:
    ///   - timeoutMs: the bound on waiting (`max.block.ms` for producers, `default.api.timeout.ms`
    ///     otherwise).
    ///   - requireLeaders: also wait until every partition has a leader.
    /// - Throws: `ClientError.unknownTopic` or the topic's error after the timeout; non-retriable
    ///   topic errors (INVALID_TOPIC_EXCEPTION...) at once.
    public func topicMetadata(_ topic: String, timeoutMs: Int64, requireLeaders: Bool = false,
                              allowAutoCreate: Bool? = nil) async throws(ClientError) -> TopicMetadata {
        track(topics: [topic])
        let deadline = deadlineNanoseconds(afterMs: timeoutMs)
        var attempt = 0
        var lastError = ClientError.unknownTopic(topic)
        while true {
            let snapshot = metadata
            let fresh = snapshot.fetchedAtNanoseconds > 0
                && elapsed(clock.monotonicNanoseconds(), since: snapshot.fetchedAtNanoseconds) < UInt64(max(config.metadataMaxAgeMs, 0)) * 1_000_000
            if fresh, let cached = snapshot.topics[topic], Self.usable(cached, requireLeaders: requireLeaders) {
                return cached
            }
            do throws(ClientError) {
                let refreshed = try await refreshMetadata(topics: [topic], allowAutoCreate: allowAutoCreate)
                if let found = refreshed.topics[topic] {
                    if Self.usable(found, requireLeaders: requireLeaders) { return found }
                    if found.errorCode != 0 {
                        let error = ClientError.broker(errorCode: found.errorCode, topic: topic, partition: nil, message: nil)
                        if !error.isRetriable { throw error }
                        lastError = found.errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue ? .unknownTopic(topic) : error
                    } else {
                        lastError = .broker(errorCode: KafkaErrorCode.leaderNotAvailable.rawValue, topic: topic, partition: nil, message: nil)
                    }
                }
            } catch {
                if !error.isRetriable { throw error }
                lastError = error
            }
            attempt += 1
            let now = clock.monotonicNanoseconds()
            guard now < deadline else {
                if case .unknownTopic = lastError {
                    throw .timedOut(operation: "waiting for metadata of topic \(topic) (not present)", config: "max.block.ms",
                                    afterMs: timeoutMs)
                }
                throw lastError
            }
            let backoff = retryBackoffNanoseconds(attempt: attempt)
            do { try await clock.sleep(nanoseconds: min(backoff, deadline - now)) } catch { throw .closed }
        }
    }

    private static func usable(_ topic: TopicMetadata, requireLeaders: Bool) -> Bool {
        guard topic.errorCode == 0, !topic.partitions.isEmpty else { return false }
        return !requireLeaders || topic.partitions.allSatisfy { $0.leaderId >= 0 }
    }

    // MARK: Connections

    /// The connection to broker `nodeId` (opened and negotiated if needed).
    ///
    /// - Throws: `ClientError.connectionFailed` when the node is not in the metadata, or the
    ///   transport's error when it cannot be reached.
    public func connection(toNode nodeId: Int32) async throws(ClientError) -> NegotiatedConnection {
        if let node = metadata.brokers[nodeId] { return try await connection(to: node.address) }
        _ = try? await refreshMetadata(topics: [], allowAutoCreate: false)
        guard let node = metadata.brokers[nodeId] else {
            throw .connectionFailed(BrokerAddress(host: "node-\(nodeId)", port: 1), reason: "broker \(nodeId) is not in the metadata")
        }
        return try await connection(to: node.address)
    }

    /// The connection to `address`, reusing an open one. A failed address is retried only after its
    /// backoff (this call waits for it).
    public func connection(to address: BrokerAddress) async throws(ClientError) -> NegotiatedConnection {
        enum Step { case ready(NegotiatedConnection), wait(ResponseFuture<NegotiatedConnection>), dial(ResponseFuture<NegotiatedConnection>, Int), sleep(UInt64), closed }
        while true {
            let now = clock.monotonicNanoseconds()
            let step = state.withLock { state -> Step in
                if state.closed { return .closed }
                switch state.slots[address] {
                case let .connected(connection)?: return .ready(connection)
                case let .connecting(future)?: return .wait(future)
                case let .failed(attempts, retryAt)? where retryAt > now: _ = attempts; return .sleep(retryAt - now)
                case let .failed(attempts, _)?:
                    let future = ResponseFuture<NegotiatedConnection>()
                    state.slots[address] = .connecting(future)
                    return .dial(future, attempts)
                case nil:
                    let future = ResponseFuture<NegotiatedConnection>()
                    state.slots[address] = .connecting(future)
                    return .dial(future, 0)
                }
            }
            switch step {
            case .closed:
                throw .closed
            case let .ready(connection):
                return connection
            case let .wait(future):
                do { return try await future.value } catch { throw ClientError.wrap(error, address: address) }
            case let .sleep(nanoseconds):
                do { try await clock.sleep(nanoseconds: nanoseconds) } catch { throw .closed }
            case let .dial(future, attempts):
                do {
                    let connection = try await NegotiatedConnection.connect(using: transport, to: address, clientId: config.clientId,
                                                                            maxVersions: config.maxVersions)
                    let kept = state.withLock { state -> Bool in
                        guard !state.closed else { return false }
                        state.slots[address] = .connected(connection)
                        return true
                    }
                    guard kept else {
                        await connection.close()
                        future.fail(ClientError.closed)
                        throw ClientError.closed
                    }
                    future.succeed(connection)
                    return connection
                } catch {
                    let wrapped = ClientError.wrap(error, address: address)
                    let retryAt = clock.monotonicNanoseconds() &+ reconnectBackoffNanoseconds(attempts: attempts + 1)
                    state.withLock { state in
                        if !state.closed { state.slots[address] = .failed(attempts: attempts + 1, retryAtNanoseconds: retryAt) }
                    }
                    future.fail(wrapped)
                    throw wrapped
                }
            }
        }
    }

    /// A new connection to broker `nodeId` that only the caller uses (and closes). A consumer
    /// fetches on its own connections: a long-polling fetch holds its connection at the broker
    /// (requests on one connection are answered in order), so sharing it would stall the producer
    /// or admin requests of the same cluster client.
    public func dedicatedConnection(toNode nodeId: Int32) async throws(ClientError) -> NegotiatedConnection {
        if isClosed { throw .closed }
        var node = metadata.brokers[nodeId]
        if node == nil {
            _ = try? await refreshMetadata(topics: [], allowAutoCreate: false)
            node = metadata.brokers[nodeId]
        }
        guard let address = node?.address else {
            throw .connectionFailed(BrokerAddress(host: "node-\(nodeId)", port: 1), reason: "broker \(nodeId) is not in the metadata")
        }
        do {
            return try await NegotiatedConnection.connect(using: transport, to: address, clientId: config.clientId,
                                                          maxVersions: config.maxVersions)
        } catch {
            throw ClientError.wrap(error, address: address)
        }
    }

    /// Reports that `connection` failed (transport error or request timeout): it is closed, its
    /// address enters reconnect backoff, and metadata is refreshed in the background.
    public func connectionFailed(_ connection: NegotiatedConnection) {
        let address = connection.address
        let retryAt = clock.monotonicNanoseconds() &+ reconnectBackoffNanoseconds(attempts: 1)
        let wasCurrent = state.withLock { state -> Bool in
            guard case let .connected(current)? = state.slots[address], current === connection else { return false }
            state.slots[address] = .failed(attempts: 1, retryAtNanoseconds: retryAt)
            return true
        }
        Task { await connection.close() }
        if wasCurrent { requestMetadataRefresh() }
    }

    /// The candidates for a request any broker can answer: connected brokers first, then the other
    /// known brokers, then the bootstrap servers.
    private func candidateAddresses() -> [BrokerAddress] {
        state.withLock { state in
            var connected: [BrokerAddress] = []
            var others: [BrokerAddress] = []
            let known = state.metadata.brokers.values.sorted { $0.nodeId < $1.nodeId }.map(\.address)
            for address in known + config.bootstrapServers where !connected.contains(address) && !others.contains(address) {
                if case .connected? = state.slots[address] { connected.append(address) } else { others.append(address) }
            }
            // Start the unconnected ones at a random place so that clients spread over brokers.
            if others.count > 1 {
                let shift = Int(state.random.next() % UInt64(others.count))
                others = Array(others[shift...] + others[..<shift])
            }
            return connected + others
        }
    }

    /// Sends `request` to some broker (Metadata, DescribeCluster...), trying each candidate once.
    public func sendToAnyBroker<Request: KafkaRequest>(_ request: Request) async throws(ClientError) -> Request.Response {
        var lastError = ClientError.connectionFailed(config.bootstrapServers.first ?? BrokerAddress(host: "none", port: 1),
                                                     reason: "no bootstrap servers")
        for address in candidateAddresses() {
            do throws(ClientError) {
                let connection = try await self.connection(to: address)
                return try await send(request, on: connection)
            } catch {
                if case .closed = error { throw error }
                lastError = error
            }
        }
        throw lastError
    }

    /// Sends `request` to broker `nodeId` and waits (bounded by `request.timeout.ms`).
    public func send<Request: KafkaRequest>(_ request: Request, toNode nodeId: Int32) async throws(ClientError) -> Request.Response {
        let connection = try await connection(toNode: nodeId)
        return try await send(request, on: connection)
    }

    /// Sends `request` on `connection` and waits at most `request.timeout.ms`. A transport error
    /// or timeout marks the connection failed (see `connectionFailed`).
    public func send<Request: KafkaRequest>(_ request: Request, on connection: NegotiatedConnection) async throws(ClientError) -> Request.Response {
        let future: ResponseFuture<KafkaResponseBody?>
        do { future = try connection.enqueue(request).response } catch { throw .transport(error) }
        let body = try await awaitResponse(future, on: connection)
        guard let body, let response = Request.Response(body: body) else {
            throw .transport(.unexpectedResponse(connection.address, expected: Request.apiKey))
        }
        return response
    }

    /// Waits for an enqueued request's response at most `request.timeout.ms` (the future is failed
    /// with `TransportError.timedOut` then). Transport failures mark the connection failed.
    public func awaitResponse(_ future: ResponseFuture<KafkaResponseBody?>, on connection: NegotiatedConnection,
                              timeoutMs: Int64? = nil) async throws(ClientError) -> KafkaResponseBody? {
        if let result = future.result {
            do { return try result.get() } catch {
                connectionFailed(connection)
                throw ClientError.wrap(error, address: connection.address)
            }
        }
        let timeout = timeoutMs ?? config.requestTimeoutMs
        let clock = self.clock
        let address = connection.address
        let timer = Task {
            do { try await clock.sleep(nanoseconds: UInt64(max(timeout, 0)) * 1_000_000) } catch { return }
            future.fail(TransportError.timedOut(address, afterMs: timeout))
        }
        defer { timer.cancel() }
        do {
            return try await future.value
        } catch {
            connectionFailed(connection)
            throw ClientError.wrap(error, address: address)
        }
    }

    // MARK: Backoff and deadlines

    /// `reconnect.backoff.ms * 2^(attempts-1)`, capped by `reconnect.backoff.max.ms`, ±20% jitter.
    func reconnectBackoffNanoseconds(attempts: Int) -> UInt64 {
        jittered(base: config.reconnectBackoffMs, max: config.reconnectBackoffMaxMs, attempts: attempts)
    }

    /// `retry.backoff.ms * 2^(attempts-1)`, capped by `retry.backoff.max.ms`, ±20% jitter.
    public func retryBackoffNanoseconds(attempt: Int) -> UInt64 {
        jittered(base: config.retryBackoffMs, max: config.retryBackoffMaxMs, attempts: attempt)
    }

    private func jittered(base: Int64, max maximum: Int64, attempts: Int) -> UInt64 {
        guard base > 0 else { return 0 }
        let exponent = min(max(attempts - 1, 0), 20)
        let milliseconds = Double(min(base << exponent, max(maximum, base)))
        let unit = state.withLock { Double($0.random.next() >> 11) / Double(1 << 53) }
        return UInt64(milliseconds * (0.8 + 0.4 * unit) * 1_000_000)
    }

    /// The monotonic deadline `milliseconds` from now (saturating).
    public func deadlineNanoseconds(afterMs milliseconds: Int64) -> UInt64 {
        let now = clock.monotonicNanoseconds()
        let (sum, overflow) = now.addingReportingOverflow(UInt64(max(milliseconds, 0)).multipliedReportingOverflow(by: 1_000_000).partialValue)
        return overflow ? UInt64.max : sum
    }

    // MARK: Closing

    /// Closes every connection; later calls fail with `ClientError.closed`.
    public func close() async {
        let slots = state.withLock { state -> [Slot] in
            state.closed = true
            let slots = Array(state.slots.values)
            state.slots.removeAll()
            return slots
        }
        for slot in slots {
            switch slot {
            case let .connected(connection): await connection.close()
            case let .connecting(future): if case let .success(connection)? = future.result { await connection.close() }
            case .failed: break
            }
        }
    }
}
