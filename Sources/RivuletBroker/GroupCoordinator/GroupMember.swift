import NIOCore

/// One protocol a member supports, with its metadata (for consumers: the subscription).
public struct MemberProtocol: Sendable, Hashable {
    public var name: String
    public var metadata: ByteBuffer

    public init(name: String, metadata: ByteBuffer) {
        self.name = name
        self.metadata = metadata
    }
}

/// A member of a classic group (Kafka's `MemberMetadata`), as the group's state machine keeps it.
public struct GroupMember: Sendable, Hashable {
    /// The id the coordinator gave the member (`clientId-uuid`).
    public var memberId: String
    /// `group.instance.id` of a static member (KIP-345), nil for a dynamic one.
    public var groupInstanceId: String?
    public var clientId: String
    public var clientHost: String
    /// `max.poll.interval.ms` for Java consumers: how long a rebalance waits for this member to rejoin.
    public var rebalanceTimeoutMs: Int32
    /// `session.timeout.ms`: how long the member lives without a heartbeat.
    public var sessionTimeoutMs: Int32
    /// The protocol type ("consumer" for consumers).
    public var protocolType: String
    /// The protocols the member supports, most preferred first.
    public var protocols: [MemberProtocol]
    /// The member's current assignment (bytes chosen by the leader), empty before the first sync.
    public var assignment: ByteBuffer = ByteBuffer()
    /// The token of the member's JoinGroup waiting for the join phase to end.
    public var awaitingJoin: UInt64?
    /// The token of the member's SyncGroup waiting for the leader's assignment.
    public var awaitingSync: UInt64?
    /// When the member's session ends without a heartbeat (monotonic milliseconds).
    public var sessionDeadlineMs: Int64
    /// Whether the member joined since the join phase began (to remove dynamic ones that did not).
    public var isStatic: Bool { groupInstanceId != nil }

    /// The metadata of `protocolName`, or empty when the member does not support it.
    public func metadata(for protocolName: String?) -> ByteBuffer {
        protocols.first { $0.name == protocolName }?.metadata ?? ByteBuffer()
    }

    /// Whether `protocols` equals what the member sent before (Kafka's `MemberMetadata.matches`).
    func matches(_ protocols: [MemberProtocol]) -> Bool { self.protocols == protocols }

    /// The member's first choice among `candidates` (Kafka's `MemberMetadata.vote`).
    func vote(among candidates: Set<String>) -> String? {
        protocols.first { candidates.contains($0.name) }?.name
    }
}
