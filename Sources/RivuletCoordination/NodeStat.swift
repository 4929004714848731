/// A node's metadata, field for field ZooKeeper's `Stat`.
///
/// Zxids are the ensemble's transaction ids: every write gets the next one, so they order all changes.
/// Times are wall-clock milliseconds since the Unix epoch (the in-memory ensemble takes them from its
/// `EngineClock`).
public struct NodeStat: Sendable, Hashable, CustomStringConvertible {
    /// Zxid of the transaction that created the node.
    public var czxid: Int64
    /// Zxid of the transaction that last changed the node's data.
    public var mzxid: Int64
    /// Creation time, milliseconds since the epoch.
    public var ctimeMs: Int64
    /// Last data change time, milliseconds since the epoch.
    public var mtimeMs: Int64
    /// Number of data changes; the value conditional `setData`/`delete` compare against.
    public var version: Int32
    /// Number of changes to the children (each create or delete of a child adds one).
    public var cversion: Int32
    /// Number of ACL changes (always 0 here: ACLs are not managed by Rivulet).
    public var aversion: Int32
    /// The owning session id for an ephemeral node, 0 for a persistent one.
    public var ephemeralOwner: Int64
    /// Length of the node's data in bytes.
    public var dataLength: Int32
    /// Number of children.
    public var numChildren: Int32
    /// Zxid of the transaction that last added or removed a child.
    public var pzxid: Int64

    /// Creates a stat from its fields (as decoded from a ZooKeeper reply or stamped by the ensemble).
    public init(
        czxid: Int64, mzxid: Int64, ctimeMs: Int64, mtimeMs: Int64, version: Int32, cversion: Int32,
        aversion: Int32, ephemeralOwner: Int64, dataLength: Int32, numChildren: Int32, pzxid: Int64
    ) {
        self.czxid = czxid
        self.mzxid = mzxid
        self.ctimeMs = ctimeMs
        self.mtimeMs = mtimeMs
        self.version = version
        self.cversion = cversion
        self.aversion = aversion
        self.ephemeralOwner = ephemeralOwner
        self.dataLength = dataLength
        self.numChildren = numChildren
        self.pzxid = pzxid
    }

    /// Whether the node is ephemeral (owned by a session).
    public var isEphemeral: Bool { ephemeralOwner != 0 }

    public var description: String {
        "Stat(czxid: \(czxid), mzxid: \(mzxid), version: \(version), cversion: \(cversion), "
            + "ephemeralOwner: \(ephemeralOwner), dataLength: \(dataLength), numChildren: \(numChildren), pzxid: \(pzxid))"
    }
}
