import NIOCore
import RivuletWire

/// One classic consumer group as a pure state machine (STYLE item 8): the coordinator's owner
/// calls a `mutating func` per event (join, sync, heartbeat, leave, time passing, a replayed
/// record) and performs the `GroupAction`s it returns (answer a waiting request, append records).
/// Nothing here reads a clock, does I/O or generates ids; replaying the same events gives the same
/// state, which the tests use with a manual clock.
///
/// Kafka's semantics (`ClassicGroup` and `GroupCoordinator` in apache/kafka):
/// - states Empty -> PreparingRebalance -> CompletingRebalance -> Stable, and Dead once deleted;
/// - a new dynamic member on JoinGroup v4+ first gets MEMBER_ID_REQUIRED and joins the pending
///   members (KIP-394) until it joins again with that id or its session timeout passes;
/// - the join phase ends when every known member and no pending member is waiting, or after the
///   largest rebalance timeout; the first rebalance of an empty group waits
///   `group.initial.rebalance.delay.ms`, extended while new members arrive;
/// - dynamic members that did not rejoin are removed when the phase ends; static ones stay;
/// - the protocol is chosen by vote among those every member supports; the first member to join
///   leads; the leader's SyncGroup carries everyone's assignment;
/// - a member missing its session timeout (outside a join or sync it is waiting in) is removed
///   and the group rebalances; so is one that joined but did not sync within the rebalance timeout;
/// - static members (KIP-345) rejoining with a new member id replace their old id, which is then
///   fenced (FENCED_INSTANCE_ID); a static member rejoining a stable group with unchanged
///   metadata gets the current generation back without a rebalance.
public struct ClassicGroup: Sendable {
    public let groupId: String
    public private(set) var state: GroupState = .empty
    /// Bumped at the end of every join phase (also to an empty generation).
    public private(set) var generationId: Int32 = 0
    public private(set) var protocolType: String?
    /// The chosen protocol (assignor name for consumers), nil while empty.
    public private(set) var protocolName: String?
    public private(set) var leaderId: String?
    /// Members in joining order (the leader is the first when one must be chosen).
    public private(set) var memberOrder: [String] = []
    public private(set) var members: [String: GroupMember] = [:]
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the deadline for the second join.
    public private(set) var pendingMembers: [String: Int64] = [:]
    /// group.instance.id -> member id.
    public private(set) var staticMembers: [String: String] = [:]
    /// Committed offsets (changed only by replaying records).
    public private(set) var offsets: [GroupTopicPartition: CommittedOffset] = [:]
    /// When the group last changed state (wall milliseconds).
    public private(set) var currentStateTimestampMs: Int64

    /// When the current join phase ends at the latest (monotonic ms).
    private var joinDeadlineMs: Int64?
    /// The first rebalance of an empty group: the delay that remains to extend by, and whether a
    /// new member arrived during the current delay (Kafka's `InitialDelayedJoin`).
    private var initialDelay: (remainingMs: Int64, newMemberAdded: Bool)?
    /// Members that joined the current generation but have not sent SyncGroup yet, and the time by
    /// which they must.
    private var pendingSyncMembers: Set<String> = []
    private var syncDeadlineMs: Int64?

    public init(groupId: String, nowWallMs: Int64) {
        self.groupId = groupId
        currentStateTimestampMs = nowWallMs
    }

    // MARK: Queries

    public var memberCount: Int { members.count }
    public var orderedMembers: [GroupMember] { memberOrder.compactMap { members[$0] } }
    public var isEmptyOfMembers: Bool { members.isEmpty && pendingMembers.isEmpty }

    /// The largest rebalance timeout of the members (Kafka's `rebalanceTimeoutMs`).
    var rebalanceTimeoutMs: Int64 { Int64(members.values.map(\.rebalanceTimeoutMs).max() ?? 0) }

    /// The earliest time something is due (join phase end, a session or pending member expiring,
    /// the sync deadline), for the owner to call `expire(at:)` then. Nil when nothing is pending.
    public var nextDeadlineMs: Int64? {
        var deadlines: [Int64] = Array(pendingMembers.values)
        if let joinDeadlineMs { deadlines.append(joinDeadlineMs) }
        if let syncDeadlineMs { deadlines.append(syncDeadlineMs) }
        for member in members.values where member.awaitingJoin == nil && member.awaitingSync == nil {
            deadlines.append(member.sessionDeadlineMs)
        }
        return deadlines.min()
    }

    /// Whether the protocol type and protocols can join (Kafka's `supportsProtocols`).
    func supportsProtocols(type: String, names: [String]) -> Bool {
        if members.isEmpty { return !type.isEmpty && !names.isEmpty }
        guard type == protocolType else { return false }
        let candidates = candidateProtocols()
        return names.contains { candidates.contains($0) }
    }

    /// Protocols every member supports.
    func candidateProtocols() -> Set<String> {
        var candidates: Set<String>?
        for member in members.values {
            let names = Set(member.protocols.map(\.name))
            candidates = candidates.map { $0.intersection(names) } ?? names
        }
        return candidates ?? []
    }

    /// The protocol chosen by vote (Kafka's `selectProtocol`); ties go to the protocol the
    /// earliest-joined voter preferred, so the choice is deterministic.
    func selectProtocol() -> String? {
        let candidates = candidateProtocols()
        var votes: [String: Int] = [:]
        var firstVoted: [String] = []
        for member in orderedMembers {
            guard let vote = member.vote(among: candidates) else { continue }
            if votes[vote] == nil { firstVoted.append(vote) }
            votes[vote, default: 0] += 1
        }
        var best: String?
        var bestVotes = 0
        for name in firstVoted where (votes[name] ?? 0) > bestVotes {
            best = name
            bestVotes = votes[name] ?? 0
        }
        return best
    }

    /// Whether `memberId` is fenced: its instance id now belongs to another member id.
    func isStaticMemberFenced(memberId: String, groupInstanceId: String?) -> Bool {
        guard let groupInstanceId, let current = staticMembers[groupInstanceId] else { return false }
        return current != memberId
    }

    // MARK: JoinGroup

    /// A JoinGroup. The request waits under `token` until an action completes it (maybe at once).
    public mutating func join(_ event: JoinGroupEvent, token: UInt64, now: GroupTime, config: GroupCoordinatorConfig) -> [GroupAction] {
        var actions: [GroupAction] = []
        func answer(_ result: JoinGroupResult) -> [GroupAction] { [.completeJoin(token: token, result)] }
        initialDelayStepMs = Int64(max(0, config.groupInitialRebalanceDelayMs))
        if state == .dead {
            return answer(JoinGroupResult(error: .coordinatorNotAvailable, memberId: event.memberId))
        }
        if !supportsProtocols(type: event.protocolType, names: event.protocols.map(\.name)) {
            return answer(JoinGroupResult(error: .inconsistentGroupProtocol, memberId: event.memberId))
        }
        if event.memberId.isEmpty {
            let isReplacement = event.groupInstanceId.map { staticMembers[$0] != nil } ?? false
            if !isReplacement, members.count + pendingMembers.count >= Int(config.groupMaxSize) {
                return answer(JoinGroupResult(error: .groupMaxSizeReached, memberId: event.memberId))
            }
            if let instanceId = event.groupInstanceId {
                joinStaticMember(event, instanceId: instanceId, token: token, now: now, actions: &actions)
            } else if event.requireKnownMemberId {
                pendingMembers[event.newMemberId] = now.monotonicMs + Int64(event.sessionTimeoutMs)
                return answer(JoinGroupResult(error: .memberIdRequired, memberId: event.newMemberId))
            } else {
                addMemberAndRebalance(event, memberId: event.newMemberId, token: token, now: now, actions: &actions)
            }
        } else {
            joinCurrentMember(event, token: token, now: now, config: config, actions: &actions)
        }
        actions += expire(at: now)
        return actions
    }

    private mutating func joinCurrentMember(_ event: JoinGroupEvent, token: UInt64, now: GroupTime, config: GroupCoordinatorConfig,
                                            actions: inout [GroupAction]) {
        let memberId = event.memberId
        if pendingMembers.removeValue(forKey: memberId) != nil {
            if members.count >= Int(config.groupMaxSize) {
                actions.append(.completeJoin(token: token, JoinGroupResult(error: .groupMaxSizeReached, memberId: memberId)))
                return
            }
            addMemberAndRebalance(event, memberId: memberId, token: token, now: now, actions: &actions)
            return
        }
        if isStaticMemberFenced(memberId: memberId, groupInstanceId: event.groupInstanceId) {
            actions.append(.completeJoin(token: token, JoinGroupResult(error: .fencedInstanceId, memberId: memberId)))
            return
        }
        guard var member = members[memberId], state != .empty else {
            actions.append(.completeJoin(token: token, JoinGroupResult(error: .unknownMemberId, memberId: memberId)))
            return
        }
        if let previous = member.awaitingJoin {
            // A retried JoinGroup replaces the one still waiting (which the client gave up on).
            actions.append(.completeJoin(token: previous, JoinGroupResult(error: .rebalanceInProgress, memberId: memberId)))
            member.awaitingJoin = nil
            members[memberId] = member
        }
        switch state {
        case .preparingRebalance:
            updateMemberAndRebalance(memberId, event, token: token, now: now, actions: &actions)
        case .completingRebalance:
            if member.matches(event.protocols) {
                actions.append(.completeJoin(token: token, currentGenerationResult(for: memberId, skipAssignment: false)))
            } else {
                updateMemberAndRebalance(memberId, event, token: token, now: now, actions: &actions)
            }
        case .stable:
            if memberId == leaderId || !member.matches(event.protocols) {
                updateMemberAndRebalance(memberId, event, token: token, now: now, actions: &actions)
            } else {
                member.sessionDeadlineMs = now.monotonicMs + Int64(member.sessionTimeoutMs)
                members[memberId] = member
                actions.append(.completeJoin(token: token, currentGenerationResult(for: memberId, skipAssignment: false)))
            }
        case .empty, .dead:
            actions.append(.completeJoin(token: token, JoinGroupResult(error: .unknownMemberId, memberId: memberId)))
        }
    }

    private mutating func joinStaticMember(_ event: JoinGroupEvent, instanceId: String, token: UInt64, now: GroupTime,
                                           actions: inout [GroupAction]) {
        guard let oldMemberId = staticMembers[instanceId], var member = members[oldMemberId] else {
            addMemberAndRebalance(event, memberId: event.newMemberId, token: token, now: now, actions: &actions)
            return
        }
        // The instance came back with a new id: the old id is fenced from now on.
        let newMemberId = event.newMemberId
        if let waiting = member.awaitingJoin {
            actions.append(.completeJoin(token: waiting, JoinGroupResult(error: .fencedInstanceId, memberId: oldMemberId)))
            member.awaitingJoin = nil
        }
        if let waiting = member.awaitingSync {
            actions.append(.completeSync(token: waiting, SyncGroupResult(error: .fencedInstanceId)))
            member.awaitingSync = nil
        }
        let selectedMetadataUnchanged = member.metadata(for: protocolName) == event.protocols.first { $0.name == protocolName }?.metadata
        member.memberId = newMemberId
        members.removeValue(forKey: oldMemberId)
        members[newMemberId] = member
        if let index = memberOrder.firstIndex(of: oldMemberId) { memberOrder[index] = newMemberId }
        staticMembers[instanceId] = newMemberId
        if leaderId == oldMemberId { leaderId = newMemberId }
        if pendingSyncMembers.remove(oldMemberId) != nil { pendingSyncMembers.insert(newMemberId) }

        if state == .stable, protocolName != nil, selectedMetadataUnchanged,
           event.protocols.contains(where: { $0.name == protocolName }) {
            // KIP-345: no rebalance; the member gets the current generation under its new id.
            member.protocols = event.protocols
            member.clientId = event.clientId
            member.clientHost = event.clientHost
            member.sessionTimeoutMs = event.sessionTimeoutMs
            member.rebalanceTimeoutMs = event.rebalanceTimeoutMs
            member.sessionDeadlineMs = now.monotonicMs + Int64(event.sessionTimeoutMs)
            members[newMemberId] = member
            actions.append(.append([metadataRecord(now: now)]))
            let isLeader = newMemberId == leaderId
            actions.append(.completeJoin(token: token, currentGenerationResult(
                for: newMemberId, skipAssignment: isLeader && event.supportsSkipAssignment)))
            return
        }
        updateMemberAndRebalance(newMemberId, event, token: token, now: now, actions: &actions)
    }

    private mutating func addMemberAndRebalance(_ event: JoinGroupEvent, memberId: String, token: UInt64, now: GroupTime,
                                                actions: inout [GroupAction]) {
        let member = GroupMember(memberId: memberId, groupInstanceId: event.groupInstanceId, clientId: event.clientId,
                                 clientHost: event.clientHost, rebalanceTimeoutMs: event.rebalanceTimeoutMs,
                                 sessionTimeoutMs: event.sessionTimeoutMs, protocolType: event.protocolType,
                                 protocols: event.protocols, awaitingJoin: token,
                                 sessionDeadlineMs: now.monotonicMs + Int64(event.sessionTimeoutMs))
        if members.isEmpty { protocolType = event.protocolType }
        members[memberId] = member
        memberOrder.append(memberId)
        if let instanceId = event.groupInstanceId { staticMembers[instanceId] = memberId }
        if leaderId == nil { leaderId = memberId }
        if state == .preparingRebalance, initialDelay != nil { initialDelay?.newMemberAdded = true }
        maybePrepareRebalance(now: now, actions: &actions)
    }

    private mutating func updateMemberAndRebalance(_ memberId: String, _ event: JoinGroupEvent, token: UInt64, now: GroupTime,
                                                   actions: inout [GroupAction]) {
        guard var member = members[memberId] else { return }
        member.protocols = event.protocols
        member.clientId = event.clientId
        member.clientHost = event.clientHost
        member.sessionTimeoutMs = event.sessionTimeoutMs
        member.rebalanceTimeoutMs = event.rebalanceTimeoutMs
        member.awaitingJoin = token
        members[memberId] = member
        maybePrepareRebalance(now: now, actions: &actions)
    }

    /// The current generation as a JoinGroup answer for `memberId` (the leader gets the members).
    private func currentGenerationResult(for memberId: String, skipAssignment: Bool) -> JoinGroupResult {
        var result = JoinGroupResult(error: .noError, memberId: memberId)
        result.generationId = generationId
        result.protocolType = protocolType
        result.protocolName = protocolName
        result.leaderId = leaderId ?? ""
        result.skipAssignment = skipAssignment
        if memberId == leaderId {
            result.members = orderedMembers.map {
                JoinedMember(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata(for: protocolName))
            }
        }
        return result
    }

    // MARK: Rebalancing

    private mutating func maybePrepareRebalance(now: GroupTime, actions: inout [GroupAction]) {
        guard state == .stable || state == .completingRebalance || state == .empty else { return }
        prepareRebalance(now: now, actions: &actions)
    }

    private mutating func prepareRebalance(now: GroupTime, actions: inout [GroupAction]) {
        if state == .completingRebalance {
            // The assignment being synced is void: waiting SyncGroups fail so members rejoin.
            for id in memberOrder {
                guard var member = members[id] else { continue }
                member.assignment = ByteBuffer()
                if let waiting = member.awaitingSync {
                    actions.append(.completeSync(token: waiting, SyncGroupResult(error: .rebalanceInProgress)))
                    member.awaitingSync = nil
                }
                members[id] = member
            }
        }
        pendingSyncMembers = []
        syncDeadlineMs = nil
        if state == .empty {
            initialDelay = nil
        }
        let wasEmpty = state == .empty
        transition(to: .preparingRebalance, now: now)
        if wasEmpty {
            // Kafka's InitialDelayedJoin: wait the delay, extend while members arrive.
            let delayMs = initialDelayStepMs
            initialDelay = (remainingMs: max(rebalanceTimeoutMs - delayMs, 0), newMemberAdded: false)
            joinDeadlineMs = now.monotonicMs + delayMs
        } else {
            initialDelay = nil
            joinDeadlineMs = now.monotonicMs + rebalanceTimeoutMs
        }
    }

    /// `group.initial.rebalance.delay.ms` as of the last JoinGroup (only joins start a rebalance
    /// of an empty group, and the extensions reuse it).
    private var initialDelayStepMs: Int64 = 0

    private var hasAllMembersJoined: Bool {
        pendingMembers.isEmpty && members.values.allSatisfy { $0.awaitingJoin != nil }
    }

    /// Ends the join phase: drops dynamic members that did not rejoin, starts the next generation
    /// and answers every waiting JoinGroup (Kafka's `onCompleteJoin`).
    private mutating func completeJoin(now: GroupTime, actions: inout [GroupAction]) {
        joinDeadlineMs = nil
        initialDelay = nil
        for id in memberOrder {
            guard let member = members[id], member.awaitingJoin == nil, !member.isStatic else { continue }
            removeMember(id)
        }
        generationId &+= 1
        if members.isEmpty {
            protocolName = nil
            leaderId = nil
            transition(to: .empty, now: now)
            actions.append(.append([metadataRecord(now: now)]))
            return
        }
        protocolName = selectProtocol()
        if leaderId == nil || members[leaderId ?? ""]?.awaitingJoin == nil {
            // The leader must be a member that rejoined (a static leader that did not is replaced).
            leaderId = memberOrder.first { members[$0]?.awaitingJoin != nil } ?? memberOrder.first
        }
        transition(to: .completingRebalance, now: now)
        pendingSyncMembers = []
        for id in memberOrder {
            guard var member = members[id], let token = member.awaitingJoin else { continue }
            member.awaitingJoin = nil
            member.sessionDeadlineMs = now.monotonicMs + Int64(member.sessionTimeoutMs)
            members[id] = member
            pendingSyncMembers.insert(id)
            actions.append(.completeJoin(token: token, currentGenerationResult(for: id, skipAssignment: false)))
        }
        syncDeadlineMs = now.monotonicMs + rebalanceTimeoutMs
    }

    private mutating func transition(to newState: GroupState, now: GroupTime) {
        state = newState
        currentStateTimestampMs = now.wallMs
    }

    /// Removes a member and its static mapping; a leaving leader is replaced by the next member.
    private mutating func removeMember(_ memberId: String) {
        guard let member = members.removeValue(forKey: memberId) else { return }
        memberOrder.removeAll { $0 == memberId }
        if let instanceId = member.groupInstanceId, staticMembers[instanceId] == memberId {
            staticMembers.removeValue(forKey: instanceId)
        }
        pendingSyncMembers.remove(memberId)
        if leaderId == memberId { leaderId = memberOrder.first }
        if members.isEmpty { leaderId = nil }
    }

    /// Removes a member that left or expired, answers what it was waiting for, and rebalances
    /// (Kafka's `removeMemberAndUpdateGroup`).
    private mutating func removeMemberAndUpdateGroup(_ memberId: String, error: KafkaErrorCode, now: GroupTime,
                                                     actions: inout [GroupAction]) {
        guard let member = members[memberId] else { return }
        if let waiting = member.awaitingJoin {
            actions.append(.completeJoin(token: waiting, JoinGroupResult(error: error, memberId: memberId)))
        }
        if let waiting = member.awaitingSync {
            actions.append(.completeSync(token: waiting, SyncGroupResult(error: error)))
        }
        removeMember(memberId)
        switch state {
        case .stable, .completingRebalance:
            prepareRebalance(now: now, actions: &actions)
        case .preparingRebalance, .empty, .dead:
            break
        }
    }

    // MARK: Time

    /// Performs what is due at `now`: ends the join phase (all joined, timeout, initial delay),
    /// expires pending members, sessions and members that did not sync in time.
    public mutating func expire(at now: GroupTime) -> [GroupAction] {
        var actions: [GroupAction] = []
        for (memberId, deadline) in pendingMembers where deadline <= now.monotonicMs {
            pendingMembers.removeValue(forKey: memberId)
        }
        for id in memberOrder {
            guard let member = members[id], member.awaitingJoin == nil, member.awaitingSync == nil,
                  member.sessionDeadlineMs <= now.monotonicMs else { continue }
            removeMemberAndUpdateGroup(id, error: .unknownMemberId, now: now, actions: &actions)
        }
        if state == .completingRebalance, let deadline = syncDeadlineMs, deadline <= now.monotonicMs {
            syncDeadlineMs = nil
            let laggards = memberOrder.filter { pendingSyncMembers.contains($0) }
            for id in laggards {
                removeMemberAndUpdateGroup(id, error: .rebalanceInProgress, now: now, actions: &actions)
            }
        }
        if state == .preparingRebalance {
            if var delay = initialDelay {
                if let deadline = joinDeadlineMs, deadline <= now.monotonicMs {
                    if delay.newMemberAdded, delay.remainingMs > 0 {
                        let step = min(initialDelayStepMs, delay.remainingMs)
                        delay.remainingMs -= step
                        delay.newMemberAdded = false
                        initialDelay = delay
                        joinDeadlineMs = now.monotonicMs + step
                    } else {
                        completeJoin(now: now, actions: &actions)
                    }
                }
            } else if hasAllMembersJoined || (joinDeadlineMs.map { $0 <= now.monotonicMs } ?? true) {
                completeJoin(now: now, actions: &actions)
            }
        }
        return actions
    }

    // MARK: SyncGroup

    /// A SyncGroup. The request waits under `token` until the leader's assignment arrives (or at once).
    public mutating func sync(_ event: SyncGroupEvent, token: UInt64, now: GroupTime) -> [GroupAction] {
        func answer(_ error: KafkaErrorCode) -> [GroupAction] { [.completeSync(token: token, SyncGroupResult(error: error))] }
        if state == .dead { return answer(.coordinatorNotAvailable) }
        if isStaticMemberFenced(memberId: event.memberId, groupInstanceId: event.groupInstanceId) { return answer(.fencedInstanceId) }
        guard var member = members[event.memberId] else { return answer(.unknownMemberId) }
        if event.generationId != generationId { return answer(.illegalGeneration) }
        if let type = event.protocolType, type != protocolType { return answer(.inconsistentGroupProtocol) }
        if let name = event.protocolName, name != protocolName { return answer(.inconsistentGroupProtocol) }
        switch state {
        case .empty, .dead:
            return answer(.unknownMemberId)
        case .preparingRebalance:
            return answer(.rebalanceInProgress)
        case .stable:
            member.sessionDeadlineMs = now.monotonicMs + Int64(member.sessionTimeoutMs)
            members[event.memberId] = member
            return [.completeSync(token: token, SyncGroupResult(error: .noError, protocolType: protocolType,
                                                                 protocolName: protocolName, assignment: member.assignment))]
        case .completingRebalance:
            if let previous = member.awaitingSync {
                member.awaitingSync = nil
                members[event.memberId] = member
                return [.completeSync(token: previous, SyncGroupResult(error: .rebalanceInProgress))] + sync(event, token: token, now: now)
            }
            member.awaitingSync = token
            member.sessionDeadlineMs = now.monotonicMs + Int64(member.sessionTimeoutMs)
            members[event.memberId] = member
            pendingSyncMembers.remove(event.memberId)
            guard event.memberId == leaderId else { return [] }
            for id in memberOrder {
                members[id]?.assignment = event.assignments[id] ?? ByteBuffer()
            }
            transition(to: .stable, now: now)
            pendingSyncMembers = []
            syncDeadlineMs = nil
            var actions: [GroupAction] = [.append([metadataRecord(now: now)])]
            for id in memberOrder {
                guard var waiting = members[id], let waitingToken = waiting.awaitingSync else { continue }
                waiting.awaitingSync = nil
                waiting.sessionDeadlineMs = now.monotonicMs + Int64(waiting.sessionTimeoutMs)
                members[id] = waiting
                actions.append(.completeSync(token: waitingToken, SyncGroupResult(
                    error: .noError, protocolType: protocolType, protocolName: protocolName, assignment: waiting.assignment)))
            }
            return actions
        }
    }

    // MARK: Heartbeat and LeaveGroup

    /// A Heartbeat: refreshes the member's session; tells it to rejoin during a rebalance.
    public mutating func heartbeat(memberId: String, groupInstanceId: String?, generationId: Int32, now: GroupTime) -> KafkaErrorCode {
        if state == .dead { return .coordinatorNotAvailable }
        if isStaticMemberFenced(memberId: memberId, groupInstanceId: groupInstanceId) { return .fencedInstanceId }
        guard var member = members[memberId] else { return .unknownMemberId }
        if generationId != self.generationId { return .illegalGeneration }
        switch state {
        case .empty, .dead:
            return .unknownMemberId
        case .completingRebalance, .stable, .preparingRebalance:
            member.sessionDeadlineMs = now.monotonicMs + Int64(member.sessionTimeoutMs)
            members[memberId] = member
            return state == .preparingRebalance ? .rebalanceInProgress : .noError
        }
    }

    /// A LeaveGroup of one member (by member id, or for v3+ admin removal by instance id alone).
    public mutating func leave(memberId: String, groupInstanceId: String?, now: GroupTime) -> (KafkaErrorCode, [GroupAction]) {
        if state == .dead { return (.coordinatorNotAvailable, []) }
        var actions: [GroupAction] = []
        var id = memberId
        if id.isEmpty {
            guard let instanceId = groupInstanceId, let known = staticMembers[instanceId] else { return (.unknownMemberId, []) }
            id = known
        }
        if pendingMembers.removeValue(forKey: id) != nil {
            actions += expire(at: now)
            return (.noError, actions)
        }
        if isStaticMemberFenced(memberId: id, groupInstanceId: groupInstanceId) { return (.fencedInstanceId, []) }
        guard members[id] != nil else { return (.unknownMemberId, []) }
        removeMemberAndUpdateGroup(id, error: .unknownMemberId, now: now, actions: &actions)
        actions += expire(at: now)
        return (.noError, actions)
    }

    // MARK: Offsets

    /// Whether a member may commit offsets now (Kafka's `validateOffsetCommit` for classic groups).
    /// `generationId < 0` with an empty member id is a commit from outside any group (an admin or
    /// a consumer using `assign`), allowed only while the group has no members.
    public func validateOffsetCommit(memberId: String, groupInstanceId: String?, generationId: Int32) -> KafkaErrorCode {
        if state == .dead { return .coordinatorNotAvailable }
        if generationId < 0, memberId.isEmpty, groupInstanceId == nil {
            return state == .empty ? .noError : .unknownMemberId
        }
        if isStaticMemberFenced(memberId: memberId, groupInstanceId: groupInstanceId) { return .fencedInstanceId }
        guard members[memberId] != nil else {
            return .unknownMemberId
        }
        if generationId != self.generationId { return .illegalGeneration }
        if state == .completingRebalance { return .rebalanceInProgress }
        return .noError
    }

    /// The records of a group with no members and no offsets left is gone; the owner drops it.
    public var canBeForgotten: Bool { state == .dead || (state == .empty && isEmptyOfMembers && offsets.isEmpty) }

    /// Applies a record read from (or just appended to) `__consumer_offsets`. Offsets change only
    /// this way; a group metadata record restores membership after a restart (members get a full
    /// session to heartbeat again).
    public mutating func replay(_ record: OffsetsTopicRecord, now: GroupTime) {
        switch record {
        case let .offsetCommit(_, topic, partition, value):
            let key = GroupTopicPartition(topic: topic, partition: partition)
            if let value {
                offsets[key] = CommittedOffset(offset: value.offset, leaderEpoch: value.leaderEpoch, metadata: value.metadata,
                                               commitTimestampMs: value.commitTimestamp)
            } else {
                offsets.removeValue(forKey: key)
            }
        case let .groupMetadata(_, value):
            guard let value else {
                self = ClassicGroup(groupId: groupId, nowWallMs: now.wallMs)
                state = .dead
                return
            }
            let keptOffsets = offsets
            self = ClassicGroup(groupId: groupId, nowWallMs: value.currentStateTimestamp >= 0 ? value.currentStateTimestamp : now.wallMs)
            offsets = keptOffsets
            generationId = value.generation
            protocolType = value.protocolType.isEmpty ? nil : value.protocolType
            protocolName = value.protocol
            leaderId = value.leader
            for stored in value.members {
                let member = GroupMember(
                    memberId: stored.memberId, groupInstanceId: stored.groupInstanceId, clientId: stored.clientId,
                    clientHost: stored.clientHost, rebalanceTimeoutMs: stored.rebalanceTimeout, sessionTimeoutMs: stored.sessionTimeout,
                    protocolType: value.protocolType,
                    protocols: value.protocol.map { [MemberProtocol(name: $0, metadata: stored.subscription)] } ?? [],
                    assignment: stored.assignment,
                    sessionDeadlineMs: now.monotonicMs + Int64(stored.sessionTimeout))
                members[stored.memberId] = member
                memberOrder.append(stored.memberId)
                if let instanceId = stored.groupInstanceId { staticMembers[instanceId] = stored.memberId }
            }
            state = members.isEmpty ? .empty : .stable
            if members.isEmpty { leaderId = nil }
        }
    }

    /// Marks the group deleted (DeleteGroups); the owner appends the returned tombstones first.
    /// Only an empty group can be deleted (NON_EMPTY_GROUP otherwise).
    public mutating func delete(now: GroupTime) -> (KafkaErrorCode, [OffsetsTopicRecord]) {
        guard state == .empty, isEmptyOfMembers else { return (state == .dead ? .groupIdNotFound : .nonEmptyGroup, []) }
        var tombstones = offsets.keys.sorted().map {
            OffsetsTopicRecord.offsetCommit(group: groupId, topic: $0.topic, partition: $0.partition, value: nil)
        }
        tombstones.append(.groupMetadata(group: groupId, value: nil))
        offsets = [:]
        transition(to: .dead, now: now)
        return (.noError, tombstones)
    }

    /// The group's membership as Kafka stores it (`GroupMetadataValue`, written at the end of each
    /// rebalance so that a restarted coordinator and Kafka's tools know the group).
    public func metadataRecord(now: GroupTime) -> OffsetsTopicRecord {
        let stored = orderedMembers.map { member in
            GroupMetadataValue.MemberMetadata(memberId: member.memberId, groupInstanceId: member.groupInstanceId,
                                              clientId: member.clientId, clientHost: member.clientHost,
                                              rebalanceTimeout: member.rebalanceTimeoutMs, sessionTimeout: member.sessionTimeoutMs,
                                              subscription: member.metadata(for: protocolName), assignment: member.assignment)
        }
        let value = GroupMetadataValue(protocolType: protocolType ?? "", generation: generationId, protocol: protocolName,
                                       leader: leaderId, currentStateTimestamp: now.wallMs, members: stored)
        return .groupMetadata(group: groupId, value: value)
    }
}
