/// The result of `exists`: the node's stat, or `nil` when there is no node, and the watch if one was set.
///
/// With `watch: true` a watch is set in both cases (ZooKeeper's rule): on a missing node it fires
/// `nodeCreated`; on an existing one `nodeDataChanged` or `nodeDeleted`.
public struct ExistsResult: Sendable {
    /// The node's metadata, or `nil` when the node does not exist.
    public var stat: NodeStat?
    /// The one-shot watch, when the call asked for one.
    public var watch: Watch?

    /// Wraps a stat (nil: no node) and an optional watch.
    public init(stat: NodeStat?, watch: Watch?) {
        self.stat = stat
        self.watch = watch
    }
}

/// The result of `getData`: the node's bytes and stat, and the data watch if one was set.
public struct NodeData: Sendable {
    /// The node's data (may be empty).
    public var data: [UInt8]
    /// The node's metadata at the time of the read.
    public var stat: NodeStat
    /// The one-shot data watch (fires `nodeDataChanged` or `nodeDeleted`), when asked for.
    public var watch: Watch?

    /// Wraps a node's data, stat and optional watch.
    public init(data: [UInt8], stat: NodeStat, watch: Watch?) {
        self.data = data
        self.stat = stat
        self.watch = watch
    }
}

/// The result of `getChildren`: the children's names (not full paths) and the parent's stat.
///
/// Order is unspecified (a ZooKeeper server returns hash order; the in-memory ensemble sorts).
public struct NodeChildren: Sendable {
    /// Names of the children, relative to the parent.
    public var children: [String]
    /// The parent's metadata at the time of the read.
    public var stat: NodeStat
    /// The one-shot children watch (fires `nodeChildrenChanged` or `nodeDeleted`), when asked for.
    public var watch: Watch?

    /// Wraps child names, the parent's stat and an optional watch.
    public init(children: [String], stat: NodeStat, watch: Watch?) {
        self.children = children
        self.stat = stat
        self.watch = watch
    }
}

/// The result of `createNode`: the path actually created (with its sequence suffix) and its stat.
public struct CreatedNode: Sendable, Hashable {
    /// The created path, as the caller sees it (inside the chroot).
    public var path: String
    /// The new node's metadata.
    public var stat: NodeStat

    /// Wraps a created path and its stat.
    public init(path: String, stat: NodeStat) {
        self.path = path
        self.stat = stat
    }
}
