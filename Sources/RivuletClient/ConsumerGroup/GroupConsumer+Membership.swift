import NIOCore
import RivuletCore
import RivuletTransport
import RivuletWire

/// The membership task of a `GroupConsumer`: join, sync, heartbeat, auto commit, rejoin. One task
/// per consumer owns these steps, so rebalances never overlap; `poll` only reads the assignment.
extension GroupConsumer {
    /// The outcome of one join attempt.
    enum JoinOutcome {
        /// Joined and synced: the assignment is applied.
        case joined
        /// Join again at once (MEMBER_ID_REQUIRED, or a rebalance started during sync).
        case again
        /// Join again after the retry backoff.
        case backoff(ClientError)
        /// Stop: the group refused this member for good.
        case fatal(ClientError)
    }

    /// What a heartbeat answered.
    enum HeartbeatOutcome {
        case ok
        case rejoin
        case lost(resetMemberId: Bool)
        case retry
        case fatal(ClientError)
    }

    var isClosed: Bool { membership.withLock { $0.closed } }

    /// The membership loop (runs until `close()`, `abandon()` or a fatal error).
    func runMembership() async {
        let clock = cluster.clock
        var needJoin = true
        var attempt = 0
        var nextHeartbeat: UInt64 = 0
        let autoCommitNanoseconds = UInt64(max(groupConfig.autoCommitIntervalMs, 1)) * 1_000_000
        var nextAutoCommit = clock.monotonicNanoseconds() &+ autoCommitNanoseconds
        // At most ten metadata checks a second, whatever metadata.max.age.ms says.
        let metadataCheckNanoseconds = UInt64(max(cluster.config.metadataMaxAgeMs, 100)) * 1_000_000
        // Immediate rejoins in a row (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS
        // at sync): after a few, back off, so a coordinator that keeps answering so is not flooded.
        var immediateRejoins = 0
        var nextMetadataCheck = clock.monotonicNanoseconds() &+ metadataCheckNanoseconds
        let maxPollIntervalNanoseconds = UInt64(max(groupConfig.maxPollIntervalMs, 1)) * 1_000_000
        while !isClosed {
            if membership.withLock({ $0.leftForPollTimeout }) {
                // Out of the group until the application polls again (`notePoll` asks to rejoin).
                needJoin = false
                await membershipWakeup.wait(clock: clock, deadlineNanoseconds: clock.monotonicNanoseconds() &+ 1_000_000_000)
                continue
            }
            if needJoin || takeRejoinRequest() {
                membership.withLock { $0.isRebalancing = true }
                switch await joinOnce() {
                case .joined:
                    attempt = 0
                    immediateRejoins = 0
                    needJoin = takeRejoinRequest()
                    if !needJoin { membership.withLock { $0.isRebalancing = false } }
                    nextHeartbeat = clock.monotonicNanoseconds() &+ UInt64(groupConfig.heartbeatIntervalMs) * 1_000_000
                case .again:
                    needJoin = true
                    immediateRejoins += 1
                    if immediateRejoins > 3, !isClosed {
                        await membershipWakeup.wait(clock: clock, deadlineNanoseconds: clock.monotonicNanoseconds()
                            &+ cluster.retryBackoffNanoseconds(attempt: immediateRejoins - 3))
                    }
                case let .backoff(error):
                    needJoin = true
                    attempt += 1
                    if isClosed { break }
                    membership.withLock { $0.lastError = error }
                    await membershipWakeup.wait(clock: clock,
                                                deadlineNanoseconds: clock.monotonicNanoseconds() &+ cluster.retryBackoffNanoseconds(attempt: attempt))
                case let .fatal(error):
                    await fail(error)
                    return
                }
                continue
            }
            var wakeAt = min(nextHeartbeat, nextMetadataCheck, pollDeadline(maxPollIntervalNanoseconds))
            if groupConfig.enableAutoCommit { wakeAt = min(wakeAt, nextAutoCommit) }
            await membershipWakeup.wait(clock: clock, deadlineNanoseconds: wakeAt)
            if isClosed { break }
            if membership.withLock({ $0.rejoinRequested }) { continue }
            var now = clock.monotonicNanoseconds()
            if now >= pollDeadline(maxPollIntervalNanoseconds) {
                await leaveForPollTimeout()
                continue
            }
            if groupConfig.enableAutoCommit, now >= nextAutoCommit {
                await autoCommit()
                now = clock.monotonicNanoseconds()
                nextAutoCommit = now &+ autoCommitNanoseconds
            }
            if now >= nextMetadataCheck {
                nextMetadataCheck = now &+ metadataCheckNanoseconds
                if await partitionCountsChanged() {
                    needJoin = true
                    continue
                }
            }
            guard now >= nextHeartbeat else { continue }
            switch await heartbeatOnce() {
            case .ok:
                nextHeartbeat = clock.monotonicNanoseconds() &+ UInt64(groupConfig.heartbeatIntervalMs) * 1_000_000
            case .rejoin:
                needJoin = true
            case let .lost(resetMemberId):
                await loseAll(resetMemberId: resetMemberId)
                needJoin = true
            case .retry:
                nextHeartbeat = clock.monotonicNanoseconds() &+ max(cluster.retryBackoffNanoseconds(attempt: 1), 1_000_000)
            case let .fatal(error):
                await fail(error)
                return
            }
        }
    }

    /// When the application will have gone `max.poll.interval.ms` without polling (never while a
    /// poll is in progress).
    private func pollDeadline(_ maxPollIntervalNanoseconds: UInt64) -> UInt64 {
        membership.withLock { state in
            state.pollsInProgress > 0 ? UInt64.max : state.lastPollNanoseconds &+ maxPollIntervalNanoseconds
        }
    }

    /// Kafka's poll timeout: the application has not polled for `max.poll.interval.ms`, so it is
    /// presumed stuck and this member leaves the group, letting the others take its partitions. Its
    /// partitions are revoked (not committed), a dynamic member sends LeaveGroup (a static one lets
    /// its session expire), and the next poll rejoins as a new member.
    private func leaveForPollTimeout() async {
        let memberId = await loseAll(resetMemberId: true, asRevoked: true)
        membership.withLock { state in
            state.leftForPollTimeout = true
            state.isRebalancing = false
        }
        await sendLeaveGroup(memberId: memberId, reason: "consumer poll timeout has expired (max.poll.interval.ms)",
                             timeoutMs: cluster.config.requestTimeoutMs)
    }

    private func takeRejoinRequest() -> Bool {
        membership.withLock { state in
            defer { state.rejoinRequested = false }
            return state.rejoinRequested
        }
    }

    /// Records a fatal error: the partitions are lost, `poll` throws it from now on.
    private func fail(_ error: ClientError) async {
        membership.withLock { state in
            state.fatal = error
            state.isRebalancing = false
        }
        await loseAll(resetMemberId: false)
        consumer.fetcher.wakeup.signal()
    }

    // MARK: Partition changes

    /// Gives `partitions` up in a rebalance: stops fetching them, commits their positions (auto
    /// commit), then reports them revoked.
    func revoke(_ partitions: Set<TopicAndPartition>) async {
        guard !partitions.isEmpty else { return }
        let positions = consumer.fetcher.removePartitions(partitions)
        if groupConfig.enableAutoCommit {
            let identity = membership.withLock { state in
                CommitIdentity(generationId: state.generationId, memberId: state.memberId, groupInstanceId: groupConfig.groupInstanceId)
            }
            let toCommit = changedOnly(positions)
            do throws(ClientError) {
                try await channel.commit(toCommit, identity: identity, timeoutMs: cluster.config.defaultApiTimeoutMs)
                noteCommitted(toCommit)
            } catch {
                membership.withLock { $0.lastError = error }
            }
        }
        membership.withLock { state in
            state.owned.subtract(partitions)
            state.assignmentChangedAtNanoseconds = cluster.clock.monotonicNanoseconds()
        }
        await listener.onPartitionsRevoked(partitions.sorted())
    }

    /// Drops every owned partition without committing (the generation is gone) and reports them
    /// lost, or revoked with `asRevoked` (a member leaving while its generation was still valid).
    /// Returns the member id it had.
    @discardableResult
    func loseAll(resetMemberId: Bool, asRevoked: Bool = false) async -> String {
        let (memberId, owned) = membership.withLock { state -> (String, Set<TopicAndPartition>) in
            defer {
                state.owned = []
                state.generationId = -1
                if resetMemberId { state.memberId = "" }
                state.assignmentChangedAtNanoseconds = cluster.clock.monotonicNanoseconds()
            }
            return (state.memberId, state.owned)
        }
        guard !owned.isEmpty else { return memberId }
        consumer.fetcher.removePartitions(owned)
        if asRevoked {
            await listener.onPartitionsRevoked(owned.sorted())
        } else {
            await listener.onPartitionsLost(owned.sorted())
        }
        return memberId
    }

    /// Commits the positions of owned partitions that moved since the last commit.
    func autoCommit() async {
        let (identity, owned) = membership.withLock { state in
            (CommitIdentity(generationId: state.generationId, memberId: state.memberId, groupInstanceId: groupConfig.groupInstanceId),
             state.owned)
        }
        guard identity.generationId >= 0, !owned.isEmpty else { return }
        let toCommit = changedOnly(consumer.fetcher.currentPositions().filter { owned.contains($0.key) })
        guard !toCommit.isEmpty else { return }
        do throws(ClientError) {
            try await channel.commit(toCommit, identity: identity, timeoutMs: cluster.config.requestTimeoutMs)
            noteCommitted(toCommit)
        } catch {
            // The next interval retries; a rebalance commits before revoking anyway.
            if case let .broker(code, _, _, _) = error, code == KafkaErrorCode.rebalanceInProgress.rawValue {
                membership.withLock { $0.rejoinRequested = true }
            }
        }
    }

    /// As the leader: whether a subscribed topic's partition count differs from the one the last
    /// assignment used (Kafka's consumer leader rejoins then, so added partitions get owners).
    func partitionCountsChanged() async -> Bool {
        guard let counts = membership.withLock({ $0.assignedPartitionCounts }), !counts.isEmpty else { return false }
        guard let metadata = try? await cluster.refreshMetadata(topics: counts.keys.sorted(), allowAutoCreate: false) else { return false }
        for (topic, count) in counts {
            guard let found = metadata.topics[topic], found.errorCode == 0, !found.partitions.isEmpty else { continue }
            if Int32(found.partitions.count) != count { return true }
        }
        return false
    }

    // MARK: Heartbeat

    func heartbeatOnce() async -> HeartbeatOutcome {
        let (generationId, memberId) = membership.withLock { ($0.generationId, $0.memberId) }
        let request = HeartbeatRequest(groupId: groupConfig.groupId, generationId: generationId, memberId: memberId,
                                       groupInstanceId: groupConfig.groupInstanceId)
        let response: HeartbeatResponse
        do throws(ClientError) {
            response = try await channel.send(request)
        } catch {
            if case .closed = error { return .retry }
            if !error.isRetriable { return .fatal(error) }
            channel.coordinatorUnknown()
            return .retry
        }
        switch KafkaErrorCode(rawValue: response.errorCode) {
        case .noError?: return .ok
        case .rebalanceInProgress?: return .rejoin
        case .illegalGeneration?: return .lost(resetMemberId: false)
        case .unknownMemberId?: return .lost(resetMemberId: true)
        case .fencedInstanceId?: return .fatal(groupError(response.errorCode, "Heartbeat"))
        case .notCoordinator?, .coordinatorNotAvailable?:
            channel.coordinatorUnknown()
            return .retry
        default:
            let error = groupError(response.errorCode, "Heartbeat")
            return error.isRetriable ? .retry : .fatal(error)
        }
    }

    func groupError(_ code: Int16, _ api: String) -> ClientError {
        .broker(errorCode: code, topic: nil, partition: nil, message: "\(api) in group \(groupConfig.groupId)")
    }

    // MARK: Join and sync

    /// One JoinGroup (and SyncGroup when joined) attempt.
    func joinOnce() async -> JoinOutcome {
        // Kafka's onJoinPrepare: the eager protocol gives everything up before joining; the
        // cooperative one only partitions of topics no longer subscribed.
        let (owned, subscription) = membership.withLock { ($0.owned, Set($0.subscription)) }
        if rebalanceProtocol == .eager {
            await revoke(owned)
        } else {
            await revoke(owned.filter { !subscription.contains($0.topic) })
        }
        if isClosed { return .backoff(.closed) }
        let (memberId, generationId, ownedNow, topics) = membership.withLock { ($0.memberId, $0.generationId, $0.owned, $0.subscription) }
        let metadata = ConsumerProtocol.encode(GroupSubscription(topics: topics, ownedPartitions: ownedNow.sorted(), generationId: generationId))
        let join = JoinGroupRequest(
            groupId: groupConfig.groupId, sessionTimeoutMs: groupConfig.sessionTimeoutMs, rebalanceTimeoutMs: groupConfig.maxPollIntervalMs,
            memberId: memberId, groupInstanceId: groupConfig.groupInstanceId, protocolType: ConsumerProtocol.protocolType,
            protocols: groupConfig.assignors.map { .init(name: $0.name, metadata: metadata) }, reason: nil)
        let joinTimeoutMs = max(cluster.config.requestTimeoutMs, Int64(groupConfig.maxPollIntervalMs) + 5000)
        let joined: JoinGroupResponse
        do throws(ClientError) {
            joined = try await channel.send(join, timeoutMs: joinTimeoutMs)
        } catch {
            return error.isRetriable || error == .closed ? .backoff(error) : .fatal(error)
        }
        switch KafkaErrorCode(rawValue: joined.errorCode) {
        case .noError?:
            break
        case .memberIdRequired?:
            membership.withLock { $0.memberId = joined.memberId }
            return .again
        case .unknownMemberId?:
            await loseAll(resetMemberId: true)
            return .again
        case .illegalGeneration?:
            await loseAll(resetMemberId: false)
            return .again
        case .rebalanceInProgress?, .coordinatorLoadInProgress?:
            return .backoff(groupError(joined.errorCode, "JoinGroup"))
        case .notCoordinator?, .coordinatorNotAvailable?:
            channel.coordinatorUnknown()
            return .backoff(groupError(joined.errorCode, "JoinGroup"))
        default:
            let error = groupError(joined.errorCode, "JoinGroup")
            return error.isRetriable ? .backoff(error) : .fatal(error)
        }
        let protocolName = joined.protocolName ?? ""
        membership.withLock { state in
            state.memberId = joined.memberId
            state.generationId = joined.generationId
            state.protocolName = protocolName
        }
        var assignments: [SyncGroupRequest.SyncGroupRequestAssignment] = []
        membership.withLock { $0.assignedPartitionCounts = nil }
        if joined.leader == joined.memberId, !joined.skipAssignment {
            do throws(ClientError) {
                assignments = try await leaderAssignment(members: joined.members, protocolName: protocolName)
            } catch {
                return error.isRetriable ? .backoff(error) : .fatal(error)
            }
        }
        let sync = SyncGroupRequest(groupId: groupConfig.groupId, generationId: joined.generationId, memberId: joined.memberId,
                                    groupInstanceId: groupConfig.groupInstanceId, protocolType: ConsumerProtocol.protocolType,
                                    protocolName: protocolName, assignments: assignments)
        let synced: SyncGroupResponse
        do throws(ClientError) {
            synced = try await channel.send(sync, timeoutMs: joinTimeoutMs)
        } catch {
            return error.isRetriable || error == .closed ? .backoff(error) : .fatal(error)
        }
        switch KafkaErrorCode(rawValue: synced.errorCode) {
        case .noError?:
            break
        case .rebalanceInProgress?:
            return .again
        case .unknownMemberId?:
            await loseAll(resetMemberId: true)
            return .again
        case .illegalGeneration?:
            await loseAll(resetMemberId: false)
            return .again
        case .notCoordinator?, .coordinatorNotAvailable?:
            channel.coordinatorUnknown()
            return .backoff(groupError(synced.errorCode, "SyncGroup"))
        default:
            let error = groupError(synced.errorCode, "SyncGroup")
            return error.isRetriable ? .backoff(error) : .fatal(error)
        }
        let assigned: [TopicAndPartition]
        do {
            assigned = try ConsumerProtocol.decodeAssignment(synced.assignment)
        } catch {
            return .fatal(.broker(errorCode: KafkaErrorCode.inconsistentGroupProtocol.rawValue, topic: nil, partition: nil,
                                  message: "the group leader's assignment does not decode: \(error)"))
        }
        return await apply(assignment: Set(assigned))
    }

    /// Takes a synced assignment: revokes what left (cooperative: then rejoins once more), positions
    /// what arrived at the committed offsets, reports both.
    private func apply(assignment: Set<TopicAndPartition>) async -> JoinOutcome {
        let owned = membership.withLock { $0.owned }
        let revoked = owned.subtracting(assignment)
        if !revoked.isEmpty {
            await revoke(revoked)
            // KIP-429: the partitions go to their new owner in the next generation.
            if rebalanceProtocol == .cooperative { membership.withLock { $0.rejoinRequested = true } }
        }
        let added = assignment.subtracting(owned)
        if !added.isEmpty {
            let committed: [TopicAndPartition: CommittedOffset]
            do throws(ClientError) {
                committed = try await channel.fetchCommitted(Array(added), timeoutMs: cluster.config.defaultApiTimeoutMs)
            } catch {
                // The partitions stay unowned; the next join reports that and gets them again.
                membership.withLock { $0.rejoinRequested = true }
                return error.isRetriable || error == .closed ? .backoff(error) : .fatal(error)
            }
            consumer.fetcher.addPartitions(Dictionary(uniqueKeysWithValues: added.map { ($0, committed[$0]?.offset) }))
            noteCommitted(committed.mapValues(\.offset))
            cluster.track(topics: Set(added.map(\.topic)))
        }
        membership.withLock { state in
            state.owned = assignment
            state.rebalanceCount += 1
            if !added.isEmpty || !revoked.isEmpty { state.assignmentChangedAtNanoseconds = cluster.clock.monotonicNanoseconds() }
        }
        if !added.isEmpty { await listener.onPartitionsAssigned(added.sorted()) }
        return .joined
    }

    /// The leader's work: run the chosen assignor over every member's subscription. With a
    /// cooperative assignor a partition that changes owner is withheld from its new owner until the
    /// old owner has revoked it (the next generation), so no partition is owned twice.
    func leaderAssignment(members: [JoinGroupResponse.JoinGroupResponseMember],
                          protocolName: String) async throws(ClientError) -> [SyncGroupRequest.SyncGroupRequestAssignment] {
        guard let assignor = groupConfig.assignors.first(where: { $0.name == protocolName }) else {
            throw .broker(errorCode: KafkaErrorCode.inconsistentGroupProtocol.rawValue, topic: nil, partition: nil,
                          message: "the group chose assignor \(protocolName), which this member does not have")
        }
        var subscriptions: [String: GroupSubscription] = [:]
        for member in members {
            var subscription: GroupSubscription
            do {
                subscription = try ConsumerProtocol.decodeSubscription(member.metadata)
            } catch {
                subscription = GroupSubscription(topics: [])
            }
            subscription.groupInstanceId = member.groupInstanceId
            subscriptions[member.memberId] = subscription
        }
        let topics = Array(Set(subscriptions.values.flatMap(\.topics))).sorted()
        var partitionsPerTopic: [String: Int32] = [:]
        if !topics.isEmpty {
            let metadata = try await cluster.refreshMetadata(topics: topics, allowAutoCreate: false)
            for topic in topics {
                if let found = metadata.topics[topic], found.errorCode == 0, !found.partitions.isEmpty {
                    partitionsPerTopic[topic] = Int32(found.partitions.count)
                }
            }
        }
        membership.withLock { $0.assignedPartitionCounts = partitionsPerTopic }
        var assignment = assignor.assign(partitionsPerTopic: partitionsPerTopic, subscriptions: subscriptions)
        if assignor.rebalanceProtocol == .cooperative {
            var owners: [TopicAndPartition: (member: String, generation: Int32)] = [:]
            for (member, subscription) in subscriptions {
                for partition in subscription.ownedPartitions {
                    if let current = owners[partition], current.generation >= subscription.generationId { continue }
                    owners[partition] = (member, subscription.generationId)
                }
            }
            for (member, partitions) in assignment {
                assignment[member] = partitions.filter { owners[$0].map { $0.member == member } ?? true }
            }
        }
        return members.map { member in
            .init(memberId: member.memberId, assignment: ConsumerProtocol.encode(assignment: assignment[member.memberId] ?? []))
        }
    }
}
