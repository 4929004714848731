import RivuletCore
import Synchronization

/// An in-process coordination service: one ZooKeeper-like tree shared by every session opened on it, so
/// all brokers of an in-process cluster coordinate through one object.
///
/// It follows ZooKeeper's semantics: every write gets the next zxid; ephemeral nodes vanish when their
/// session closes or expires; watches are registered per session and path, fire once, in zxid order,
/// before the write that fired them returns. Sessions heartbeat implicitly while alive; a paused session
/// (`pauseSession`) expires once its timeout has passed on the injected `EngineClock`, checked before
/// every request and by a task sleeping on the clock (so a `ManualClock` drives expiry deterministically).
///
/// Isolation: thread-safe (one lock). Use `named(_:clock:)` to share an ensemble by name (`memory://name`).
public final class InMemoryEnsemble: Sendable {
    /// Limits and timing of an ensemble.
    public struct Configuration: Sendable {
        /// ZooKeeper's `tickTime` in milliseconds: requested session timeouts are clamped to
        /// [2, 20] ticks, as a ZooKeeper server does.
        public var tickTimeMs: Int
        /// The smallest session timeout granted, in milliseconds (ZooKeeper's `minSessionTimeout`,
        /// default 2 ticks).
        public var minSessionTimeoutMs: Int
        /// The largest session timeout granted, in milliseconds (ZooKeeper's `maxSessionTimeout`,
        /// default 20 ticks).
        public var maxSessionTimeoutMs: Int
        /// Buffered events per `events()` subscriber before its stream ends with `eventsOverflow`.
        public var bufferedEventsMax: Int

        /// Bounds default to ZooKeeper's: 2 and 20 ticks.
        public init(
            tickTimeMs: Int = 2000, minSessionTimeoutMs: Int? = nil, maxSessionTimeoutMs: Int? = nil,
            bufferedEventsMax: Int = 10_000
        ) {
            self.tickTimeMs = max(1, tickTimeMs)
            self.minSessionTimeoutMs = max(1, minSessionTimeoutMs ?? 2 * self.tickTimeMs)
            self.maxSessionTimeoutMs = max(self.minSessionTimeoutMs, maxSessionTimeoutMs ?? 20 * self.tickTimeMs)
            self.bufferedEventsMax = max(1, bufferedEventsMax)
        }
    }

    /// The clock that stamps node times and decides when paused sessions expire.
    public let clock: any EngineClock
    /// This ensemble's configuration.
    public let configuration: Configuration

    struct SessionEntry {
        let session: InMemoryCoordinator
        var paused = false
        var pauseDeadlineNs: UInt64 = 0
        var expiryTask: Task<Void, Never>?
    }

    struct State {
        var tree = DataTree()
        var zxid: Int64 = 0
        var sessions: [Int64: SessionEntry] = [:]
        /// Sessions with a data or exists watch, by ensemble path (ZooKeeper's server-side `dataWatches`).
        var dataWatchers: [String: Set<Int64>] = [:]
        /// Sessions with a children watch, by ensemble path.
        var childWatchers: [String: Set<Int64>] = [:]
        var nextSessionID: Int64 = 0x0100_0000_0000_0001
    }

    let state = Mutex(State())

    /// A new, empty ensemble (just ZooKeeper's `/zookeeper` nodes) on `clock`.
    public init(clock: any EngineClock = SystemClock(), configuration: Configuration = Configuration()) {
        self.clock = clock
        self.configuration = configuration
    }

    // MARK: Named ensembles (memory://name)

    private static let registry = Mutex<[String: InMemoryEnsemble]>([:])

    /// The process-wide ensemble called `name`, created with `clock` and `configuration` on first use
    /// (later callers share it, whatever clock they pass).
    public static func named(
        _ name: String, clock: any EngineClock = SystemClock(), configuration: Configuration = Configuration()
    ) -> InMemoryEnsemble {
        registry.withLock { ensembles in
            if let existing = ensembles[name] { return existing }
            let created = InMemoryEnsemble(clock: clock, configuration: configuration)
            ensembles[name] = created
            return created
        }
    }

    /// Forgets the named ensemble (sessions already open on it keep working); the next `named(name)`
    /// creates a fresh one. Returns whether it existed.
    @discardableResult
    public static func removeNamed(_ name: String) -> Bool {
        registry.withLock { $0.removeValue(forKey: name) != nil }
    }

    // MARK: Sessions

    /// Opens a session. The timeout is clamped to the configuration's bounds; `chroot` (a valid path, or
    /// nil) makes every path of the session relative to that node, which must exist before it is used.
    public func openSession(sessionTimeoutMs: Int, chroot: String? = nil) throws -> InMemoryCoordinator {
        if let chroot { try CoordinatorPath.validate(chroot) }
        let timeoutMs = min(max(sessionTimeoutMs, configuration.minSessionTimeoutMs), configuration.maxSessionTimeoutMs)
        let now = clock.monotonicNanoseconds()
        return state.withLock { state in
            expireDueSessions(&state, nowNs: now)
            let id = state.nextSessionID
            state.nextSessionID += 1
            state.zxid += 1  // createSession is a transaction in ZooKeeper too
            let session = InMemoryCoordinator(
                ensemble: self, sessionID: id, sessionTimeoutMs: timeoutMs, chroot: Chroot(chroot),
                bufferedEventsMax: configuration.bufferedEventsMax)
            state.sessions[id] = SessionEntry(session: session)
            return session
        }
    }

    /// Ids of the sessions currently alive, ascending.
    public var sessionIDs: [Int64] { state.withLock { $0.sessions.keys.sorted() } }

    /// The zxid of the last transaction.
    public var lastZxid: Int64 { state.withLock { $0.zxid } }

    // MARK: Fault hooks

    /// Expires a session now: its ephemerals are deleted, watches on them fire, the session becomes
    /// `expired`. Does nothing if the session already ended.
    public func expireSession(_ sessionID: Int64) {
        state.withLock { endSession(&$0, sessionID, reason: .expired) }
    }

    /// Closes a session as its owner would.
    public func closeSession(_ sessionID: Int64) {
        state.withLock { endSession(&$0, sessionID, reason: .closed) }
    }

    /// Stops a session's heartbeats: it becomes `suspended`, hears nothing, and expires once its timeout
    /// has passed on the clock unless `resumeSession` comes first.
    public func pauseSession(_ sessionID: Int64) {
        let now = clock.monotonicNanoseconds()
        state.withLock { state in
            expireDueSessions(&state, nowNs: now)
            guard var entry = state.sessions[sessionID], !entry.paused else { return }
            let deadline = now &+ UInt64(entry.session.sessionTimeoutMs) * 1_000_000
            entry.paused = true
            entry.pauseDeadlineNs = deadline
            let clock = self.clock
            entry.expiryTask = Task { [weak self] in
                do {
                    try await clock.sleep(untilMonotonicNanoseconds: deadline)
                } catch {
                    return  // resumed or closed first
                }
                self?.checkSessionExpiry()
            }
            state.sessions[sessionID] = entry
            entry.session.setPaused(true)
        }
    }

    /// Restarts a paused session's heartbeats; if it has not expired yet it becomes `connected` and
    /// receives the notifications it missed.
    public func resumeSession(_ sessionID: Int64) {
        let now = clock.monotonicNanoseconds()
        state.withLock { state in
            expireDueSessions(&state, nowNs: now)
            guard var entry = state.sessions[sessionID], entry.paused else { return }
            entry.paused = false
            entry.expiryTask?.cancel()
            entry.expiryTask = nil
            state.sessions[sessionID] = entry
            entry.session.setPaused(false)
        }
    }

    /// Expires every paused session whose timeout has passed on the clock. Runs before every request and
    /// from the pause timers; a simulation may call it right after advancing a `ManualClock`.
    public func checkSessionExpiry() {
        let now = clock.monotonicNanoseconds()
        state.withLock { expireDueSessions(&$0, nowNs: now) }
    }

    // MARK: Requests (called by InMemoryCoordinator)

    /// The outcome of a request: done, or not run because the session is paused (the caller waits and
    /// retries).
    enum Outcome<Value: Sendable>: Sendable {
        case done(Value)
        case paused
    }

    /// Runs `body` as one request of `session` under the lock, after expiring due sessions. Throws the
    /// session's end if it is over.
    func execute<Value: Sendable>(
        _ session: InMemoryCoordinator, _ body: (inout State) throws(KeeperCode) -> Value
    ) throws -> Outcome<Value> {
        let now = clock.monotonicNanoseconds()
        return try state.withLock { state throws -> Outcome<Value> in
            expireDueSessions(&state, nowNs: now)
            guard let entry = state.sessions[session.sessionID] else { throw session.endError() }
            if entry.paused { return .paused }
            return .done(try body(&state))
        }
    }

    /// The wall time for stamping nodes.
    func nowMs() -> Int64 { clock.wallMilliseconds() }

    /// Fires the watches a transaction's changes trigger, in ZooKeeper's order (`DataTree.createNode`,
    /// `deleteNode`, `setData`): each session hears once per path and trigger.
    func trigger(_ changes: [DataTree.Change], in state: inout State) {
        for change in changes {
            switch change {
            case .created(let path, let parent):
                notify(state.dataWatchers.removeValue(forKey: path) ?? [], .nodeCreated, path, state.sessions)
                notify(state.childWatchers.removeValue(forKey: parent) ?? [], .nodeChildrenChanged, parent, state.sessions)
            case .deleted(let path, let parent):
                let dataWatchers = state.dataWatchers.removeValue(forKey: path) ?? []
                notify(dataWatchers, .nodeDeleted, path, state.sessions)
                let childWatchers = (state.childWatchers.removeValue(forKey: path) ?? []).subtracting(dataWatchers)
                notify(childWatchers, .nodeDeleted, path, state.sessions)
                notify(state.childWatchers.removeValue(forKey: parent) ?? [], .nodeChildrenChanged, parent, state.sessions)
            case .dataChanged(let path):
                notify(state.dataWatchers.removeValue(forKey: path) ?? [], .nodeDataChanged, path, state.sessions)
            }
        }
    }

    private func notify(
        _ sessionIDs: Set<Int64>, _ type: WatchEventType, _ path: String, _ sessions: [Int64: SessionEntry]
    ) {
        for id in sessionIDs.sorted() {
            sessions[id]?.session.deliver(type, serverPath: path)
        }
    }

    private func expireDueSessions(_ state: inout State, nowNs: UInt64) {
        let due = state.sessions.values
            .filter { $0.paused && $0.pauseDeadlineNs <= nowNs }
            .sorted { ($0.pauseDeadlineNs, $0.session.sessionID) < ($1.pauseDeadlineNs, $1.session.sessionID) }
        for entry in due { endSession(&state, entry.session.sessionID, reason: .expired) }
    }

    /// Ends a session in one transaction (ZooKeeper's `closeSession`): deletes its ephemerals, fires the
    /// watches set on them, drops the session's watch registrations, then tells the session.
    ///
    /// As on a ZooKeeper server, a session that closes is still connected while its ephemerals go, so
    /// its own watches on them fire; an expired session hears nothing (it is unreachable by definition).
    private func endSession(_ state: inout State, _ sessionID: Int64, reason: SessionState) {
        guard let entry = state.sessions[sessionID] else { return }
        entry.expiryTask?.cancel()
        if reason != .closed { state.sessions.removeValue(forKey: sessionID) }
        state.zxid += 1
        let changes = state.tree.deleteEphemerals(of: sessionID, zxid: state.zxid)
        trigger(changes, in: &state)
        state.sessions.removeValue(forKey: sessionID)
        for (path, var ids) in state.dataWatchers where ids.contains(sessionID) {
            ids.remove(sessionID)
            state.dataWatchers[path] = ids.isEmpty ? nil : ids
        }
        for (path, var ids) in state.childWatchers where ids.contains(sessionID) {
            ids.remove(sessionID)
            state.childWatchers[path] = ids.isEmpty ? nil : ids
        }
        entry.session.end(reason)
    }
}
