import Logging
import NIOCore
import RivuletCore
import RivuletWire

/// A group as DescribeGroups and `rivulet groups` show it.
public struct GroupDescription: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        /// The member's metadata for the chosen protocol (a consumer's subscription).
        public var metadata: ByteBuffer
        /// The member's assignment (empty until the group is stable).
        public var assignment: ByteBuffer
    }

    public var groupId: String
    /// Kafka's state name; "Dead" for a group the coordinator does not know.
    public var state: String
    public var protocolType: String
    /// The chosen protocol (for consumers: the assignor), "" when none.
    public var protocolName: String
    public var generationId: Int32
    public var leaderId: String
    public var members: [Member]
}

/// A group as ListGroups shows it.
public struct GroupListing: Sendable, Hashable {
    public var groupId: String
    public var protocolType: String
    public var state: GroupState
}

/// The group coordinator of one broker: owns the classic groups whose `__consumer_offsets`
/// partitions this broker leads, feeds their events to `ClassicGroup` state machines, performs the
/// actions (answers waiting JoinGroup/SyncGroup requests, appends records through the backend),
/// and runs the deadlines (sessions, join phases) on the injected `EngineClock`.
///
/// **Isolation**: an actor (control plane). JoinGroup and SyncGroup calls suspend until their
/// group's rebalance answers them; everything else answers at once or after an append.
/// **Loading**: `loadPartition` replays a partition's records (offsets and group snapshots), so
/// restarting a broker restores committed offsets and stable groups; until a partition is loaded
/// its groups get COORDINATOR_LOAD_IN_PROGRESS, and groups of partitions this broker does not lead
/// get NOT_COORDINATOR.
public actor GroupCoordinator {
    public nonisolated let config: GroupCoordinatorConfig
    public nonisolated let clock: any EngineClock
    let backend: any GroupCoordinatorBackend
    let logger: Logger
    private var random: SeededGenerator

    private var groups: [String: ClassicGroup] = [:]
    private enum PartitionLoad { case loading, loaded }
    private var partitions: [Int32: PartitionLoad] = [:]

    private var nextToken: UInt64 = 1
    private var joinWaiters: [UInt64: CheckedContinuation<JoinGroupResult, Never>] = [:]
    private var syncWaiters: [UInt64: CheckedContinuation<SyncGroupResult, Never>] = [:]
    private var finishedJoins: [UInt64: JoinGroupResult] = [:]
    private var finishedSyncs: [UInt64: SyncGroupResult] = [:]

    private var timerTask: Task<Void, Never>?
    private var timerDeadlineMs: Int64?
    private var isShutDown = false

    /// - Parameters:
    ///   - randomSeed: seeds the member ids' random part (`clientId-uuid`), so a simulation replays.
    public init(config: GroupCoordinatorConfig = GroupCoordinatorConfig(), clock: any EngineClock,
                backend: any GroupCoordinatorBackend, randomSeed: UInt64, logger: Logger = Logger(label: "rivulet.groups")) {
        self.config = config
        self.clock = clock
        self.backend = backend
        self.logger = logger
        random = SeededGenerator(seed: randomSeed)
    }

    private var now: GroupTime { GroupTime(monotonicMs: clock.monotonicMilliseconds(), wallMs: clock.wallMilliseconds()) }

    // MARK: Partitions

    /// Becomes coordinator of the groups in `partition`: replays its records. Requests for those
    /// groups wait with COORDINATOR_LOAD_IN_PROGRESS meanwhile. Throws when the partition cannot be read.
    public func loadPartition(_ partition: Int32) async throws(GroupStoreError) {
        guard partitions[partition] == nil else { return }
        partitions[partition] = .loading
        let records: [OffsetsTopicRecord]
        do throws(GroupStoreError) {
            records = try await backend.readOffsetsRecords(partition: partition)
        } catch {
            partitions.removeValue(forKey: partition)
            throw error
        }
        let time = now
        var loaded: [String: ClassicGroup] = [:]
        for record in records {
            var group = loaded[record.group] ?? ClassicGroup(groupId: record.group, nowWallMs: time.wallMs)
            group.replay(record, now: time)
            loaded[record.group] = group
        }
        for (id, group) in loaded where !group.canBeForgotten {
            groups[id] = group
            noteDeadline(group.nextDeadlineMs)
        }
        partitions[partition] = .loaded
        logger.info("loaded group coordinator partition", metadata: [
            "partition": "\(partition)", "records": "\(records.count)", "groups": "\(loaded.values.filter { !$0.canBeForgotten }.count)",
        ])
    }

    /// Loads every partition of `__consumer_offsets` (a single broker leads them all).
    public func loadAllPartitions() async throws(GroupStoreError) {
        for partition in 0 ..< config.offsetsTopicNumPartitions { try await loadPartition(partition) }
    }

    /// Stops coordinating the groups of `partition` (its leadership moved): their waiting requests
    /// get NOT_COORDINATOR and their state is dropped.
    public func unloadPartition(_ partition: Int32) {
        partitions.removeValue(forKey: partition)
        for (id, group) in groups where config.offsetsPartition(for: id) == partition {
            fail(group, with: .notCoordinator)
            groups.removeValue(forKey: id)
        }
    }

    /// Follows a leadership change of `__consumer_offsets`: unloads the partitions `ledElsewhere`
    /// (another broker leads them now; their groups' waiting requests get NOT_COORDINATOR) and returns
    /// those of `led` that are neither loaded nor loading, for the caller to load.
    public func reconcile(led: Set<Int32>, ledElsewhere: Set<Int32>) -> [Int32] {
        for partition in Array(partitions.keys) where ledElsewhere.contains(partition) { unloadPartition(partition) }
        return led.filter { partitions[$0] == nil }.sorted()
    }

    /// The partitions loaded.
    public var loadedPartitions: [Int32] { partitions.filter { $0.value == .loaded }.keys.sorted() }

    /// Stops timers and answers every waiting request with NOT_COORDINATOR.
    public func shutdown() {
        isShutDown = true
        timerTask?.cancel()
        timerTask = nil
        for group in groups.values { fail(group, with: .notCoordinator) }
        for (token, waiter) in joinWaiters { waiter.resume(returning: JoinGroupResult(error: .notCoordinator)); joinWaiters[token] = nil }
        for (token, waiter) in syncWaiters { waiter.resume(returning: SyncGroupResult(error: .notCoordinator)); syncWaiters[token] = nil }
    }

    private func fail(_ group: ClassicGroup, with error: KafkaErrorCode) {
        for member in group.members.values {
            if let token = member.awaitingJoin { complete(join: token, JoinGroupResult(error: error, memberId: member.memberId)) }
            if let token = member.awaitingSync { complete(sync: token, SyncGroupResult(error: error)) }
        }
    }

    /// The error for a group this coordinator cannot serve now, or nil.
    func coordinatorError(for groupId: String) -> KafkaErrorCode? {
        if isShutDown { return .notCoordinator }
        switch partitions[config.offsetsPartition(for: groupId)] {
        case .loaded: return nil
        case .loading: return .coordinatorLoadInProgress
        case nil: return .notCoordinator
        }
    }

    /// Whether this coordinator serves `groupId` (FindCoordinator).
    public func isCoordinator(for groupId: String) -> Bool { coordinatorError(for: groupId) == nil }

    // MARK: Events

    /// JoinGroup: validates what the state machine does not (group id, session timeout, metadata
    /// size), then waits for the rebalance to answer.
    public func joinGroup(groupId: String, _ request: JoinGroupEvent) async -> JoinGroupResult {
        if groupId.isEmpty { return JoinGroupResult(error: .invalidGroupId, memberId: request.memberId) }
        if let error = coordinatorError(for: groupId) { return JoinGroupResult(error: error, memberId: request.memberId) }
        if request.sessionTimeoutMs < config.groupMinSessionTimeoutMs || request.sessionTimeoutMs > config.groupMaxSessionTimeoutMs {
            return JoinGroupResult(error: .invalidSessionTimeout, memberId: request.memberId)
        }
        if request.protocols.reduce(0, { $0 + $1.metadata.readableBytes + $1.name.utf8.count }) > config.groupMemberMetadataBytesMax {
            return JoinGroupResult(error: .messageTooLarge, memberId: request.memberId)
        }
        var event = request
        event.newMemberId = "\(request.clientId)-\(randomUUID())"
        let token = allocateToken()
        var group = groups[groupId] ?? ClassicGroup(groupId: groupId, nowWallMs: clock.wallMilliseconds())
        let actions = group.join(event, token: token, now: now, config: config)
        store(group)
        await perform(actions, groupId: groupId)
        if let result = finishedJoins.removeValue(forKey: token) { return result }
        return await withCheckedContinuation { joinWaiters[token] = $0 }
    }

    /// SyncGroup: followers wait for the leader's assignment.
    public func syncGroup(groupId: String, _ request: SyncGroupEvent) async -> SyncGroupResult {
        if groupId.isEmpty { return SyncGroupResult(error: .invalidGroupId) }
        if let error = coordinatorError(for: groupId) { return SyncGroupResult(error: error) }
        guard var group = groups[groupId] else { return SyncGroupResult(error: .unknownMemberId) }
        let token = allocateToken()
        let actions = group.sync(request, token: token, now: now)
        store(group)
        await perform(actions, groupId: groupId)
        if let result = finishedSyncs.removeValue(forKey: token) { return result }
        return await withCheckedContinuation { syncWaiters[token] = $0 }
    }

    /// Heartbeat.
    public func heartbeat(groupId: String, memberId: String, groupInstanceId: String?, generationId: Int32) -> KafkaErrorCode {
        if groupId.isEmpty { return .invalidGroupId }
        if let error = coordinatorError(for: groupId) { return error }
        guard var group = groups[groupId] else { return .unknownMemberId }
        let error = group.heartbeat(memberId: memberId, groupInstanceId: groupInstanceId, generationId: generationId, now: now)
        store(group)
        return error
    }

    /// LeaveGroup of several members (v3+; older versions send one). Returns the top-level error
    /// and one error per member.
    public func leaveGroup(groupId: String, members: [(memberId: String, groupInstanceId: String?)]) async
        -> (error: KafkaErrorCode, memberErrors: [KafkaErrorCode]) {
        if groupId.isEmpty { return (.invalidGroupId, []) }
        if let error = coordinatorError(for: groupId) { return (error, []) }
        guard var group = groups[groupId] else { return (.unknownMemberId, members.map { _ in .unknownMemberId }) }
        var errors: [KafkaErrorCode] = []
        var actions: [GroupAction] = []
        for member in members {
            let (error, more) = group.leave(memberId: member.memberId, groupInstanceId: member.groupInstanceId, now: now)
            errors.append(error)
            actions += more
        }
        store(group)
        await perform(actions, groupId: groupId)
        return (.noError, errors)
    }

    /// OffsetCommit: validates the member and each partition, appends the valid commits and applies
    /// them once written. Returns an error per partition.
    public func commitOffsets(groupId: String, memberId: String, groupInstanceId: String?, generationId: Int32,
                              offsets: [(GroupTopicPartition, CommittedOffset)]) async -> [GroupTopicPartition: KafkaErrorCode] {
        func all(_ error: KafkaErrorCode) -> [GroupTopicPartition: KafkaErrorCode] {
            Dictionary(offsets.map { ($0.0, error) }, uniquingKeysWith: { first, _ in first })
        }
        if let error = coordinatorError(for: groupId) { return all(error) }
        if let group = groups[groupId] {
            let error = group.validateOffsetCommit(memberId: memberId, groupInstanceId: groupInstanceId, generationId: generationId)
            if error != .noError { return all(error) }
        } else if generationId >= 0 || !memberId.isEmpty {
            // A member of a group this coordinator does not know.
            return all(generationId >= 0 ? .illegalGeneration : .unknownMemberId)
        }
        var results: [GroupTopicPartition: KafkaErrorCode] = [:]
        var records: [OffsetsTopicRecord] = []
        for (partition, committed) in offsets {
            if committed.metadata.utf8.count > config.offsetMetadataMaxBytes {
                results[partition] = .offsetMetadataTooLarge
            } else if await !backend.partitionExists(topic: partition.topic, partition: partition.partition) {
                results[partition] = .unknownTopicOrPartition
            } else {
                records.append(.offsetCommit(group: groupId, topic: partition.topic, partition: partition.partition,
                                             value: OffsetCommitValue(offset: committed.offset, leaderEpoch: committed.leaderEpoch,
                                                                      metadata: committed.metadata,
                                                                      commitTimestamp: committed.commitTimestampMs, expireTimestamp: -1)))
                results[partition] = .noError
            }
        }
        guard !records.isEmpty else { return results }
        do throws(GroupStoreError) {
            try await backend.appendOffsetsRecords(records, partition: config.offsetsPartition(for: groupId))
        } catch {
            let code = Self.errorCode(for: error)
            for case let .offsetCommit(_, topic, partition, _) in records {
                results[GroupTopicPartition(topic: topic, partition: partition)] = code
            }
            return results
        }
        var group = groups[groupId] ?? ClassicGroup(groupId: groupId, nowWallMs: clock.wallMilliseconds())
        let time = now
        for record in records { group.replay(record, now: time) }
        store(group)
        return results
    }

    /// OffsetFetch: the committed offsets of `partitions` (nil: every partition with a commit);
    /// partitions without a commit answer offset -1.
    public func fetchOffsets(groupId: String, partitions requested: [GroupTopicPartition]?)
        -> (error: KafkaErrorCode, offsets: [(GroupTopicPartition, CommittedOffset?)]) {
        if let error = coordinatorError(for: groupId) { return (error, requested?.map { ($0, nil) } ?? []) }
        let committed = groups[groupId]?.offsets ?? [:]
        if let requested {
            return (.noError, requested.map { ($0, committed[$0]) })
        }
        return (.noError, committed.keys.sorted().map { ($0, committed[$0]) })
    }

    /// DescribeGroups of one group; unknown groups are described as Dead with no members.
    public func describeGroup(_ groupId: String) -> (error: KafkaErrorCode, description: GroupDescription) {
        var description = GroupDescription(groupId: groupId, state: GroupState.dead.kafkaName, protocolType: "", protocolName: "",
                                           generationId: -1, leaderId: "", members: [])
        if let error = coordinatorError(for: groupId) { return (error, description) }
        guard let group = groups[groupId] else { return (.noError, description) }
        description.state = group.state.kafkaName
        description.protocolType = group.protocolType ?? ""
        description.generationId = group.generationId
        description.leaderId = group.leaderId ?? ""
        if group.state == .stable || group.state == .completingRebalance {
            description.protocolName = group.protocolName ?? ""
        }
        description.members = group.orderedMembers.map { member in
            GroupDescription.Member(memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                                    clientHost: member.clientHost,
                                    metadata: group.state == .stable ? member.metadata(for: group.protocolName) : ByteBuffer(),
                                    assignment: group.state == .stable ? member.assignment : ByteBuffer())
        }
        return (.noError, description)
    }

    /// ListGroups: every group of the loaded partitions (the error is COORDINATOR_LOAD_IN_PROGRESS
    /// while a partition loads, as in Kafka).
    public func listGroups() -> (error: KafkaErrorCode, groups: [GroupListing]) {
        let loading = partitions.values.contains(.loading)
        let listed = groups.values.filter { $0.state != .dead }.sorted { $0.groupId < $1.groupId }.map {
            GroupListing(groupId: $0.groupId, protocolType: $0.protocolType ?? "", state: $0.state)
        }
        return (loading ? .coordinatorLoadInProgress : .noError, listed)
    }

    /// DeleteGroups: deletes each empty group (NON_EMPTY_GROUP with members, GROUP_ID_NOT_FOUND
    /// when unknown) by writing tombstones for its offsets and metadata.
    public func deleteGroups(_ groupIds: [String]) async -> [(String, KafkaErrorCode)] {
        var results: [(String, KafkaErrorCode)] = []
        for groupId in groupIds {
            if let error = coordinatorError(for: groupId) {
                results.append((groupId, error))
                continue
            }
            guard var group = groups[groupId] else {
                results.append((groupId, .groupIdNotFound))
                continue
            }
            let (error, tombstones) = group.delete(now: now)
            guard error == .noError else {
                results.append((groupId, error))
                continue
            }
            do throws(GroupStoreError) {
                try await backend.appendOffsetsRecords(tombstones, partition: config.offsetsPartition(for: groupId))
                groups.removeValue(forKey: groupId)
                results.append((groupId, .noError))
            } catch {
                results.append((groupId, Self.errorCode(for: error)))
            }
        }
        return results
    }

    /// The committed offsets of a group (for tools and tests).
    public func committedOffsets(groupId: String) -> [GroupTopicPartition: CommittedOffset] {
        groups[groupId]?.offsets ?? [:]
    }

    /// A group's state machine (for tests).
    public func group(_ groupId: String) -> ClassicGroup? { groups[groupId] }

    // MARK: Time

    /// Runs every deadline that is due (the timer does this by itself; tests on a manual clock call
    /// it after advancing the clock).
    public func expireDue() async {
        let time = now
        var due: [(String, [GroupAction])] = []
        for (id, var group) in groups {
            guard let deadline = group.nextDeadlineMs, deadline <= time.monotonicMs else { continue }
            let actions = group.expire(at: time)
            groups[id] = group
            due.append((id, actions))
        }
        for (id, actions) in due {
            await perform(actions, groupId: id)
            if let group = groups[id], group.canBeForgotten, group.state != .dead { groups.removeValue(forKey: id) }
        }
        rescheduleTimer()
    }

    private func store(_ group: ClassicGroup) {
        groups[group.groupId] = group
        noteDeadline(group.nextDeadlineMs)
    }

    /// Wakes the timer earlier when a group now has an earlier deadline.
    private func noteDeadline(_ deadline: Int64?) {
        guard let deadline, !isShutDown else { return }
        if let current = timerDeadlineMs, current <= deadline, timerTask != nil { return }
        startTimer(at: deadline)
    }

    private func rescheduleTimer() {
        timerTask?.cancel()
        timerTask = nil
        timerDeadlineMs = nil
        guard !isShutDown, let next = groups.values.compactMap(\.nextDeadlineMs).min() else { return }
        startTimer(at: next)
    }

    private func startTimer(at deadline: Int64) {
        timerTask?.cancel()
        timerDeadlineMs = deadline
        let clock = clock
        timerTask = Task { [weak self] in
            let nowMs = clock.monotonicMilliseconds()
            if deadline > nowMs {
                do {
                    try await clock.sleep(nanoseconds: UInt64(deadline - nowMs) * 1_000_000)
                } catch {
                    return
                }
            }
            guard !Task.isCancelled else { return }
            await self?.timerFired(deadline: deadline)
        }
    }

    private func timerFired(deadline: Int64) async {
        guard timerDeadlineMs == deadline else { return }
        timerTask = nil
        timerDeadlineMs = nil
        await expireDue()
    }

    // MARK: Actions

    private func perform(_ actions: [GroupAction], groupId: String) async {
        for action in actions {
            switch action {
            case let .completeJoin(token, result):
                complete(join: token, result)
            case let .completeSync(token, result):
                complete(sync: token, result)
            case let .append(records):
                do throws(GroupStoreError) {
                    try await backend.appendOffsetsRecords(records, partition: config.offsetsPartition(for: groupId))
                } catch {
                    // Membership still works from memory; only a restart would not see this state.
                    logger.warning("could not write group metadata", metadata: ["group": "\(groupId)", "error": "\(error)"])
                }
            }
        }
    }

    private func complete(join token: UInt64, _ result: JoinGroupResult) {
        if let waiter = joinWaiters.removeValue(forKey: token) {
            waiter.resume(returning: result)
        } else {
            finishedJoins[token] = result
        }
    }

    private func complete(sync token: UInt64, _ result: SyncGroupResult) {
        if let waiter = syncWaiters.removeValue(forKey: token) {
            waiter.resume(returning: result)
        } else {
            finishedSyncs[token] = result
        }
    }

    private func allocateToken() -> UInt64 {
        defer { nextToken &+= 1 }
        return nextToken
    }

    /// A random version-4 UUID in Java's text form (what Kafka appends to member ids).
    private func randomUUID() -> String {
        var high = random.next()
        var low = random.next()
        high = (high & ~0xF000) | 0x4000
        low = (low & ~(0xC << 60)) | (0x8 << 60)
        let hex = String(high, radix: 16).leftPadded(to: 16) + String(low, radix: 16).leftPadded(to: 16)
        let characters = Array(hex)
        return [0 ..< 8, 8 ..< 12, 12 ..< 16, 16 ..< 20, 20 ..< 32].map { String(characters[$0]) }.joined(separator: "-")
    }

    /// Kafka's mapping of append failures to commit errors.
    static func errorCode(for error: GroupStoreError) -> KafkaErrorCode {
        switch error {
        case .notLeader: .notCoordinator
        case .tooLarge: .invalidCommitOffsetSize
        case .unavailable: .coordinatorNotAvailable
        }
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
