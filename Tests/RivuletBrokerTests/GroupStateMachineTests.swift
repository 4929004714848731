import NIOCore
import RivuletWire
import Testing
@testable import RivuletBroker

/// The classic group state machine on its own: events in, actions out, time given explicitly.
@Suite struct GroupStateMachineTests {
    static let config = GroupCoordinatorConfig(groupInitialRebalanceDelayMs: 100)
    static let t0 = GroupTime(monotonicMs: 1000, wallMs: 1_700_000_000_000)

    static func at(_ ms: Int64) -> GroupTime { GroupTime(monotonicMs: t0.monotonicMs + ms, wallMs: t0.wallMs + ms) }

    static func protocols(_ names: String...) -> [MemberProtocol] {
        names.map { MemberProtocol(name: $0, metadata: ByteBuffer(string: "meta-\($0)")) }
    }

    static func joinEvent(_ memberId: String = "", instance: String? = nil, newId: String, session: Int32 = 10_000,
                          rebalance: Int32 = 30_000, type: String = "consumer", protocols: [MemberProtocol] = protocols("range"),
                          requireKnown: Bool = true) -> JoinGroupEvent {
        JoinGroupEvent(memberId: memberId, groupInstanceId: instance, clientId: "c", clientHost: "/127.0.0.1", sessionTimeoutMs: session,
                       rebalanceTimeoutMs: rebalance, protocolType: type, protocols: protocols, requireKnownMemberId: requireKnown,
                       newMemberId: newId)
    }

    static func joins(_ actions: [GroupAction]) -> [UInt64: JoinGroupResult] {
        var result: [UInt64: JoinGroupResult] = [:]
        for case let .completeJoin(token, answer) in actions { result[token] = answer }
        return result
    }

    static func syncs(_ actions: [GroupAction]) -> [UInt64: SyncGroupResult] {
        var result: [UInt64: SyncGroupResult] = [:]
        for case let .completeSync(token, answer) in actions { result[token] = answer }
        return result
    }

    /// A group with members A (leader) and B stable at generation 1 with assignments "a" and "b".
    static func stableGroup(static instances: [String?] = [nil, nil]) throws -> ClassicGroup {
        var group = ClassicGroup(groupId: "g", nowWallMs: t0.wallMs)
        _ = group.join(joinEvent(instance: instances[0], newId: "A", requireKnown: false), token: 1, now: t0, config: config)
        _ = group.join(joinEvent(instance: instances[1], newId: "B", requireKnown: false), token: 2, now: at(10), config: config)
        // The initial delay ran from the first join, extended once for B.
        #expect(joins(group.expire(at: at(100))).isEmpty)
        let joined = joins(group.expire(at: at(200)))
        #expect(joined.count == 2 && group.state == .completingRebalance && group.generationId == 1)
        #expect(joined[1]?.members.map(\.memberId) == ["A", "B"] && joined[2]?.members.isEmpty == true)
        _ = group.sync(SyncGroupEvent(memberId: "B", groupInstanceId: instances[1], generationId: 1), token: 3, now: at(210))
        let synced = syncs(group.sync(SyncGroupEvent(memberId: "A", groupInstanceId: instances[0], generationId: 1,
                                                     assignments: ["A": ByteBuffer(string: "a"), "B": ByteBuffer(string: "b")]),
                                      token: 4, now: at(220)))
        #expect(synced[3]?.assignment == ByteBuffer(string: "b") && synced[4]?.assignment == ByteBuffer(string: "a"))
        #expect(group.state == .stable)
        return group
    }

    @Test func firstJoin_v4_requiresMemberId_thenCompletesAfterTheInitialDelay() {
        var group = ClassicGroup(groupId: "g", nowWallMs: Self.t0.wallMs)
        let first = Self.joins(group.join(Self.joinEvent(newId: "c-1"), token: 1, now: Self.t0, config: Self.config))
        #expect(first[1]?.error == .memberIdRequired && first[1]?.memberId == "c-1")
        #expect(group.state == .empty && group.pendingMembers["c-1"] != nil)
        let second = group.join(Self.joinEvent("c-1", newId: "unused"), token: 2, now: Self.at(5), config: Self.config)
        #expect(Self.joins(second).isEmpty, "waits for group.initial.rebalance.delay.ms")
        #expect(group.state == .preparingRebalance && group.nextDeadlineMs == Self.at(105).monotonicMs)
        #expect(Self.joins(group.expire(at: Self.at(104))).isEmpty)
        let done = Self.joins(group.expire(at: Self.at(105)))
        let result = done[2]
        #expect(result?.error == .noError && result?.generationId == 1 && result?.leaderId == "c-1")
        #expect(result?.protocolName == "range" && result?.members.map(\.memberId) == ["c-1"])
        #expect(result?.members.first?.metadata == ByteBuffer(string: "meta-range"))
        #expect(group.state == .completingRebalance)
    }

    @Test func initialDelayZero_completesTheFirstJoinAtOnce() {
        var group = ClassicGroup(groupId: "g", nowWallMs: Self.t0.wallMs)
        let config = GroupCoordinatorConfig(groupInitialRebalanceDelayMs: 0)
        let done = Self.joins(group.join(Self.joinEvent(newId: "A", requireKnown: false), token: 1, now: Self.t0, config: config))
        #expect(done[1]?.error == .noError && done[1]?.generationId == 1)
    }

    @Test func newMember_triggersRebalance_existingMemberRejoinsOnHeartbeatError() throws {
        var group = try Self.stableGroup()
        let joinC = group.join(Self.joinEvent(newId: "C", requireKnown: false), token: 10, now: Self.at(300), config: Self.config)
        #expect(Self.joins(joinC).isEmpty && group.state == .preparingRebalance)
        #expect(group.heartbeat(memberId: "A", groupInstanceId: nil, generationId: 1, now: Self.at(310)) == .rebalanceInProgress)
        #expect(group.validateOffsetCommit(memberId: "A", groupInstanceId: nil, generationId: 1) == .noError,
                "members of the current generation may commit while the group prepares a rebalance (KIP-429)")
        #expect(Self.joins(group.join(Self.joinEvent("A", newId: "x"), token: 11, now: Self.at(320), config: Self.config)).isEmpty)
        let done = Self.joins(group.join(Self.joinEvent("B", newId: "x"), token: 12, now: Self.at(330), config: Self.config))
        #expect(done.count == 3 && group.generationId == 2)
        #expect(done[11]?.members.map(\.memberId) == ["A", "B", "C"], "the leader learns every member")
        #expect(done[12]?.members.isEmpty == true && done[12]?.leaderId == "A")
        // The old generation is now illegal.
        #expect(group.heartbeat(memberId: "B", groupInstanceId: nil, generationId: 1, now: Self.at(340)) == .illegalGeneration)
        #expect(group.validateOffsetCommit(memberId: "B", groupInstanceId: nil, generationId: 1) == .illegalGeneration)
        #expect(group.validateOffsetCommit(memberId: "B", groupInstanceId: nil, generationId: 2) == .rebalanceInProgress)
        #expect(Self.syncs(group.sync(SyncGroupEvent(memberId: "B", groupInstanceId: nil, generationId: 1), token: 13,
                                      now: Self.at(340)))[13]?.error == .illegalGeneration)
    }

    @Test func memberNotRejoining_isRemovedWhenTheRebalanceTimeoutEnds() throws {
        var group = try Self.stableGroup()
        _ = group.join(Self.joinEvent("A", newId: "x"), token: 10, now: Self.at(300), config: Self.config)  // leader rejoins: rebalance
        #expect(group.state == .preparingRebalance)
        // B keeps heartbeating but never rejoins; the phase ends at the rebalance timeout (30 s).
        #expect(group.heartbeat(memberId: "B", groupInstanceId: nil, generationId: 1, now: Self.at(20_000)) == .rebalanceInProgress)
        #expect(group.heartbeat(memberId: "B", groupInstanceId: nil, generationId: 1, now: Self.at(25_000)) == .rebalanceInProgress)
        #expect(Self.joins(group.expire(at: Self.at(30_299))).isEmpty)
        let done = Self.joins(group.expire(at: Self.at(30_300)))
        #expect(done[10]?.members.map(\.memberId) == ["A"] && group.members["B"] == nil && group.generationId == 2)
    }

    @Test func sessionExpiry_removesTheMember_andRebalancesTheRest() throws {
        var group = try Self.stableGroup()
        #expect(group.heartbeat(memberId: "A", groupInstanceId: nil, generationId: 1, now: Self.at(9000)) == .noError)
        // B's session restarted when the leader's sync answered it at 220 ms; it ends at 10,220 ms.
        _ = group.expire(at: Self.at(10_219))
        #expect(group.members["B"] != nil)
        _ = group.expire(at: Self.at(10_220))
        #expect(group.members["B"] == nil && group.state == .preparingRebalance)
        #expect(group.heartbeat(memberId: "B", groupInstanceId: nil, generationId: 1, now: Self.at(10_300)) == .unknownMemberId)
        #expect(group.heartbeat(memberId: "A", groupInstanceId: nil, generationId: 1, now: Self.at(10_300)) == .rebalanceInProgress)
        let done = Self.joins(group.join(Self.joinEvent("A", newId: "x"), token: 20, now: Self.at(10_400), config: Self.config))
        #expect(done[20]?.members.map(\.memberId) == ["A"] && done[20]?.generationId == 2)
    }

    @Test func leaving_rebalances_andTheLastMemberLeavingEmptiesTheGroup() throws {
        var group = try Self.stableGroup()
        let (error, _) = group.leave(memberId: "A", groupInstanceId: nil, now: Self.at(300))
        #expect(error == .noError && group.state == .preparingRebalance && group.leaderId == "B")
        #expect(group.leave(memberId: "A", groupInstanceId: nil, now: Self.at(301)).0 == .unknownMemberId)
        let (last, actions) = group.leave(memberId: "B", groupInstanceId: nil, now: Self.at(310))
        #expect(last == .noError && group.state == .empty && group.generationId == 2 && group.leaderId == nil)
        #expect(actions.contains { if case .append = $0 { true } else { false } }, "the empty generation is written")
        #expect(group.heartbeat(memberId: "B", groupInstanceId: nil, generationId: 2, now: Self.at(320)) == .unknownMemberId)
    }

    @Test func unknownOrMismatchedProtocols_areRefused_andChangeNothing() throws {
        var group = try Self.stableGroup()
        let before = (group.state, group.generationId, group.memberOrder)
        let otherType = Self.joins(group.join(Self.joinEvent(newId: "C", type: "connect"), token: 30, now: Self.at(300),
                                              config: Self.config))
        #expect(otherType[30]?.error == .inconsistentGroupProtocol)
        let disjoint = Self.joins(group.join(Self.joinEvent(newId: "C", protocols: Self.protocols("sticky")), token: 31,
                                             now: Self.at(300), config: Self.config))
        #expect(disjoint[31]?.error == .inconsistentGroupProtocol)
        var empty = ClassicGroup(groupId: "h", nowWallMs: 0)
        let none = Self.joins(empty.join(Self.joinEvent(newId: "C", protocols: []), token: 32, now: Self.t0, config: Self.config))
        #expect(none[32]?.error == .inconsistentGroupProtocol && empty.members.isEmpty && empty.pendingMembers.isEmpty)
        #expect((group.state, group.generationId, group.memberOrder) == before)
        #expect(Self.syncs(group.sync(SyncGroupEvent(memberId: "A", groupInstanceId: nil, generationId: 1, protocolType: "consumer",
                                                     protocolName: "roundrobin"), token: 33, now: Self.at(300)))[33]?.error
            == .inconsistentGroupProtocol)
    }

    @Test func protocol_isChosenByVote_amongThoseEveryMemberSupports() {
        var group = ClassicGroup(groupId: "g", nowWallMs: 0)
        let config = GroupCoordinatorConfig(groupInitialRebalanceDelayMs: 50)
        _ = group.join(Self.joinEvent(newId: "A", protocols: Self.protocols("cooperative-sticky", "range"), requireKnown: false),
                       token: 1, now: Self.t0, config: config)
        _ = group.join(Self.joinEvent(newId: "B", protocols: Self.protocols("range", "cooperative-sticky"), requireKnown: false),
                       token: 2, now: Self.t0, config: config)
        _ = group.join(Self.joinEvent(newId: "C", protocols: Self.protocols("range", "roundrobin", "cooperative-sticky"),
                                      requireKnown: false), token: 3, now: Self.t0, config: config)
        _ = group.expire(at: Self.at(50))
        let done = Self.joins(group.expire(at: Self.at(100)))
        #expect(done[1]?.protocolName == "range", "two of three members prefer range")
        #expect(done[1]?.members.first { $0.memberId == "B" }?.metadata == ByteBuffer(string: "meta-range"))
    }

    @Test func staticMember_rejoiningWithSameMetadata_getsItsGenerationBack_andFencesTheOldId() throws {
        var group = try Self.stableGroup(static: ["i-a", "i-b"])
        let rejoin = group.join(Self.joinEvent(instance: "i-b", newId: "B2"), token: 40, now: Self.at(300), config: Self.config)
        let answer = Self.joins(rejoin)[40]
        #expect(answer?.error == .noError && answer?.memberId == "B2" && answer?.generationId == 1)
        #expect(group.state == .stable, "no rebalance (KIP-345)")
        #expect(rejoin.contains { if case .append = $0 { true } else { false } })
        #expect(group.heartbeat(memberId: "B", groupInstanceId: "i-b", generationId: 1, now: Self.at(310)) == .fencedInstanceId)
        #expect(group.heartbeat(memberId: "B2", groupInstanceId: "i-b", generationId: 1, now: Self.at(310)) == .noError)
        #expect(Self.syncs(group.sync(SyncGroupEvent(memberId: "B2", groupInstanceId: "i-b", generationId: 1), token: 41,
                                      now: Self.at(320)))[41]?.assignment == ByteBuffer(string: "b"))
        #expect(group.validateOffsetCommit(memberId: "B", groupInstanceId: "i-b", generationId: 1) == .fencedInstanceId)
        #expect(group.leave(memberId: "B", groupInstanceId: "i-b", now: Self.at(330)).0 == .fencedInstanceId)
    }

    @Test func staticMember_thatDoesNotRejoin_staysThroughTheRebalance_untilItsSessionEnds() throws {
        var group = try Self.stableGroup(static: [nil, "i-b"])
        _ = group.join(Self.joinEvent("A", newId: "x"), token: 50, now: Self.at(300), config: Self.config)
        #expect(group.heartbeat(memberId: "B", groupInstanceId: "i-b", generationId: 1, now: Self.at(25_000)) == .rebalanceInProgress)
        let done = Self.joins(group.expire(at: Self.at(30_300)))
        #expect(done[50]?.members.map(\.memberId) == ["A", "B"], "static B stays a member")
        #expect(group.members["B"] != nil)
        // B heartbeats no more: its session ends 10 s after its last heartbeat.
        _ = group.expire(at: Self.at(34_999))
        #expect(group.members["B"] != nil)
        _ = group.expire(at: Self.at(35_000))
        #expect(group.members["B"] == nil)
    }

    @Test func pendingMember_expiresAfterItsSessionTimeout() {
        var group = ClassicGroup(groupId: "g", nowWallMs: 0)
        _ = group.join(Self.joinEvent(newId: "p", session: 6000), token: 1, now: Self.t0, config: Self.config)
        #expect(group.pendingMembers["p"] == Self.at(6000).monotonicMs)
        _ = group.expire(at: Self.at(6000))
        #expect(group.pendingMembers.isEmpty)
        let late = Self.joins(group.join(Self.joinEvent("p", newId: "x"), token: 2, now: Self.at(6001), config: Self.config))
        #expect(late[2]?.error == .unknownMemberId)
    }

    @Test func memberThatJoinsButNeverSyncs_isRemovedAfterTheRebalanceTimeout() {
        var group = ClassicGroup(groupId: "g", nowWallMs: 0)
        let config = GroupCoordinatorConfig(groupInitialRebalanceDelayMs: 0)
        _ = group.join(Self.joinEvent(newId: "A", rebalance: 5000, requireKnown: false), token: 1, now: Self.t0, config: config)
        #expect(group.state == .completingRebalance)
        // A heartbeats (allowed while completing) but never sends SyncGroup.
        #expect(group.heartbeat(memberId: "A", groupInstanceId: nil, generationId: 1, now: Self.at(4000)) == .noError)
        _ = group.expire(at: Self.at(5000))
        #expect(group.members.isEmpty && group.state == .empty)
    }

    @Test func groupMaxSize_refusesNewMembers() throws {
        var group = try Self.stableGroup()
        let config = GroupCoordinatorConfig(groupMaxSize: 2)
        let refused = Self.joins(group.join(Self.joinEvent(newId: "C"), token: 60, now: Self.at(300), config: config))
        #expect(refused[60]?.error == .groupMaxSizeReached && group.pendingMembers.isEmpty && group.state == .stable)
    }

    @Test func syncFromFollowers_waitsForTheLeader_andARebalanceFailsThem() throws {
        var group = try Self.stableGroup()
        _ = group.join(Self.joinEvent("A", newId: "x"), token: 70, now: Self.at(300), config: Self.config)
        _ = group.join(Self.joinEvent("B", newId: "x"), token: 71, now: Self.at(300), config: Self.config)
        #expect(group.state == .completingRebalance && group.generationId == 2)
        #expect(group.sync(SyncGroupEvent(memberId: "B", groupInstanceId: nil, generationId: 2), token: 72, now: Self.at(310)).isEmpty)
        // A new member arrives before the leader syncs: B's sync fails with REBALANCE_IN_PROGRESS.
        let actions = group.join(Self.joinEvent(newId: "C", requireKnown: false), token: 73, now: Self.at(320), config: Self.config)
        #expect(Self.syncs(actions)[72]?.error == .rebalanceInProgress && group.state == .preparingRebalance)
    }

    @Test func replay_restoresOffsetsAndMembership_andTombstonesDelete() throws {
        let stable = try Self.stableGroup()
        var restored = ClassicGroup(groupId: "g", nowWallMs: 0)
        restored.replay(.offsetCommit(group: "g", topic: "t", partition: 0,
                                      value: OffsetCommitValue(offset: 5, leaderEpoch: 1, metadata: "m", commitTimestamp: 9)),
                        now: Self.t0)
        restored.replay(stable.metadataRecord(now: Self.at(300)), now: Self.at(1000))
        #expect(restored.state == .stable && restored.generationId == 1 && restored.leaderId == "A")
        #expect(restored.memberOrder == ["A", "B"] && restored.members["B"]?.assignment == ByteBuffer(string: "b"))
        #expect(restored.offsets[GroupTopicPartition(topic: "t", partition: 0)]?.offset == 5)
        #expect(restored.heartbeat(memberId: "B", groupInstanceId: nil, generationId: 1, now: Self.at(1100)) == .noError)
        restored.replay(.offsetCommit(group: "g", topic: "t", partition: 0, value: nil), now: Self.t0)
        #expect(restored.offsets.isEmpty)
        restored.replay(.groupMetadata(group: "g", value: nil), now: Self.t0)
        #expect(restored.state == .dead)
    }

    @Test func delete_onlyEmptyGroups() throws {
        var group = try Self.stableGroup()
        #expect(group.delete(now: Self.at(300)).0 == .nonEmptyGroup)
        _ = group.leave(memberId: "A", groupInstanceId: nil, now: Self.at(300))
        _ = group.leave(memberId: "B", groupInstanceId: nil, now: Self.at(300))
        group.replay(.offsetCommit(group: "g", topic: "t", partition: 1,
                                   value: OffsetCommitValue(offset: 1, metadata: "", commitTimestamp: 0)), now: Self.t0)
        let (error, tombstones) = group.delete(now: Self.at(400))
        #expect(error == .noError && group.state == .dead)
        #expect(tombstones == [.offsetCommit(group: "g", topic: "t", partition: 1, value: nil), .groupMetadata(group: "g", value: nil)])
    }

    @Test func offsetsPartition_matchesJavaStringHashCode() {
        #expect(GroupCoordinatorConfig.offsetsPartition(for: "", partitions: 50) == 0)
        #expect(GroupCoordinatorConfig.offsetsPartition(for: "a", partitions: 50) == 47)
        // "test-group".hashCode() == 627_841_412; "my-group".hashCode() == -1_906_497_762.
        #expect(GroupCoordinatorConfig.offsetsPartition(for: "test-group", partitions: 50) == 12)
        #expect(GroupCoordinatorConfig.offsetsPartition(for: "my-group", partitions: 50) == 12)
        // "polygenelubricants".hashCode() is Integer.MIN_VALUE; Kafka's Utils.abs maps it to 0.
        #expect(GroupCoordinatorConfig.offsetsPartition(for: "polygenelubricants", partitions: 50) == 0)
    }
}
