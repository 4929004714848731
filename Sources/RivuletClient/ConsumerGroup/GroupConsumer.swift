import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization

/// A consumer in a consumer group (Kafka's `KafkaConsumer.subscribe`): it wraps a `Consumer` whose
/// assignment the group decides.
///
/// `subscribe(_:)` starts a membership task that finds the group's coordinator, joins (retrying
/// once with the member id after MEMBER_ID_REQUIRED, KIP-394), runs the chosen assignor when it is
/// the group's leader, syncs, positions new partitions at the group's committed offsets (or per
/// `auto.offset.reset` when none), and then heartbeats every `heartbeat.interval.ms`. It rejoins on
/// REBALANCE_IN_PROGRESS; after ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID its partitions are lost
/// (`onPartitionsLost`) and it joins again; FENCED_INSTANCE_ID (another process took this
/// `group.instance.id`) is fatal and thrown from `poll`. NOT_COORDINATOR and
/// COORDINATOR_NOT_AVAILABLE make it look the coordinator up again. The leader checks the
/// subscribed topics' partition counts every `metadata.max.age.ms` and rejoins when they changed.
///
/// With an eager assignor (range, roundrobin) every partition is revoked before each rebalance;
/// with cooperative-sticky only those that move (KIP-429): the leader withholds a moving partition
/// until its old owner has revoked it and rejoined, so a partition is never owned twice.
///
/// Offsets: with `enable.auto.commit` the positions of polled records are committed every
/// `auto.commit.interval.ms` (by the membership task), before partitions are revoked, and on
/// `close()`. `commitSync`/`commitAsync` commit on demand. `close()` leaves the group (a static
/// member does not: it keeps its partitions until its session times out, KIP-345).
///
/// Poll from one task at a time; everything else is thread-safe.
public final class GroupConsumer: Sendable {
    /// The consumer whose assignment the group manages: use it for `position`, `seek`,
    /// `highWatermark` and offsets lookups, not for `assign`.
    public let consumer: Consumer
    /// The group settings.
    public let groupConfig: ConsumerGroupConfig
    let listener: ConsumerRebalanceListener
    let channel: GroupCoordinatorChannel
    let membership = Mutex(Membership())
    /// Wakes the membership task (subscription change, close).
    let membershipWakeup = Wakeup()
    /// The rebalance protocol of the configured assignors: cooperative only when all are.
    let rebalanceProtocol: RebalanceProtocol

    /// The group state the membership task keeps.
    struct Membership {
        var subscription: [String] = []
        var memberId = ""
        var generationId: Int32 = -1
        var protocolName: String?
        var owned: Set<TopicAndPartition> = []
        var isRebalancing = true
        var rejoinRequested = false
        var rebalanceCount = 0
        var assignmentChangedAtNanoseconds: UInt64 = 0
        var fatal: ClientError?
        var closed = false
        var task: Task<Void, Never>?
        /// Offsets committed last by this member (auto commit skips unchanged ones).
        var committed: [TopicAndPartition: Int64] = [:]
        /// As the group's leader: the partition counts the last assignment was made with (a change
        /// makes the leader rejoin, so new partitions get assigned).
        var assignedPartitionCounts: [String: Int32]?
        /// The last error the membership task retried (for diagnostics).
        var lastError: ClientError?
        /// When the application last polled (`max.poll.interval.ms` counts from here).
        var lastPollNanoseconds: UInt64 = 0
        /// `poll` calls in progress: a poll waiting for records is not a stuck application.
        var pollsInProgress = 0
        /// Set when the member left the group because the application stopped polling; the next
        /// poll rejoins.
        var leftForPollTimeout = false
    }

    /// A group consumer over a shared cluster client (closing it leaves the client open).
    ///
    /// - Throws: `ClientError.invalidConfig` for a bad consumer or group setting.
    public init(cluster: ClusterClient, config: ConsumerConfig = ConsumerConfig(), groupConfig: ConsumerGroupConfig,
                listener: ConsumerRebalanceListener = ConsumerRebalanceListener()) throws(ClientError) {
        try groupConfig.validate()
        consumer = try Consumer(cluster: cluster, config: config)
        self.groupConfig = groupConfig
        self.listener = listener
        channel = GroupCoordinatorChannel(cluster: cluster, groupId: groupConfig.groupId)
        rebalanceProtocol = groupConfig.assignors.allSatisfy { $0.rebalanceProtocol == .cooperative } ? .cooperative : .eager
    }

    /// The cluster client.
    public var cluster: ClusterClient { consumer.cluster }

    // MARK: Subscription

    /// Subscribes to `topics` (replacing an earlier subscription) and starts, or rejoins, the group.
    /// Returns at once; the assignment arrives with the rebalance (see `membershipState`).
    ///
    /// - Throws: `.invalidConfig` for an empty list or an empty topic name, `.closed`.
    public func subscribe(_ topics: [String]) throws(ClientError) {
        let sorted = Array(Set(topics)).sorted()
        guard !sorted.isEmpty, !sorted.contains("") else {
            throw .invalidConfig(name: "topics", value: topics.joined(separator: ","), reason: "subscribe needs at least one topic name")
        }
        cluster.track(topics: sorted)
        let start = try membership.withLock { (state: inout Membership) throws(ClientError) -> Bool in
            if state.closed { throw .closed }
            let changed = state.subscription != sorted
            state.subscription = sorted
            if state.task == nil {
                state.lastPollNanoseconds = cluster.clock.monotonicNanoseconds()
                return true
            }
            if changed { state.rejoinRequested = true }
            return false
        }
        if start {
            let task = Task { await self.runMembership() }
            membership.withLock { $0.task = task }
        } else {
            membershipWakeup.signal()
        }
    }

    /// The subscribed topics, sorted.
    public var subscription: [String] { membership.withLock { $0.subscription } }

    /// The partitions this member owns now, sorted.
    public var assignment: [TopicAndPartition] { membership.withLock { Array($0.owned) }.sorted() }

    /// Member id, generation, protocol, assignment and rebalance progress.
    public var membershipState: GroupMembershipState {
        membership.withLock { state in
            GroupMembershipState(memberId: state.memberId, generationId: state.generationId, protocolName: state.protocolName,
                                 assignment: state.owned.sorted(), isRebalancing: state.isRebalancing,
                                 rebalanceCount: state.rebalanceCount, assignmentChangedAtNanoseconds: state.assignmentChangedAtNanoseconds)
        }
    }

    // MARK: Polling

    /// Returns the records fetched since the last poll of the assigned partitions, waiting up to
    /// `timeoutMs` (see `Consumer.poll`). Before the first assignment it waits and returns empty.
    ///
    /// - Throws: a fatal group error (FENCED_INSTANCE_ID, INCONSISTENT_GROUP_PROTOCOL,
    ///   INVALID_SESSION_TIMEOUT, GROUP_AUTHORIZATION_FAILED...) as `.broker`, what `Consumer.poll`
    ///   throws, `.closed`.
    public func poll(timeoutMs: Int64) async throws(ClientError) -> ConsumerRecords {
        membership.withLock { $0.pollsInProgress += 1 }
        defer {
            membership.withLock { state in
                state.pollsInProgress -= 1
                state.lastPollNanoseconds = cluster.clock.monotonicNanoseconds()
            }
        }
        if let fatal = notePoll() { throw fatal }
        let records = try await consumer.poll(timeoutMs: timeoutMs)
        if records.isEmpty, let fatal = membership.withLock({ $0.fatal }) { throw fatal }
        return records
    }

    /// Every record from now on (see `Consumer.records`); the sequence throws a fatal group error
    /// (FENCED_INSTANCE_ID...) and ends when the consumer is closed or the task cancelled.
    public func records(pollTimeoutMs: Int64 = 1000) -> ConsumerRecordSequence {
        ConsumerRecordSequence(consumer: consumer, pollTimeoutMs: pollTimeoutMs, check: { [self] in
            self.notePoll()
        })
    }

    /// Records that the application polls (`max.poll.interval.ms`); after a poll timeout made this
    /// member leave, asks to rejoin. Returns the fatal group error, if any.
    private func notePoll() -> ClientError? {
        let (fatal, rejoin) = membership.withLock { state -> (ClientError?, Bool) in
            state.lastPollNanoseconds = cluster.clock.monotonicNanoseconds()
            guard state.leftForPollTimeout else { return (state.fatal, false) }
            state.leftForPollTimeout = false
            state.rejoinRequested = true
            return (state.fatal, true)
        }
        if rejoin { membershipWakeup.signal() }
        return fatal
    }

    // MARK: Commits

    /// Commits `offsets` (nil: the positions of every owned partition) and waits, retrying
    /// coordinator moves until `default.api.timeout.ms`.
    ///
    /// - Throws: `.broker` with REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID when
    ///   the group has moved on (Kafka's `CommitFailedException`: the partitions may be another
    ///   member's now; poll again and let the rebalance finish), other broker errors, `.timedOut`,
    ///   `.closed`.
    public func commitSync(_ offsets: [TopicAndPartition: Int64]? = nil) async throws(ClientError) {
        let (identity, toCommit) = commitInput(offsets)
        try await channel.commit(toCommit, identity: identity, timeoutMs: cluster.config.defaultApiTimeoutMs)
        noteCommitted(toCommit)
    }

    /// Commits like `commitSync` in the background and calls `completion` with the outcome.
    public func commitAsync(_ offsets: [TopicAndPartition: Int64]? = nil,
                            completion: @escaping @Sendable (Result<[TopicAndPartition: Int64], ClientError>) -> Void = { _ in }) {
        let (identity, toCommit) = commitInput(offsets)
        let timeoutMs = cluster.config.defaultApiTimeoutMs
        Task {
            do throws(ClientError) {
                try await self.channel.commit(toCommit, identity: identity, timeoutMs: timeoutMs)
                self.noteCommitted(toCommit)
                completion(.success(toCommit))
            } catch {
                completion(.failure(error))
            }
        }
    }

    /// The group's committed offsets for `partitions` (partitions without one are absent).
    public func committed(_ partitions: [TopicAndPartition]) async throws(ClientError) -> [TopicAndPartition: Int64] {
        try await channel.fetchCommitted(partitions, timeoutMs: cluster.config.defaultApiTimeoutMs).mapValues(\.offset)
    }

    func commitInput(_ offsets: [TopicAndPartition: Int64]?) -> (CommitIdentity, [TopicAndPartition: Int64]) {
        let (identity, owned) = membership.withLock { state in
            (CommitIdentity(generationId: state.generationId, memberId: state.memberId, groupInstanceId: groupConfig.groupInstanceId),
             state.owned)
        }
        if let offsets { return (identity, offsets) }
        return (identity, consumer.fetcher.currentPositions().filter { owned.contains($0.key) })
    }

    func noteCommitted(_ offsets: [TopicAndPartition: Int64]) {
        membership.withLock { state in
            for (partition, offset) in offsets { state.committed[partition] = offset }
        }
    }

    // MARK: Closing

    /// Leaves the group and stops: commits the positions (with auto commit), reports the owned
    /// partitions revoked, sends LeaveGroup (not for a static member), closes the consumer.
    /// Bounded by `default.api.timeout.ms` per request; errors are swallowed (the group's session
    /// timeout cleans up after a member that could not say goodbye).
    public func close() async {
        guard let task = beginClose() else {
            await consumer.close()
            return
        }
        await channel.abortInFlight()
        await task.value
        let (identity, owned, generationValid) = membership.withLock { state in
            (CommitIdentity(generationId: state.generationId, memberId: state.memberId, groupInstanceId: groupConfig.groupInstanceId),
             state.owned, state.generationId >= 0 && !state.memberId.isEmpty)
        }
        let timeoutMs = cluster.config.defaultApiTimeoutMs
        if !owned.isEmpty {
            let positions = consumer.fetcher.removePartitions(owned)
            if generationValid {
                if groupConfig.enableAutoCommit {
                    try? await channel.commit(changedOnly(positions), identity: identity, timeoutMs: timeoutMs)
                }
                await listener.onPartitionsRevoked(owned.sorted())
            } else {
                await listener.onPartitionsLost(owned.sorted())
            }
            membership.withLock { $0.owned = [] }
        }
        await sendLeaveGroup(memberId: identity.memberId, reason: "the consumer is being closed",
                             timeoutMs: min(timeoutMs, cluster.config.requestTimeoutMs))
        await channel.close()
        await consumer.close()
    }

    /// Sends LeaveGroup for `memberId` (a dynamic member only: a static member never leaves, its
    /// session timeout does), retrying coordinator moves for at most `timeoutMs`; errors are swallowed.
    func sendLeaveGroup(memberId: String, reason: String, timeoutMs: Int64) async {
        guard groupConfig.groupInstanceId == nil, !memberId.isEmpty else { return }
        _ = try? await channel.retrying(operation: "LeaveGroup", timeoutMs: timeoutMs) {
            () async throws(ClientError) -> GroupCoordinatorChannel.RetryStep<Void> in
            let response = try await channel.send(LeaveGroupRequest(
                groupId: groupConfig.groupId, memberId: memberId,
                members: [.init(memberId: memberId, groupInstanceId: nil, reason: reason)]))
            let code = response.errorCode != 0 ? response.errorCode : (response.members.first?.errorCode ?? 0)
            return code == 0 ? .done(()) : GroupCoordinatorChannel.step(for: code, message: "LeaveGroup")
        }
    }

    /// Marks the consumer closed; returns the membership task to wait for (nil when none ran).
    private func beginClose() -> Task<Void, Never>? {
        let task = membership.withLock { state -> Task<Void, Never>? in
            state.closed = true
            defer { state.task = nil }
            return state.task
        }
        membershipWakeup.signal()
        return task
    }

    /// Stops the member without leaving the group or committing, as if its process hung: no more
    /// heartbeats, fetches or requests (tests and the harness's "kill consumer" use it; the group
    /// expires the member after `session.timeout.ms`).
    public func abandon() async {
        let task = membership.withLock { state -> Task<Void, Never>? in
            state.closed = true
            defer { state.task = nil }
            return state.task
        }
        membershipWakeup.signal()
        await channel.close()
        await task?.value
        await consumer.close()
    }

    /// The offsets in `positions` that differ from the last ones committed.
    func changedOnly(_ positions: [TopicAndPartition: Int64]) -> [TopicAndPartition: Int64] {
        membership.withLock { state in positions.filter { state.committed[$0.key] != $0.value } }
    }
}
