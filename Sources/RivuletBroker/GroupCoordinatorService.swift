import RivuletTransport
import RivuletWire

/// The seam where consumer groups plug into the broker (issue 7).
///
/// Without one, the broker answers FindCoordinator with COORDINATOR_NOT_AVAILABLE and does not
/// advertise the group APIs. With one, the broker advertises its `supportedApiVersions` as well,
/// routes every request of those APIs to `handle`, and asks `findCoordinator` where a group's (or a
/// transactional id's) coordinator is. The service may keep group state in an internal topic through
/// the broker's `ReplicaManager`.
public protocol GroupCoordinatorService: Sendable {
    /// The APIs and versions the service answers (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
    /// OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, ...).
    var supportedApiVersions: [ApiKey: ClosedRange<Int16>] { get }

    /// The broker that coordinates `key` (a group id for `keyType` 0, a transactional id for 1), or
    /// the error to answer with (COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS, ...).
    func findCoordinator(key: String, keyType: Int8) async -> Result<BrokerEndpoint, KafkaApiError>

    /// Answers one request of an API in `supportedApiVersions` (already checked against its range).
    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody?

    /// Called after the broker started (metadata and partitions are available).
    func start(broker: Broker) async throws

    /// Called when the broker shuts down, before its partitions close.
    func shutdown() async

    /// Called when a client connection closes (members whose connection is gone may leave sooner).
    func connectionClosed(connectionID: UInt64) async
}

extension GroupCoordinatorService {
    public func connectionClosed(connectionID: UInt64) async {}
}
