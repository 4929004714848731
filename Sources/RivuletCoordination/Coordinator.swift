/// One session with a coordination service, in ZooKeeper's model: a tree of nodes with data and
/// versions, ephemeral nodes owned by the session, and one-shot watches.
///
/// Brokers register `/brokers/ids/N` as ephemeral nodes, race to create the ephemeral `/controller`,
/// and watch what they depend on. Implementations: `InMemoryCoordinator` (a session on an
/// `InMemoryEnsemble`) and `ZooKeeperCoordinator` (a real ZooKeeper client); pick one by URL with
/// `Coordinators.connect(url:configuration:)`.
///
/// Isolation: implementations are thread-safe; every method may be called from any task, concurrently.
/// Failure: methods throw `CoordinatorError`. While the session is `suspended`, requests wait until it is
/// `connected` again (or throw `sessionExpired`); a request in flight when the connection drops throws
/// `connectionLoss` (it may or may not have been applied). After `expired` or `closed` every request throws.
/// Paths are validated first (`CoordinatorPath.validate`) and data is limited to `nodeDataBytesMax` bytes.
public protocol Coordinator: AnyObject, Sendable {
    /// The session id the ensemble assigned (the `ephemeralOwner` of this session's ephemerals).
    var sessionID: Int64 { get }
    /// The session timeout the ensemble granted, in milliseconds (the request clamped to the server's
    /// bounds, 2 to 20 tick times for ZooKeeper). Without contact for this long the session expires.
    var sessionTimeoutMs: Int { get }
    /// The current session state.
    var state: SessionState { get }

    /// A new stream of this session's events: first the current state, then every state change and every
    /// watch notification, in order. It ends after `expired` or `closed`, or with
    /// `CoordinatorError.eventsOverflow` if the subscriber falls too far behind.
    func events() -> AsyncThrowingStream<CoordinatorEvent, any Error>

    /// Creates a node and returns the path created (with the sequence suffix for sequential modes) and its
    /// stat. Throws `noNode` (no parent), `nodeExists`, `noChildrenForEphemerals`, `invalidPath`,
    /// `dataTooLarge`.
    func createNode(_ path: String, data: [UInt8], mode: CreateMode) async throws -> CreatedNode

    /// Deletes a node. `version` must match the node's version unless it is `nil` (ZooKeeper's -1, any
    /// version). Throws `noNode`, `badVersion`, `notEmpty`, `badArguments` (for `/` and `/zookeeper`).
    func delete(_ path: String, version: Int32?) async throws

    /// The node's stat, or `nil` if it does not exist. With `watch: true` a one-shot watch is set either
    /// way: `nodeCreated` for a missing node, `nodeDataChanged`/`nodeDeleted` for an existing one.
    func exists(_ path: String, watch: Bool) async throws -> ExistsResult

    /// The node's data and stat. With `watch: true` (and only if the node exists) a one-shot data watch
    /// is set. Throws `noNode`.
    func getData(_ path: String, watch: Bool) async throws -> NodeData

    /// Replaces the node's data and returns its new stat (version + 1). `version` must match unless `nil`.
    /// Throws `noNode`, `badVersion`, `dataTooLarge`.
    func setData(_ path: String, data: [UInt8], version: Int32?) async throws -> NodeStat

    /// The names of the node's children and its stat. With `watch: true` (and only if the node exists) a
    /// one-shot children watch is set. Throws `noNode`.
    func getChildren(_ path: String, watch: Bool) async throws -> NodeChildren

    /// Ends the session: its ephemeral nodes are deleted and its pending watches end with
    /// `sessionClosed`. Idempotent; does nothing once the session has expired.
    func close() async
}

/// The largest node data both backends accept, in bytes: below ZooKeeper's default `jute.maxbuffer`
/// (1 MiB - 1) with room for the path and the request header.
public let nodeDataBytesMax = 1_000_000

extension Coordinator {
    /// Creates a node and returns the path created (with the sequence suffix for sequential modes).
    @discardableResult
    public func create(_ path: String, data: [UInt8] = [], mode: CreateMode = .persistent) async throws -> String {
        try await createNode(path, data: data, mode: mode).path
    }

    /// Deletes a node whatever its version.
    public func delete(_ path: String) async throws {
        try await delete(path, version: nil)
    }

    /// The node's stat, or `nil` if it does not exist; sets no watch.
    public func exists(_ path: String) async throws -> NodeStat? {
        try await exists(path, watch: false).stat
    }

    /// The node's data and stat; sets no watch.
    public func getData(_ path: String) async throws -> NodeData {
        try await getData(path, watch: false)
    }

    /// Replaces the node's data whatever its version.
    @discardableResult
    public func setData(_ path: String, data: [UInt8]) async throws -> NodeStat {
        try await setData(path, data: data, version: nil)
    }

    /// The names of the node's children, sorted; sets no watch.
    public func getChildren(_ path: String) async throws -> [String] {
        try await getChildren(path, watch: false).children.sorted()
    }

    /// Creates `path` with `data` and `mode`, first creating any missing ancestors as empty persistent
    /// nodes (ancestors that appear concurrently are fine). Throws `nodeExists` if `path` itself exists,
    /// and `noNode` if ancestors keep disappearing (after a bounded number of attempts).
    @discardableResult
    public func createRecursively(_ path: String, data: [UInt8] = [], mode: CreateMode = .persistent) async throws -> String {
        try CoordinatorPath.validate(path, sequential: mode.isSequential)
        let attemptsMax = 8
        for _ in 0..<attemptsMax {
            do {
                return try await createNode(path, data: data, mode: mode).path
            } catch CoordinatorError.noNode {
                // A sequential name is completed by its suffix, so "/a/b/" has ancestors "/a" and "/a/b".
                for ancestor in CoordinatorPath.ancestors(of: mode.isSequential ? path + "0" : path) {
                    do {
                        _ = try await createNode(ancestor, data: [], mode: .persistent)
                    } catch CoordinatorError.nodeExists {
                        continue
                    }
                }
            }
        }
        throw CoordinatorError.noNode(path: path)
    }

    /// Deletes `path` and everything below it, children first. A missing node is not an error; returns
    /// whether `path` existed. Children added concurrently are deleted too (bounded attempts, then
    /// `notEmpty`).
    @discardableResult
    public func deleteRecursively(_ path: String) async throws -> Bool {
        try CoordinatorPath.validate(path)
        let attemptsMax = 8
        for _ in 0..<attemptsMax {
            let children: [String]
            do {
                children = try await getChildren(path, watch: false).children
            } catch CoordinatorError.noNode {
                return false
            }
            for child in children {
                try await deleteRecursively(CoordinatorPath.join(path, child))
            }
            do {
                try await delete(path, version: nil)
                return true
            } catch CoordinatorError.noNode {
                return false
            } catch CoordinatorError.notEmpty {
                continue
            }
        }
        throw CoordinatorError.notEmpty(path: path)
    }

    /// Waits until the session reaches a state for which `predicate` holds, and returns that state.
    /// Returns the final state if the session ends without matching.
    @discardableResult
    public func waitForState(where predicate: (SessionState) -> Bool) async throws -> SessionState {
        var last = state
        for try await event in events() {
            guard case .state(let state) = event else { continue }
            last = state
            if predicate(state) { return state }
        }
        return last
    }
}

/// Fault hooks for tests and the harness: both backends can expire, pause and resume a session.
///
/// Isolation: thread-safe. These model failures; production code never calls them.
public protocol CoordinatorFaultInjecting: Coordinator {
    /// Ends the session now, as if its timeout had elapsed: the ensemble deletes its ephemerals and fires
    /// the watches others set on them; this session becomes `expired`. Returns once the ensemble has
    /// ended the session.
    func injectSessionExpiry() async throws

    /// Stops the session's heartbeats, as if its process froze or its network were cut: the session
    /// becomes `suspended`, hears nothing, and expires after its timeout unless resumed first. Requests
    /// made meanwhile wait.
    func injectPause() async

    /// Restarts heartbeats after `injectPause()`. If the session is still alive it becomes `connected`
    /// and receives the notifications it missed; otherwise it is (or soon becomes) `expired`.
    func injectResume() async
}
