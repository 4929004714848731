/// The kinds of watch notifications, with ZooKeeper's `Watcher.Event.EventType` codes as raw values.
public enum WatchEventType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// A node appeared where an `exists` watch was set on a missing path.
    case nodeCreated = 1
    /// The watched node was deleted (fires data, exists and children watches on that path).
    case nodeDeleted = 2
    /// The watched node's data was set (even to the same bytes).
    case nodeDataChanged = 3
    /// A child of the watched node was created or deleted.
    case nodeChildrenChanged = 4

    public var description: String {
        switch self {
        case .nodeCreated: "NodeCreated"
        case .nodeDeleted: "NodeDeleted"
        case .nodeDataChanged: "NodeDataChanged"
        case .nodeChildrenChanged: "NodeChildrenChanged"
        }
    }
}

/// One watch notification: what happened, and to which path (the path the watch was set on).
public struct WatchedEvent: Sendable, Hashable, CustomStringConvertible {
    /// What happened.
    public var type: WatchEventType
    /// The watched path, as the caller sees it (inside the chroot).
    public var path: String

    /// Creates a notification of `type` on `path`.
    public init(type: WatchEventType, path: String) {
        self.type = type
        self.path = path
    }

    public var description: String { "\(type) \(path)" }
}

/// The life of a coordination session, as ZooKeeper's client reports it.
///
/// `connected` and `suspended` alternate while the session lives; `expired` and `closed` are final.
public enum SessionState: Sendable, Hashable, CustomStringConvertible {
    /// The session is alive and requests go through.
    case connected
    /// The client cannot currently reach the ensemble (ZooKeeper's `Disconnected`): requests wait for the
    /// connection to come back, ephemerals and watches are kept. It ends in `connected` or, after the
    /// session timeout, `expired`. A controller should stop acting as one while suspended.
    case suspended
    /// The ensemble ended the session: its ephemeral nodes are deleted and its watches are gone.
    case expired
    /// The owner closed the session.
    case closed

    /// Whether the session can never be used again.
    public var isTerminal: Bool { self == .expired || self == .closed }

    public var description: String {
        switch self {
        case .connected: "connected"
        case .suspended: "suspended"
        case .expired: "expired"
        case .closed: "closed"
        }
    }
}

/// One item of a session's event stream (`Coordinator.events()`): a state change or a watch notification,
/// in the order the session observed them (watch notifications in zxid order).
public enum CoordinatorEvent: Sendable, Hashable, CustomStringConvertible {
    /// The session moved to a new state.
    case state(SessionState)
    /// A watch set by this session fired.
    case watch(WatchedEvent)

    public var description: String {
        switch self {
        case .state(let state): "state(\(state))"
        case .watch(let event): "watch(\(event))"
        }
    }
}
