/// A ZooKeeper error code produced by the in-memory tree, mapped to `CoordinatorError` by the session
/// with the caller's path (as the ZooKeeper client maps the server's codes).
enum KeeperCode: Int32, Error, Sendable {
    case badArguments = -8
    case noNode = -101
    case badVersion = -103
    case noChildrenForEphemerals = -108
    case nodeExists = -110
    case notEmpty = -111
}

/// The in-memory ensemble's tree: nodes, stats and ephemeral ownership, as ZooKeeper's `DataTree`.
///
/// A pure state machine: each write takes the zxid and time to stamp, changes the tree or throws a
/// ZooKeeper code, and returns the changes that fire watches. It knows nothing about sessions beyond
/// owner ids, and nothing about watches or time. Paths are ensemble paths, already validated.
struct DataTree: Sendable {
    struct Node: Sendable {
        var data: [UInt8]
        var stat: NodeStat
        var children: Set<String>
    }

    /// What a write did, for firing watches (ZooKeeper's trigger order within one transaction).
    enum Change: Sendable, Equatable {
        case created(path: String, parent: String)
        case deleted(path: String, parent: String)
        case dataChanged(path: String)
    }

    /// Paths that clients may not delete (ZooKeeper's `isSpecialPath`).
    static let specialPaths: Set<String> = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]

    private(set) var nodes: [String: Node] = [:]
    private(set) var ephemeralsByOwner: [Int64: Set<String>] = [:]

    /// A tree with ZooKeeper's initial nodes: `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`.
    init() {
        func empty(_ children: Set<String>) -> Node {
            Node(data: [], stat: NodeStat(
                czxid: 0, mzxid: 0, ctimeMs: 0, mtimeMs: 0, version: 0, cversion: 0, aversion: 0,
                ephemeralOwner: 0, dataLength: 0, numChildren: Int32(children.count), pzxid: 0), children: children)
        }
        nodes["/"] = empty(["zookeeper"])
        nodes["/zookeeper"] = empty(["quota", "config"])
        nodes["/zookeeper/quota"] = empty([])
        nodes["/zookeeper/config"] = empty([])
    }

    func node(_ path: String) -> Node? { nodes[path] }

    /// The ephemeral paths a session owns.
    func ephemerals(of owner: Int64) -> Set<String> { ephemeralsByOwner[owner] ?? [] }

    /// Creates `path` (plus the sequence suffix for sequential modes) and returns the created path.
    /// Checks in ZooKeeper's order: parent exists, name free, parent not ephemeral.
    mutating func create(
        _ path: String, data: [UInt8], mode: CreateMode, owner: Int64, zxid: Int64, timeMs: Int64
    ) throws(KeeperCode) -> (path: String, stat: NodeStat, changes: [Change]) {
        let parentPath: String
        if mode.isSequential && path.hasSuffix("/") {
            parentPath = path == "/" ? "/" : String(path.dropLast())
        } else if let parent = CoordinatorPath.parent(of: path) {
            parentPath = parent
        } else {
            throw .nodeExists  // "/" always exists
        }
        guard var parent = nodes[parentPath] else { throw .noNode }
        let created = mode.isSequential ? path + CoordinatorPath.sequenceSuffix(parent.stat.cversion) : path
        guard CoordinatorPath.violation(in: created) == nil else { throw .badArguments }
        guard nodes[created] == nil else { throw .nodeExists }
        guard parent.stat.ephemeralOwner == 0 else { throw .noChildrenForEphemerals }

        let stat = NodeStat(
            czxid: zxid, mzxid: zxid, ctimeMs: timeMs, mtimeMs: timeMs, version: 0, cversion: 0, aversion: 0,
            ephemeralOwner: mode.isEphemeral ? owner : 0, dataLength: Int32(clamping: data.count), numChildren: 0,
            pzxid: zxid)
        nodes[created] = Node(data: data, stat: stat, children: [])
        parent.children.insert(CoordinatorPath.name(of: created))
        parent.stat.cversion &+= 1
        parent.stat.pzxid = zxid
        parent.stat.numChildren = Int32(clamping: parent.children.count)
        nodes[parentPath] = parent
        if mode.isEphemeral { ephemeralsByOwner[owner, default: []].insert(created) }
        return (created, stat, [.created(path: created, parent: parentPath)])
    }

    /// Deletes `path` if `version` (nil: any) matches and it has no children.
    mutating func delete(_ path: String, version: Int32?, zxid: Int64) throws(KeeperCode) -> [Change] {
        guard !Self.specialPaths.contains(path), let parentPath = CoordinatorPath.parent(of: path) else {
            throw .badArguments
        }
        guard let node = nodes[path] else { throw .noNode }
        if let version, version != node.stat.version { throw .badVersion }
        guard node.children.isEmpty else { throw .notEmpty }
        remove(path, node: node, parentPath: parentPath, zxid: zxid)
        return [.deleted(path: path, parent: parentPath)]
    }

    /// Replaces the data of `path` if `version` (nil: any) matches.
    mutating func setData(
        _ path: String, data: [UInt8], version: Int32?, zxid: Int64, timeMs: Int64
    ) throws(KeeperCode) -> (stat: NodeStat, changes: [Change]) {
        guard var node = nodes[path] else { throw .noNode }
        if let version, version != node.stat.version { throw .badVersion }
        node.data = data
        node.stat.version &+= 1
        node.stat.mzxid = zxid
        node.stat.mtimeMs = timeMs
        node.stat.dataLength = Int32(clamping: data.count)
        nodes[path] = node
        return (node.stat, [.dataChanged(path: path)])
    }

    /// Deletes every ephemeral node of `owner` (its session ended), in path order, in one transaction.
    mutating func deleteEphemerals(of owner: Int64, zxid: Int64) -> [Change] {
        guard let paths = ephemeralsByOwner.removeValue(forKey: owner) else { return [] }
        var changes: [Change] = []
        for path in paths.sorted() {
            guard let node = nodes[path], let parentPath = CoordinatorPath.parent(of: path) else { continue }
            remove(path, node: node, parentPath: parentPath, zxid: zxid)
            changes.append(.deleted(path: path, parent: parentPath))
        }
        return changes
    }

    private mutating func remove(_ path: String, node: Node, parentPath: String, zxid: Int64) {
        nodes.removeValue(forKey: path)
        if node.stat.ephemeralOwner != 0 {
            ephemeralsByOwner[node.stat.ephemeralOwner]?.remove(path)
            if ephemeralsByOwner[node.stat.ephemeralOwner]?.isEmpty == true {
                ephemeralsByOwner.removeValue(forKey: node.stat.ephemeralOwner)
            }
        }
        if var parent = nodes[parentPath] {
            parent.children.remove(CoordinatorPath.name(of: path))
            parent.stat.cversion &+= 1
            parent.stat.pzxid = zxid
            parent.stat.numChildren = Int32(clamping: parent.children.count)
            nodes[parentPath] = parent
        }
    }
}
