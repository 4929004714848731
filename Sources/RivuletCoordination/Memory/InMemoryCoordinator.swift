import Synchronization

/// A session on an `InMemoryEnsemble`: the in-memory implementation of `Coordinator`, and the executable
/// specification the ZooKeeper client is tested against.
///
/// Requests run synchronously on the ensemble under its lock, so a watch fires before the write that
/// fired it returns, and a session sees the notification before any later read shows the change.
/// Isolation: thread-safe. Failure: `CoordinatorError`, with the same codes a ZooKeeper server returns.
public final class InMemoryCoordinator: Coordinator, CoordinatorFaultInjecting, CustomStringConvertible {
    /// The ensemble this session lives on.
    public let ensemble: InMemoryEnsemble
    /// The session id the ensemble assigned.
    public let sessionID: Int64
    /// The granted session timeout in milliseconds.
    public let sessionTimeoutMs: Int
    let chroot: Chroot
    private let hub: EventHub

    private struct ClientState {
        var state: SessionState = .connected
        var watches = ClientWatchTable()
        /// Notifications that arrived while paused, delivered on resume.
        var held: [WatchedEvent] = []
        var waiters = SessionWaiters()
    }

    private let client = Mutex(ClientState())

    init(ensemble: InMemoryEnsemble, sessionID: Int64, sessionTimeoutMs: Int, chroot: Chroot, bufferedEventsMax: Int) {
        self.ensemble = ensemble
        self.sessionID = sessionID
        self.sessionTimeoutMs = sessionTimeoutMs
        self.chroot = chroot
        self.hub = EventHub(bufferedEventsMax: bufferedEventsMax)
    }

    public var state: SessionState { client.withLock { $0.state } }

    public func events() -> AsyncThrowingStream<CoordinatorEvent, any Error> {
        client.withLock { hub.subscribe(initial: .state($0.state)) }
    }

    public var description: String {
        "InMemoryCoordinator(session: 0x\(String(UInt64(bitPattern: sessionID), radix: 16)), \(state))"
    }

    // MARK: Requests

    public func createNode(_ path: String, data: [UInt8], mode: CreateMode) async throws -> CreatedNode {
        try CoordinatorPath.validate(path, sequential: mode.isSequential)
        try checkSize(path, data)
        let serverPath = chroot.serverPath(path)
        let created = try await perform(path) { state throws(KeeperCode) in
            let result = try state.tree.create(
                serverPath, data: data, mode: mode, owner: sessionID, zxid: state.zxid + 1, timeMs: ensemble.nowMs())
            state.zxid += 1
            ensemble.trigger(result.changes, in: &state)
            return (result.path, result.stat)
        }
        return CreatedNode(path: chroot.clientPath(created.0) ?? created.0, stat: created.1)
    }

    public func delete(_ path: String, version: Int32?) async throws {
        try CoordinatorPath.validate(path)
        let serverPath = chroot.serverPath(path)
        try await perform(path, version: version) { state throws(KeeperCode) in
            let changes = try state.tree.delete(serverPath, version: version, zxid: state.zxid + 1)
            state.zxid += 1
            ensemble.trigger(changes, in: &state)
        }
    }

    public func exists(_ path: String, watch: Bool) async throws -> ExistsResult {
        try CoordinatorPath.validate(path)
        let serverPath = chroot.serverPath(path)
        return try await perform(path) { state throws(KeeperCode) in
            let stat = state.tree.node(serverPath)?.stat
            var registered: Watch?
            if watch {
                state.dataWatchers[serverPath, default: []].insert(sessionID)
                registered = register(stat == nil ? .exists : .data, path: path)
            }
            return ExistsResult(stat: stat, watch: registered)
        }
    }

    public func getData(_ path: String, watch: Bool) async throws -> NodeData {
        try CoordinatorPath.validate(path)
        let serverPath = chroot.serverPath(path)
        return try await perform(path) { state throws(KeeperCode) in
            guard let node = state.tree.node(serverPath) else { throw .noNode }
            var registered: Watch?
            if watch {
                state.dataWatchers[serverPath, default: []].insert(sessionID)
                registered = register(.data, path: path)
            }
            return NodeData(data: node.data, stat: node.stat, watch: registered)
        }
    }

    public func setData(_ path: String, data: [UInt8], version: Int32?) async throws -> NodeStat {
        try CoordinatorPath.validate(path)
        try checkSize(path, data)
        let serverPath = chroot.serverPath(path)
        return try await perform(path, version: version) { state throws(KeeperCode) in
            let result = try state.tree.setData(
                serverPath, data: data, version: version, zxid: state.zxid + 1, timeMs: ensemble.nowMs())
            state.zxid += 1
            ensemble.trigger(result.changes, in: &state)
            return result.stat
        }
    }

    public func getChildren(_ path: String, watch: Bool) async throws -> NodeChildren {
        try CoordinatorPath.validate(path)
        let serverPath = chroot.serverPath(path)
        return try await perform(path) { state throws(KeeperCode) in
            guard let node = state.tree.node(serverPath) else { throw .noNode }
            var registered: Watch?
            if watch {
                state.childWatchers[serverPath, default: []].insert(sessionID)
                registered = register(.children, path: path)
            }
            return NodeChildren(children: node.children.sorted(), stat: node.stat, watch: registered)
        }
    }

    public func close() async {
        ensemble.closeSession(sessionID)
    }

    // MARK: Fault hooks

    public func injectSessionExpiry() async throws {
        ensemble.expireSession(sessionID)
    }

    public func injectPause() async {
        ensemble.pauseSession(sessionID)
    }

    public func injectResume() async {
        ensemble.resumeSession(sessionID)
    }

    // MARK: Internals

    private func checkSize(_ path: String, _ data: [UInt8]) throws(CoordinatorError) {
        if data.count > nodeDataBytesMax {
            throw .dataTooLarge(path: path, bytes: data.count, limitBytes: nodeDataBytesMax)
        }
    }

    /// Runs one request on the ensemble, waiting while the session is paused, and maps ZooKeeper codes to
    /// `CoordinatorError` with the caller's path.
    private func perform<Value: Sendable>(
        _ path: String, version: Int32? = nil, _ body: (inout InMemoryEnsemble.State) throws(KeeperCode) -> Value
    ) async throws -> Value {
        while true {
            try await waitUntilUsable()
            do {
                switch try ensemble.execute(self, body) {
                case .done(let value): return value
                case .paused: continue
                }
            } catch let code as KeeperCode {
                throw CoordinatorError(zooKeeperCode: code.rawValue, path: path, expectedVersion: version ?? -1)
            }
        }
    }

    /// Returns once the session is connected; throws its end if it is over.
    private func waitUntilUsable() async throws {
        let id = client.withLock { $0.waiters.makeID() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                client.withLock { client in
                    switch client.state {
                    case .connected: continuation.resume()
                    case .expired: continuation.resume(throwing: CoordinatorError.sessionExpired(sessionID: sessionID))
                    case .closed: continuation.resume(throwing: CoordinatorError.sessionClosed(sessionID: sessionID))
                    case .suspended:
                        if Task.isCancelled {
                            continuation.resume(throwing: CancellationError())
                        } else {
                            client.waiters.add(id, continuation)
                        }
                    }
                }
            }
        } onCancel: {
            client.withLock { $0.waiters.remove(id) }?.resume(throwing: CancellationError())
        }
    }

    /// The error requests get once the session is over.
    func endError() -> CoordinatorError {
        client.withLock { $0.state } == .closed
            ? .sessionClosed(sessionID: sessionID) : .sessionExpired(sessionID: sessionID)
    }

    /// Registers a watch in the client table (called under the ensemble lock, so no notification can
    /// slip between the read and the registration).
    private func register(_ kind: WatchKind, path: String) -> Watch {
        client.withLock { $0.watches.add(kind, path: path) }
    }

    /// One notification from the ensemble (under its lock): fire the matching watches now, or hold it
    /// while paused.
    func deliver(_ type: WatchEventType, serverPath: String) {
        guard let path = chroot.clientPath(serverPath) else { return }
        let event = WatchedEvent(type: type, path: path)
        client.withLock { client in
            switch client.state {
            case .connected:
                for watch in client.watches.materialize(event) { watch.fire(event.type) }
                hub.yield(.watch(event))
            case .suspended:
                client.held.append(event)
            case .expired, .closed:
                break
            }
        }
    }

    /// Pauses or resumes the session's view of the ensemble (under the ensemble lock).
    func setPaused(_ paused: Bool) {
        client.withLock { client in
            guard !client.state.isTerminal else { return }
            if paused {
                guard client.state == .connected else { return }
                client.state = .suspended
                hub.yield(.state(.suspended))
            } else {
                guard client.state == .suspended else { return }
                client.state = .connected
                hub.yield(.state(.connected))
                let held = client.held
                client.held.removeAll()
                for event in held {
                    for watch in client.watches.materialize(event) { watch.fire(event.type) }
                    hub.yield(.watch(event))
                }
                client.waiters.resumeAll()
            }
        }
    }

    /// The ensemble ended the session (under its lock): fail its watches and waiters, announce the end.
    func end(_ reason: SessionState) {
        let error: CoordinatorError = reason == .closed
            ? .sessionClosed(sessionID: sessionID) : .sessionExpired(sessionID: sessionID)
        client.withLock { client in
            guard !client.state.isTerminal else { return }
            client.state = reason
            client.held.removeAll()
            for watch in client.watches.removeAll() { watch.fail(error) }
            client.waiters.resumeAll(throwing: error)
            hub.finish(with: .state(reason))
        }
    }
}
