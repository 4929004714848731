import NIOCore
import RivuletWire

/// A reading of both clocks, passed into every event of the group state machine: deadlines use the
/// monotonic reading, records and DescribeGroups the wall-clock one.
public struct GroupTime: Sendable, Hashable {
    /// Monotonic milliseconds (`EngineClock.monotonicMilliseconds()`).
    public var monotonicMs: Int64
    /// Wall-clock milliseconds since the epoch (`EngineClock.wallMilliseconds()`).
    public var wallMs: Int64

    public init(monotonicMs: Int64, wallMs: Int64) {
        self.monotonicMs = monotonicMs
        self.wallMs = wallMs
    }
}

/// A JoinGroup, version-independent (the coordinator fills in what old versions lack).
public struct JoinGroupEvent: Sendable, Hashable {
    /// "" for a member joining for the first time.
    public var memberId: String
    public var groupInstanceId: String?
    public var clientId: String
    public var clientHost: String
    public var sessionTimeoutMs: Int32
    /// The session timeout for JoinGroup v0, which has no rebalance timeout.
    public var rebalanceTimeoutMs: Int32
    public var protocolType: String
    public var protocols: [MemberProtocol]
    /// JoinGroup v4+ (KIP-394): a new dynamic member first gets MEMBER_ID_REQUIRED and its id.
    public var requireKnownMemberId: Bool
    /// JoinGroup v9+: a static leader rejoining a stable group is told to skip the assignment.
    public var supportsSkipAssignment: Bool
    /// The id the coordinator gives the member if it is new (`clientId-uuid`, made by the owner so
    /// that the state machine stays deterministic).
    public var newMemberId: String

    public init(memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, sessionTimeoutMs: Int32,
                rebalanceTimeoutMs: Int32, protocolType: String, protocols: [MemberProtocol], requireKnownMemberId: Bool,
                supportsSkipAssignment: Bool = false, newMemberId: String) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.clientHost = clientHost
        self.sessionTimeoutMs = sessionTimeoutMs
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.protocolType = protocolType
        self.protocols = protocols
        self.requireKnownMemberId = requireKnownMemberId
        self.supportsSkipAssignment = supportsSkipAssignment
        self.newMemberId = newMemberId
    }
}

/// A member as the leader sees it in its JoinGroup answer.
public struct JoinedMember: Sendable, Hashable {
    public var memberId: String
    public var groupInstanceId: String?
    /// The member's metadata for the chosen protocol (a consumer's subscription).
    public var metadata: ByteBuffer
}

/// The answer to a JoinGroup, version-independent.
public struct JoinGroupResult: Sendable, Hashable {
    public var error: KafkaErrorCode
    public var generationId: Int32 = -1
    public var protocolType: String?
    public var protocolName: String?
    public var leaderId: String = ""
    public var memberId: String = ""
    /// Every member with its metadata for the leader; empty for the others.
    public var members: [JoinedMember] = []
    /// The leader keeps its assignment (a static leader rejoining a stable group, JoinGroup v9+).
    public var skipAssignment = false

    public init(error: KafkaErrorCode, memberId: String = "") {
        self.error = error
        self.memberId = memberId
    }
}

/// The answer to a SyncGroup, version-independent.
public struct SyncGroupResult: Sendable, Hashable {
    public var error: KafkaErrorCode
    public var protocolType: String?
    public var protocolName: String?
    public var assignment: ByteBuffer = ByteBuffer()

    public init(error: KafkaErrorCode, protocolType: String? = nil, protocolName: String? = nil, assignment: ByteBuffer = ByteBuffer()) {
        self.error = error
        self.protocolType = protocolType
        self.protocolName = protocolName
        self.assignment = assignment
    }
}

/// A SyncGroup, version-independent.
public struct SyncGroupEvent: Sendable, Hashable {
    public var memberId: String
    public var groupInstanceId: String?
    public var generationId: Int32
    /// Checked against the group's when given (SyncGroup v5+).
    public var protocolType: String?
    public var protocolName: String?
    /// The leader's assignment, member id -> bytes (empty from followers).
    public var assignments: [String: ByteBuffer]

    public init(memberId: String, groupInstanceId: String?, generationId: Int32, protocolType: String? = nil,
                protocolName: String? = nil, assignments: [String: ByteBuffer] = [:]) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.generationId = generationId
        self.protocolType = protocolType
        self.protocolName = protocolName
        self.assignments = assignments
    }
}

/// What the group state machine asks its owner to do.
public enum GroupAction: Sendable, Hashable {
    /// Answer the JoinGroup waiting under `token`.
    case completeJoin(token: UInt64, JoinGroupResult)
    /// Answer the SyncGroup waiting under `token`.
    case completeSync(token: UInt64, SyncGroupResult)
    /// Append these records to the group's `__consumer_offsets` partition, before performing the
    /// actions that follow (so answers go out after the group's new state is written).
    case append([OffsetsTopicRecord])
}
