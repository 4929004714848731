import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization

/// The way to one group's coordinator: FindCoordinator (key type 0), then a connection of its own to
/// the broker that answered. A group consumer sends JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
/// OffsetCommit and OffsetFetch on it. The connection is not shared with the cluster client, because
/// a JoinGroup is held at the coordinator until the rebalance completes and requests on one
/// connection are answered in order: sharing it would stall every other request of the client (and
/// deadlock two members of one group sharing a cluster client).
///
/// After NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a transport error the caller calls
/// `coordinatorUnknown()`; the next request looks the coordinator up again (it may have moved).
/// Thread-safe.
final class GroupCoordinatorChannel: Sendable {
    private struct State {
        var connection: NegotiatedConnection?
        var nodeId: Int32 = -1
        var closed = false
    }

    let cluster: ClusterClient
    let groupId: String
    private let state = Mutex(State())

    init(cluster: ClusterClient, groupId: String) {
        self.cluster = cluster
        self.groupId = groupId
    }

    /// The coordinator's node id, or -1 while unknown.
    var coordinatorNodeId: Int32 { state.withLock { $0.nodeId } }

    /// Looks up the coordinator of `groupId` once (any broker answers FindCoordinator).
    ///
    /// - Throws: `.broker` with the answer's error (COORDINATOR_NOT_AVAILABLE is retriable), or a
    ///   transport error.
    static func findCoordinator(cluster: ClusterClient, groupId: String) async throws(ClientError) -> (Int32, BrokerAddress) {
        let response = try await cluster.sendToAnyBroker(FindCoordinatorRequest(key: groupId, keyType: 0, coordinatorKeys: [groupId]))
        var errorCode = response.errorCode
        var message = response.errorMessage
        var nodeId = response.nodeId
        var host = response.host
        var port = response.port
        if let entry = response.coordinators.first(where: { $0.key == groupId }) ?? response.coordinators.first {
            (errorCode, message, nodeId, host, port) = (entry.errorCode, entry.errorMessage, entry.nodeId, entry.host, entry.port)
        }
        guard errorCode == 0 else {
            throw .broker(errorCode: errorCode, topic: nil, partition: nil, message: "FindCoordinator for group \(groupId)" + (message.map { ": \($0)" } ?? ""))
        }
        guard nodeId >= 0, !host.isEmpty, (1 ... 65535).contains(port) else {
            throw .broker(errorCode: KafkaErrorCode.coordinatorNotAvailable.rawValue, topic: nil, partition: nil,
                          message: "FindCoordinator answered no usable coordinator (node \(nodeId) at \(host):\(port))")
        }
        return (nodeId, BrokerAddress(host: host, port: Int(port)))
    }

    /// The connection to the coordinator, found and opened when needed.
    func connection() async throws(ClientError) -> NegotiatedConnection {
        let current = try state.withLock { (state: inout State) throws(ClientError) -> NegotiatedConnection? in
            if state.closed { throw .closed }
            return state.connection
        }
        if let current { return current }
        let (nodeId, address) = try await Self.findCoordinator(cluster: cluster, groupId: groupId)
        let opened: NegotiatedConnection
        do {
            opened = try await NegotiatedConnection.connect(using: cluster.transport, to: address, clientId: cluster.config.clientId,
                                                            maxVersions: cluster.config.maxVersions)
        } catch {
            throw ClientError.wrap(error, address: address)
        }
        let (kept, replaced) = state.withLock { state -> (NegotiatedConnection?, NegotiatedConnection?) in
            guard !state.closed else { return (nil, nil) }
            if let existing = state.connection { return (existing, opened) }
            state.connection = opened
            state.nodeId = nodeId
            return (opened, nil)
        }
        if let replaced { await replaced.close() }
        guard let kept else {
            await opened.close()
            throw .closed
        }
        return kept
    }

    /// Forgets the coordinator (after NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a transport
    /// error): the connection is closed, failing requests still in flight on it, and the next
    /// request looks the coordinator up again.
    func coordinatorUnknown() {
        let dropped = state.withLock { state -> NegotiatedConnection? in
            defer {
                state.connection = nil
                state.nodeId = -1
            }
            return state.connection
        }
        if let dropped { Task { await dropped.close() } }
    }

    /// Sends `request` to the coordinator and waits at most `timeoutMs` (default
    /// `request.timeout.ms`). A transport failure or timeout forgets the coordinator.
    func send<Request: KafkaRequest>(_ request: Request, timeoutMs: Int64? = nil) async throws(ClientError) -> Request.Response {
        let connection = try await connection()
        let future: ResponseFuture<KafkaResponseBody?>
        do { future = try connection.enqueue(request).response } catch {
            coordinatorUnknown()
            throw .transport(error)
        }
        let body: KafkaResponseBody?
        do {
            body = try await cluster.awaitResponse(future, on: connection, timeoutMs: timeoutMs)
        } catch {
            state.withLock { state in
                if state.connection === connection {
                    state.connection = nil
                    state.nodeId = -1
                }
            }
            throw error
        }
        guard let body, let response = Request.Response(body: body) else {
            throw .transport(.unexpectedResponse(connection.address, expected: Request.apiKey))
        }
        return response
    }

    /// Whether `code` means the coordinator moved or is not ready: look it up again and retry.
    static func isCoordinatorError(_ code: Int16) -> Bool {
        code == KafkaErrorCode.notCoordinator.rawValue || code == KafkaErrorCode.coordinatorNotAvailable.rawValue
    }

    /// Closes the connection; later requests fail with `.closed` unless `reopen()` is called.
    func close() async {
        let dropped = state.withLock { state -> NegotiatedConnection? in
            state.closed = true
            defer { state.connection = nil }
            return state.connection
        }
        await dropped?.close()
    }

    /// Fails requests in flight (closes the connection) but allows new ones (a reconnect).
    func abortInFlight() async {
        let dropped = state.withLock { state -> NegotiatedConnection? in
            defer { state.connection = nil }
            return state.connection
        }
        await dropped?.close()
    }
}
