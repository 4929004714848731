import NIOCore
import NIOPosix
import RivuletCore
import Synchronization

/// A ZooKeeper client session on SwiftNIO: the `Coordinator` backed by a real ensemble.
///
/// It speaks ZooKeeper's client protocol (length-prefixed Jute records): a `ConnectRequest` opens or
/// resumes the session, requests are correlated to replies by xid, notifications (xid -1) fire watches,
/// and pings (xid -2) go out when the connection has been idle for a third of the session timeout.
/// When nothing arrives for two thirds of the timeout, or the connection drops, the session becomes
/// `suspended`: in-flight requests fail with `connectionLoss`, and the client reconnects (trying the
/// hosts in turn) with the same session id and password, re-registering its watches (`SetWatches`).
/// The session is `expired` when the server says so (a `ConnectResponse` with no timeout, or a
/// `SESSIONEXPIRED` reply) or when the client has heard nothing for the whole session timeout.
///
/// Isolation: thread-safe; state lives behind one lock, network callbacks arrive on NIO event loops,
/// and a driver task on the injected `EngineClock` sends pings and detects timeouts (use a real clock:
/// the server keeps real time). Call `close()` when done; until then the driver keeps the session alive.
/// Requires ZooKeeper 3.5 or later (`create2`, `getChildren2`).
public final class ZooKeeperCoordinator: Coordinator, CoordinatorFaultInjecting, CustomStringConvertible {
    /// Where and how to connect.
    public struct Configuration: Sendable {
        /// The ensemble's servers, tried in order (round robin on reconnect).
        public var hosts: [CoordinatorHost]
        /// A path every request is relative to (ZooKeeper's chroot), or nil. It must exist on the server.
        public var chroot: String?
        /// The requested session timeout in milliseconds (Kafka's `zookeeper.session.timeout.ms`); the
        /// server clamps it to 2..20 of its tick times.
        public var sessionTimeoutMs: Int
        /// How long `connect` tries before failing, in milliseconds (Kafka's
        /// `zookeeper.connection.timeout.ms`).
        public var connectionTimeoutMs: Int
        /// The largest frame accepted from the server, in bytes.
        public var frameBytesMax: Int
        /// Buffered events per `events()` subscriber before its stream ends with `eventsOverflow`.
        public var bufferedEventsMax: Int
        /// The clock for pings and timeouts; a real clock.
        public var clock: any EngineClock
        /// Where connections run.
        public var eventLoopGroup: any EventLoopGroup

        /// Defaults follow Kafka: an 18 s session, a connection timeout equal to it, 4 MiB frames.
        public init(
            hosts: [CoordinatorHost], chroot: String? = nil, sessionTimeoutMs: Int = 18_000,
            connectionTimeoutMs: Int? = nil, frameBytesMax: Int = 4 * 1024 * 1024, bufferedEventsMax: Int = 10_000,
            clock: any EngineClock = SystemClock(), eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
        ) {
            self.hosts = hosts
            self.chroot = chroot
            self.sessionTimeoutMs = sessionTimeoutMs
            self.connectionTimeoutMs = connectionTimeoutMs ?? sessionTimeoutMs
            self.frameBytesMax = frameBytesMax
            self.bufferedEventsMax = bufferedEventsMax
            self.clock = clock
            self.eventLoopGroup = eventLoopGroup
        }
    }

    private typealias Request = ZooKeeperProtocol.Request
    private typealias Response = ZooKeeperProtocol.Response

    private enum Phase: Equatable {
        /// No session yet (first connect), or the first handshake is running.
        case connecting
        case connected
        /// The connection is gone; the driver reconnects.
        case disconnected
        case expired
        case closed

        var isTerminal: Bool { self == .expired || self == .closed }
    }

    private struct Connection {
        let generation: UInt64
        let channel: any Channel
        let host: CoordinatorHost
    }

    /// What a waiting request gets back: the decoded body (nil for `exists` on a missing node) and the
    /// watch registered with the reply.
    private struct Reply: Sendable {
        var response: Response?
        var watch: Watch?
    }

    private struct Pending {
        let opCode: ZooKeeperProtocol.OpCode
        let clientPath: String
        let watch: Bool
        let expectedVersion: Int32
        let continuation: CheckedContinuation<Reply?, any Error>
    }

    private struct State {
        var phase: Phase = .connecting
        var published: SessionState = .suspended
        var connection: Connection?
        var handshake: (generation: UInt64, continuation: CheckedContinuation<ByteBuffer, any Error>)?
        var nextGeneration: UInt64 = 0
        var sessionID: Int64 = 0
        var password = [UInt8](repeating: 0, count: ZooKeeperProtocol.passwordBytes)
        var negotiatedTimeoutMs: Int
        var lastZxid: Int64 = 0
        var nextXid: Int32 = 1
        var pending: [Int32: Pending] = [:]
        var lastSentNs: UInt64 = 0
        var lastReceivedNs: UInt64 = 0
        var watches = ClientWatchTable()
        var paused = false
        var held: [WatchedEvent] = []
        var waiters = SessionWaiters()
        var hostIndex = 0
        var nextReconnectNs: UInt64 = 0
        var reconnectAttempts = 0
        /// Set while `injectSessionExpiry` kills the session from a second connection.
        var reconnectHeld = false
        var closing = false
        var disconnectReason = ""
        var driver: Task<Void, Never>?

        var visible: SessionState {
            switch phase {
            case .expired: .expired
            case .closed: .closed
            case .connected: paused ? .suspended : .connected
            case .connecting, .disconnected: .suspended
            }
        }
    }

    /// This session's configuration.
    public let configuration: Configuration
    let chroot: Chroot
    private let hub: EventHub
    private let core: Mutex<State>
    private var clock: any EngineClock { configuration.clock }

    private init(configuration: Configuration) {
        self.configuration = configuration
        self.chroot = Chroot(configuration.chroot)
        self.hub = EventHub(bufferedEventsMax: configuration.bufferedEventsMax)
        self.core = Mutex(State(negotiatedTimeoutMs: configuration.sessionTimeoutMs))
    }

    /// Opens a session: connects to the first host that answers (trying each in turn for up to
    /// `connectionTimeoutMs`), and returns once the session is `connected`. Throws
    /// `connectionFailed` naming the hosts and the last failure, or `invalidURL`/`invalidPath` for a
    /// bad configuration.
    public static func connect(_ configuration: Configuration) async throws -> ZooKeeperCoordinator {
        let hostList = configuration.hosts.map(\.description).joined(separator: ",")
        guard !configuration.hosts.isEmpty else {
            throw CoordinatorError.invalidURL(url: "zk://", reason: "no hosts")
        }
        guard configuration.sessionTimeoutMs > 0, configuration.connectionTimeoutMs > 0, configuration.frameBytesMax > 16 else {
            throw CoordinatorError.invalidURL(url: "zk://\(hostList)", reason: "timeouts and frameBytesMax must be positive")
        }
        if let chroot = configuration.chroot { try CoordinatorPath.validate(chroot) }
        let session = ZooKeeperCoordinator(configuration: configuration)
        try await session.connectInitially()
        session.startDriver()
        return session
    }

    // MARK: Coordinator

    public var sessionID: Int64 { core.withLock { $0.sessionID } }
    public var sessionTimeoutMs: Int { core.withLock { $0.negotiatedTimeoutMs } }
    public var state: SessionState { core.withLock { $0.visible } }

    public var description: String {
        let (id, visible) = core.withLock { ($0.sessionID, $0.visible) }
        return "ZooKeeperCoordinator(session: 0x\(String(UInt64(bitPattern: id), radix: 16)), \(visible))"
    }

    public func events() -> AsyncThrowingStream<CoordinatorEvent, any Error> {
        core.withLock { hub.subscribe(initial: .state($0.published)) }
    }

    public func createNode(_ path: String, data: [UInt8], mode: CreateMode) async throws -> CreatedNode {
        try CoordinatorPath.validate(path, sequential: mode.isSequential)
        try checkSize(path, data)
        let reply = try await submit(.create(path: chroot.serverPath(path), data: data, mode: mode), path: path)
        guard case .created(let serverPath, let stat)? = reply.response else { throw unexpected(reply, "create2") }
        return CreatedNode(path: chroot.clientPath(serverPath) ?? serverPath, stat: stat)
    }

    public func delete(_ path: String, version: Int32?) async throws {
        try CoordinatorPath.validate(path)
        _ = try await submit(.delete(path: chroot.serverPath(path), version: version ?? -1), path: path, expectedVersion: version ?? -1)
    }

    public func exists(_ path: String, watch: Bool) async throws -> ExistsResult {
        try CoordinatorPath.validate(path)
        let reply = try await submit(.exists(path: chroot.serverPath(path), watch: watch), path: path, watch: watch)
        switch reply.response {
        case .stat(let stat)?: return ExistsResult(stat: stat, watch: reply.watch)
        case nil: return ExistsResult(stat: nil, watch: reply.watch)
        default: throw unexpected(reply, "exists")
        }
    }

    public func getData(_ path: String, watch: Bool) async throws -> NodeData {
        try CoordinatorPath.validate(path)
        let reply = try await submit(.getData(path: chroot.serverPath(path), watch: watch), path: path, watch: watch)
        guard case .data(let data, let stat)? = reply.response else { throw unexpected(reply, "getData") }
        return NodeData(data: data, stat: stat, watch: reply.watch)
    }

    public func setData(_ path: String, data: [UInt8], version: Int32?) async throws -> NodeStat {
        try CoordinatorPath.validate(path)
        try checkSize(path, data)
        let reply = try await submit(
            .setData(path: chroot.serverPath(path), data: data, version: version ?? -1), path: path,
            expectedVersion: version ?? -1)
        guard case .stat(let stat)? = reply.response else { throw unexpected(reply, "setData") }
        return stat
    }

    public func getChildren(_ path: String, watch: Bool) async throws -> NodeChildren {
        try CoordinatorPath.validate(path)
        let reply = try await submit(.getChildren(path: chroot.serverPath(path), watch: watch), path: path, watch: watch)
        guard case .children(let children, let stat)? = reply.response else { throw unexpected(reply, "getChildren2") }
        return NodeChildren(children: children, stat: stat, watch: reply.watch)
    }

    /// Sends `closeSession` when connected and waits for the reply (bounded by the read timeout), then
    /// drops the connection. The server deletes the session's ephemerals.
    public func close() async {
        let start: Bool = core.withLock { state in
            guard !state.phase.isTerminal, !state.closing else { return false }
            state.closing = true
            state.waiters.resumeAll(throwing: CoordinatorError.sessionClosed(sessionID: state.sessionID))
            return true
        }
        guard start else { return }
        _ = try? await send(.closeSession, path: "/", watch: false, expectedVersion: -1, closing: true)
        finish(.closed, reason: "closed")
    }

    // MARK: Fault hooks

    /// Kills the session the way ZooKeeper's own tests do: a second connection attaches to the same
    /// session id and password (the server drops this client's connection) and sends `closeSession`.
    /// The server deletes the ephemerals; this session then becomes `expired`.
    public func injectSessionExpiry() async throws {
        let target: (Int64, [UInt8], CoordinatorHost)? = core.withLock { state in
            guard !state.phase.isTerminal else { return nil }
            state.reconnectHeld = true
            let host = state.connection?.host
                ?? configuration.hosts[(state.hostIndex + configuration.hosts.count - 1) % configuration.hosts.count]
            return (state.sessionID, state.password, host)
        }
        guard let (sessionID, password, host) = target else { return }
        do {
            try await killSession(sessionID: sessionID, password: password, host: host)
        } catch {
            core.withLock { $0.reconnectHeld = false }
            throw error
        }
        finish(.expired, reason: "expired by fault injection")
    }

    /// Stops pings and holds notifications: the session is `suspended` and the server expires it after
    /// the session timeout unless `injectResume()` comes first. Requests wait meanwhile.
    public func injectPause() async {
        core.withLock { state in
            guard !state.phase.isTerminal, !state.paused else { return }
            state.paused = true
            publish(&state)
        }
    }

    /// Restarts pings (one goes out at once) and delivers the notifications held while paused.
    public func injectResume() async {
        let ping: (any Channel, ByteBuffer)? = core.withLock { state in
            guard !state.phase.isTerminal, state.paused else { return nil }
            state.paused = false
            let now = clock.monotonicNanoseconds()
            state.lastReceivedNs = now  // give the server a read timeout to answer the ping
            guard state.phase == .connected, let connection = state.connection else {
                publish(&state)
                return nil
            }
            state.lastSentNs = now
            publish(&state)
            deliverHeld(&state)
            state.waiters.resumeAll()
            return (connection.channel, Request.ping.frame(xid: ZooKeeperProtocol.Xid.ping))
        }
        if let (channel, frame) = ping { channel.writeAndFlush(frame, promise: nil) }
    }

    // MARK: Test hooks (internal)

    /// Closes the current connection without ending the session, as a network fault would.
    func dropConnectionForTesting() {
        let channel = core.withLock { state -> (any Channel)? in
            state.disconnectReason = "dropped by a test"
            return state.connection?.channel
        }
        channel?.close(promise: nil)
    }

    /// Stops (or restarts) reconnect attempts, so a test can change things while the client is away.
    func holdReconnectsForTesting(_ held: Bool) {
        core.withLock { $0.reconnectHeld = held }
    }

    /// The session password the server issued (what a second connection needs to attach to the session).
    var sessionPasswordForTesting: [UInt8] { core.withLock { $0.password } }

    // MARK: Requests

    private func checkSize(_ path: String, _ data: [UInt8]) throws(CoordinatorError) {
        if data.count > nodeDataBytesMax {
            throw .dataTooLarge(path: path, bytes: data.count, limitBytes: nodeDataBytesMax)
        }
    }

    private func unexpected(_ reply: Reply, _ op: String) -> CoordinatorError {
        .malformedResponse(reason: "unexpected \(op) reply \(String(describing: reply.response))")
    }

    /// Sends a request once the session is usable; retries (bounded) when the connection changes between
    /// the wait and the send, which cannot have sent anything.
    private func submit(_ request: Request, path: String, watch: Bool = false, expectedVersion: Int32 = -1) async throws -> Reply {
        let attemptsMax = 16
        for _ in 0..<attemptsMax {
            try await waitUntilUsable()
            if let reply = try await send(request, path: path, watch: watch, expectedVersion: expectedVersion) {
                return reply
            }
        }
        throw CoordinatorError.connectionLoss(reason: "the connection kept dropping before the request could be sent")
    }

    /// Registers the request under a fresh xid and writes it; `nil` when the session is not connected
    /// right now (nothing was sent). `closing` is the owner's `closeSession`, which goes out even while
    /// paused (a pause stops heartbeats, not the owner).
    private func send(
        _ request: Request, path: String, watch: Bool, expectedVersion: Int32, closing: Bool = false
    ) async throws -> Reply? {
        let unnumbered = request.frame(xid: 0)
        let frameBytes = unnumbered.readableBytes - 4
        if frameBytes > ZooKeeperProtocol.serverRequestBytesMax {
            throw CoordinatorError.dataTooLarge(path: path, bytes: frameBytes, limitBytes: ZooKeeperProtocol.serverRequestBytesMax)
        }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Reply?, any Error>) in
            let write: (any Channel, ByteBuffer)? = core.withLock { state in
                guard state.phase == .connected, !state.paused || closing, let connection = state.connection else {
                    continuation.resume(returning: nil)
                    return nil
                }
                if state.closing && !closing {
                    continuation.resume(throwing: CoordinatorError.sessionClosed(sessionID: state.sessionID))
                    return nil
                }
                let xid = state.nextXid
                state.nextXid = xid == Int32.max ? 1 : xid + 1
                state.pending[xid] = Pending(
                    opCode: request.opCode, clientPath: path, watch: watch, expectedVersion: expectedVersion,
                    continuation: continuation)
                state.lastSentNs = clock.monotonicNanoseconds()
                var frame = unnumbered
                frame.setInteger(xid, at: frame.readerIndex + 4, endianness: .big)  // after the length
                return (connection.channel, frame)
            }
            if let (channel, frame) = write { channel.writeAndFlush(frame, promise: nil) }
        }
    }

    /// Returns once the session is connected and not paused; throws its end if it is over.
    private func waitUntilUsable() async throws {
        let id = core.withLock { $0.waiters.makeID() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                core.withLock { state in
                    if state.closing || state.phase == .closed {
                        continuation.resume(throwing: CoordinatorError.sessionClosed(sessionID: state.sessionID))
                    } else if state.phase == .expired {
                        continuation.resume(throwing: CoordinatorError.sessionExpired(sessionID: state.sessionID))
                    } else if state.phase == .connected && !state.paused {
                        continuation.resume()
                    } else if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        state.waiters.add(id, continuation)
                    }
                }
            }
        } onCancel: {
            core.withLock { $0.waiters.remove(id) }?.resume(throwing: CancellationError())
        }
    }

    // MARK: Inbound (event loop)

    /// One frame from connection `generation`: the handshake answer, a reply, a ping reply or a
    /// notification. A frame that does not decode drops the connection.
    func handleFrame(_ generation: UInt64, _ frame: ByteBuffer) {
        let drop: (any Channel)? = core.withLock { state in
            guard let connection = state.connection, connection.generation == generation else { return nil }
            state.lastReceivedNs = clock.monotonicNanoseconds()
            if let handshake = state.handshake, handshake.generation == generation {
                state.handshake = nil
                handshake.continuation.resume(returning: frame)
                return nil
            }
            do {
                return try process(&state, frame)
            } catch {
                // Drop the connection now, not when its close completes, so a request made meanwhile waits
                // for the reconnect instead of going out on a connection that is about to close.
                state.disconnectReason = "\(error)"
                connectionEnded(&state, connection, reason: "\(error)")
                return connection.channel
            }
        }
        drop?.close(promise: nil)
    }

    /// Handles a reply or notification under the lock; returns a channel to close when the server says
    /// the session expired.
    private func process(_ state: inout State, _ frame: ByteBuffer) throws(CoordinatorError) -> (any Channel)? {
        var buffer = frame
        let header = try ZooKeeperProtocol.ReplyHeader(decoding: &buffer)
        if header.zxid > 0 { state.lastZxid = max(state.lastZxid, header.zxid) }
        switch header.xid {
        case ZooKeeperProtocol.Xid.ping, ZooKeeperProtocol.Xid.setWatches:
            return nil
        case ZooKeeperProtocol.Xid.notification:
            let notification = try ZooKeeperProtocol.WatcherEvent(decoding: &buffer)
            if notification.state == ZooKeeperProtocol.KeeperState.expired {
                return expire(&state, reason: "the server announced the session's expiry")
            }
            // Type -1 is a session-state event; 5...7 are watch-removal events this client never asks for.
            guard let type = WatchEventType(rawValue: notification.type),
                  let path = chroot.clientPath(notification.path)
            else { return nil }
            let event = WatchedEvent(type: type, path: path)
            if state.paused {
                state.held.append(event)
            } else {
                deliver(&state, event)
            }
            return nil
        default:
            guard let pending = state.pending.removeValue(forKey: header.xid) else {
                throw .malformedResponse(reason: "reply for xid \(header.xid), which has no request outstanding")
            }
            if header.err != 0 {
                if header.err == -101 && pending.opCode == .exists {
                    let watch = pending.watch ? state.watches.add(.exists, path: pending.clientPath) : nil
                    pending.continuation.resume(returning: Reply(response: nil, watch: watch))
                    return nil
                }
                let error = CoordinatorError(
                    zooKeeperCode: header.err, path: pending.clientPath, expectedVersion: pending.expectedVersion,
                    sessionID: state.sessionID)
                pending.continuation.resume(throwing: error)
                if header.err == -112 { return expire(&state, reason: "the server reported the session expired") }
                return nil
            }
            let response: Response
            do {
                response = try Response(decoding: &buffer, for: pending.opCode)
            } catch {
                pending.continuation.resume(throwing: error)
                throw error
            }
            var watch: Watch?
            if pending.watch {
                watch = state.watches.add(pending.opCode == .getChildren2 ? .children : .data, path: pending.clientPath)
            }
            pending.continuation.resume(returning: Reply(response: response, watch: watch))
            return nil
        }
    }

    /// Connection `generation` ended: fail what was in flight and let the driver reconnect.
    func handleClosed(_ generation: UInt64, reason: String) {
        core.withLock { state in
            guard let connection = state.connection, connection.generation == generation else { return }
            connectionEnded(&state, connection, reason: reason)
        }
    }

    private func connectionEnded(_ state: inout State, _ connection: Connection, reason: String) {
        do {
            let generation = connection.generation
            state.connection = nil
            let why = state.disconnectReason.isEmpty ? reason : state.disconnectReason
            state.disconnectReason = ""
            if let handshake = state.handshake, handshake.generation == generation {
                state.handshake = nil
                handshake.continuation.resume(throwing: CoordinatorError.connectionLoss(reason: why))
            }
            failPending(&state, .connectionLoss(reason: "\(why) (\(connection.host))"))
            if state.phase == .connected && !state.closing {  // a closing session ends as closed, not suspended
                state.phase = .disconnected
                state.nextReconnectNs = 0
                publish(&state)
            }
        }
    }

    // MARK: Session life

    private func deliver(_ state: inout State, _ event: WatchedEvent) {
        for watch in state.watches.materialize(event) { watch.fire(event.type) }
        hub.yield(.watch(event))
    }

    private func deliverHeld(_ state: inout State) {
        let held = state.held
        state.held.removeAll()
        for event in held { deliver(&state, event) }
    }

    private func failPending(_ state: inout State, _ error: CoordinatorError) {
        let pending = state.pending.values
        state.pending.removeAll()
        for request in pending { request.continuation.resume(throwing: error) }
    }

    /// Emits the visible state if it changed; a final state ends every event stream.
    private func publish(_ state: inout State) {
        let visible = state.visible
        guard visible != state.published else { return }
        state.published = visible
        if visible.isTerminal {
            hub.finish(with: .state(visible))
        } else {
            hub.yield(.state(visible))
        }
    }

    /// Ends the session under the lock; returns the channel to close.
    private func end(_ state: inout State, as final: SessionState) -> (any Channel)? {
        guard !state.phase.isTerminal else { return nil }
        let error: CoordinatorError = final == .closed
            ? .sessionClosed(sessionID: state.sessionID) : .sessionExpired(sessionID: state.sessionID)
        state.phase = final == .closed ? .closed : .expired
        let channel = state.connection?.channel
        state.connection = nil
        if let handshake = state.handshake {
            state.handshake = nil
            handshake.continuation.resume(throwing: error)
        }
        failPending(&state, error)
        state.waiters.resumeAll(throwing: error)
        state.held.removeAll()
        for watch in state.watches.removeAll() { watch.fail(error) }
        publish(&state)
        return channel
    }

    private func expire(_ state: inout State, reason: String) -> (any Channel)? {
        state.disconnectReason = reason
        return end(&state, as: .expired)
    }

    /// Ends the session (expired or closed) and drops the connection.
    private func finish(_ final: SessionState, reason: String) {
        let (channel, driver) = core.withLock { state -> ((any Channel)?, Task<Void, Never>?) in
            state.disconnectReason = reason
            defer { state.driver = nil }
            return (end(&state, as: final), state.driver)
        }
        channel?.close(promise: nil)
        driver?.cancel()  // outside the lock: cancellation handlers run synchronously
    }

    // MARK: Connecting

    private enum Establishment {
        case connected
        case expired
        case failed(String)
    }

    private func connectInitially() async throws {
        let hosts = configuration.hosts
        let timeoutNs = UInt64(configuration.connectionTimeoutMs) * 1_000_000
        let deadline = clock.monotonicNanoseconds() &+ timeoutNs
        let perHostNs = max(timeoutNs / UInt64(hosts.count), 100_000_000)
        var lastFailure = "no attempt made"
        var attempt = 0
        while attempt == 0 || clock.monotonicNanoseconds() < deadline {
            let host = hosts[attempt % hosts.count]
            attempt += 1
            let remaining = deadline > clock.monotonicNanoseconds() ? deadline - clock.monotonicNanoseconds() : 1_000_000
            switch await establish(host, timeoutNs: min(remaining, perHostNs)) {
            case .connected:
                core.withLock { $0.hostIndex = attempt }
                return
            case .expired:
                throw CoordinatorError.connectionFailed(
                    hosts: hosts.map(\.description).joined(separator: ","), reason: "\(host) refused to open a session")
            case .failed(let reason):
                lastFailure = reason
            }
            if attempt % hosts.count == 0 {
                let now = clock.monotonicNanoseconds()
                guard now < deadline else { break }
                try? await clock.sleep(nanoseconds: min(deadline - now, 50_000_000))
            }
        }
        finish(.closed, reason: "connect failed")
        throw CoordinatorError.connectionFailed(
            hosts: hosts.map(\.description).joined(separator: ","),
            reason: "\(lastFailure) (within \(configuration.connectionTimeoutMs) ms)")
    }

    /// Opens a connection to `host` and performs the session handshake, all within `timeoutNs`.
    private func establish(_ host: CoordinatorHost, timeoutNs: UInt64) async -> Establishment {
        let generation = core.withLock { state -> UInt64 in
            state.nextGeneration += 1
            return state.nextGeneration
        }
        let frameBytesMax = configuration.frameBytesMax
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: configuration.eventLoopGroup)
                .connectTimeout(.nanoseconds(Int64(clamping: timeoutNs)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(ZooKeeperFrameDecoder(frameBytesMax: frameBytesMax)))
                        try channel.pipeline.syncOperations.addHandler(
                            ZooKeeperChannelHandler(generation: generation, session: self))
                    }
                }
                .connect(host: host.host, port: host.port).get()
        } catch {
            return .failed("\(host): \(error)")
        }

        let timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(clamping: timeoutNs))) { [weak self] in
            self?.handshakeTimedOut(generation)
        }
        let answer: ByteBuffer
        do {
            answer = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer, any Error>) in
                let request: ByteBuffer? = core.withLock { state in
                    guard !state.phase.isTerminal else {
                        continuation.resume(throwing: CoordinatorError.sessionClosed(sessionID: state.sessionID))
                        return nil
                    }
                    state.connection = Connection(generation: generation, channel: channel, host: host)
                    state.handshake = (generation, continuation)
                    return ZooKeeperProtocol.ConnectRequest(
                        lastZxidSeen: state.lastZxid, timeoutMs: Int32(clamping: configuration.sessionTimeoutMs),
                        sessionID: state.sessionID, password: state.password
                    ).frame()
                }
                if let request { channel.writeAndFlush(request, promise: nil) }
            }
        } catch {
            timeout.cancel()
            channel.close(promise: nil)
            return .failed("\(host): \(error)")
        }
        timeout.cancel()

        let response: ZooKeeperProtocol.ConnectResponse
        do {
            response = try ZooKeeperProtocol.ConnectResponse(decoding: answer)
        } catch {
            core.withLock { $0.disconnectReason = "\(error)" }
            channel.close(promise: nil)
            return .failed("\(host): \(error)")
        }
        if response.timeoutMs <= 0 {
            finish(.expired, reason: "the server says the session expired")
            return .expired
        }

        // Re-register watches before any other request can go out on this connection.
        let setWatches: [ByteBuffer]? = core.withLock { state in
            guard state.connection?.generation == generation, !state.phase.isTerminal else { return nil }
            state.sessionID = response.sessionID
            state.password = response.password
            state.negotiatedTimeoutMs = Int(response.timeoutMs)
            let now = clock.monotonicNanoseconds()
            state.lastReceivedNs = now
            state.lastSentNs = now
            if !state.paused { deliverHeld(&state) }
            let paths = state.watches.paths
            return Request.setWatchesChunked(
                relativeZxid: state.lastZxid, data: paths.data.map(chroot.serverPath),
                exists: paths.exists.map(chroot.serverPath), children: paths.children.map(chroot.serverPath)
            ).map { $0.frame(xid: ZooKeeperProtocol.Xid.setWatches) }
        }
        guard let setWatches else {
            channel.close(promise: nil)
            return .failed("\(host): connection lost during the handshake")
        }
        for frame in setWatches { channel.writeAndFlush(frame, promise: nil) }
        let connected = core.withLock { state -> Bool in
            guard state.connection?.generation == generation, !state.phase.isTerminal else { return false }
            state.phase = .connected
            state.reconnectAttempts = 0
            publish(&state)
            if !state.paused { state.waiters.resumeAll() }
            return true
        }
        return connected ? .connected : .failed("\(host): connection lost during the handshake")
    }

    private func handshakeTimedOut(_ generation: UInt64) {
        let channel: (any Channel)? = core.withLock { state in
            guard let handshake = state.handshake, handshake.generation == generation else { return nil }
            state.handshake = nil
            handshake.continuation.resume(throwing: CoordinatorError.connectionLoss(reason: "no answer to the handshake"))
            return state.connection?.generation == generation ? state.connection?.channel : nil
        }
        channel?.close(promise: nil)
    }

    /// Closes the session from a second connection that attaches to it (see `injectSessionExpiry`).
    func killSession(sessionID: Int64, password: [UInt8], host: CoordinatorHost) async throws {
        let frameBytesMax = configuration.frameBytesMax
        let timeoutNs = UInt64(max(configuration.sessionTimeoutMs, 1000)) * 1_000_000
        let group = configuration.eventLoopGroup
        let requestedTimeoutMs = Int32(clamping: configuration.sessionTimeoutMs)
        try await withDeadline(clock: clock, nanoseconds: timeoutNs) {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Int64(clamping: timeoutNs)))
                .connect(host: host.host, port: host.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(ZooKeeperFrameDecoder(frameBytesMax: frameBytesMax)))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ZooKeeperProtocol.ConnectRequest(
                    lastZxidSeen: 0, timeoutMs: requestedTimeoutMs, sessionID: sessionID, password: password
                ).frame())
                var frames = inbound.makeAsyncIterator()
                guard let answer = try await frames.next() else {
                    throw CoordinatorError.connectionLoss(reason: "closed before the handshake")
                }
                guard try ZooKeeperProtocol.ConnectResponse(decoding: answer).timeoutMs > 0 else { return }
                let closeXid: Int32 = 1
                try await outbound.write(Request.closeSession.frame(xid: closeXid))
                while let frame = try await frames.next() {
                    var buffer = frame
                    if try ZooKeeperProtocol.ReplyHeader(decoding: &buffer).xid == closeXid { return }
                }
                throw CoordinatorError.connectionLoss(reason: "closed before the closeSession reply")
            }
        }
    }

    // MARK: Driver

    private func startDriver() {
        core.withLock { state in
            guard !state.phase.isTerminal else { return }
            state.driver = Task { [weak self] in await self?.runDriver() }
        }
    }

    private enum DriverStep {
        case stop
        case idle
        case write(any Channel, ByteBuffer)
        case drop(any Channel)
        case reconnect(CoordinatorHost, timeoutNs: UInt64)
        case expire(String)
    }

    /// Ticks on the clock: pings when idle, drops a silent connection, reconnects, expires the session
    /// after a whole timeout without contact.
    private func runDriver() async {
        while !Task.isCancelled {
            switch nextStep() {
            case .stop:
                return
            case .idle:
                break
            case .write(let channel, let frame):
                channel.writeAndFlush(frame, promise: nil)
            case .drop(let channel):
                channel.close(promise: nil)
            case .reconnect(let host, let timeoutNs):
                if case .failed(let reason) = await establish(host, timeoutNs: timeoutNs) {
                    let now = clock.monotonicNanoseconds()
                    core.withLock { state in
                        state.reconnectAttempts += 1
                        let backoffNs = min(UInt64(state.reconnectAttempts) * 20_000_000, tickNs(state) * 2)
                        state.nextReconnectNs = now &+ backoffNs
                        state.disconnectReason = reason
                    }
                }
            case .expire(let reason):
                finish(.expired, reason: reason)
                return
            }
            let sleepNs = core.withLock { tickNs($0) }
            do {
                try await clock.sleep(nanoseconds: sleepNs)
            } catch {
                return
            }
        }
    }

    /// The driver's period: a tenth of the session timeout, between 5 and 100 ms.
    private func tickNs(_ state: State) -> UInt64 {
        min(max(UInt64(state.negotiatedTimeoutMs) * 100_000, 5_000_000), 100_000_000)
    }

    private func nextStep() -> DriverStep {
        let now = clock.monotonicNanoseconds()
        return core.withLock { state in
            let timeoutNs = UInt64(state.negotiatedTimeoutMs) * 1_000_000
            switch state.phase {
            case .expired, .closed:
                return .stop
            case .connecting:
                return .idle
            case .connected, .disconnected:
                if state.paused {
                    // The server has not heard from us since the last send; it expires the session then.
                    return now &- state.lastSentNs >= timeoutNs ? .expire("paused for the whole session timeout") : .idle
                }
                if state.phase == .connected, let connection = state.connection {
                    if now &- state.lastReceivedNs >= timeoutNs * 2 / 3 {
                        state.disconnectReason = "no reply from the server within \(state.negotiatedTimeoutMs * 2 / 3) ms"
                        return .drop(connection.channel)
                    }
                    if now &- state.lastSentNs >= timeoutNs / 3 {
                        state.lastSentNs = now
                        return .write(connection.channel, Request.ping.frame(xid: ZooKeeperProtocol.Xid.ping))
                    }
                    return .idle
                }
                if now &- state.lastReceivedNs >= timeoutNs {
                    return .expire("no contact with the ensemble for the whole session timeout")
                }
                guard !state.reconnectHeld, state.handshake == nil, state.connection == nil, now >= state.nextReconnectNs,
                      !state.closing
                else { return .idle }
                let hosts = configuration.hosts
                let host = hosts[state.hostIndex % hosts.count]
                state.hostIndex += 1
                let remainingNs = timeoutNs - (now &- state.lastReceivedNs)
                let perHostNs = max(timeoutNs / UInt64(hosts.count) / 2, 50_000_000)
                return .reconnect(host, timeoutNs: min(remainingNs, perHostNs))
            }
        }
    }
}

/// Runs `body`, throwing `CoordinatorError.operationTimeout` if it takes longer than `nanoseconds` of
/// `clock`'s time (the body is then cancelled).
func withDeadline<Value: Sendable>(
    clock: any EngineClock, nanoseconds: UInt64, _ body: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await clock.sleep(nanoseconds: nanoseconds)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw CoordinatorError.operationTimeout }
        return value
    }
}
