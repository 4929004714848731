import NIOCore
import RivuletCore
import RivuletTransport
import RivuletWire
import Testing
@testable import RivuletBroker

/// The coordinator actor over an in-memory `__consumer_offsets`, on a manual clock: requests in
/// their wire form, deferred answers, durable offsets and reloading, bad input.
@Suite struct GroupCoordinatorTests {
    static let config = GroupCoordinatorConfig(groupInitialRebalanceDelayMs: 100, offsetsTopicNumPartitions: 4)

    static func make(config: GroupCoordinatorConfig = config, backend: InMemoryGroupCoordinatorBackend? = nil,
                     clock: ManualClock = ManualClock()) async throws -> (GroupCoordinator, InMemoryGroupCoordinatorBackend, ManualClock) {
        let backend = backend ?? InMemoryGroupCoordinatorBackend(topics: ["t": 4])
        let coordinator = GroupCoordinator(config: config, clock: clock, backend: backend, randomSeed: 7)
        try await coordinator.loadAllPartitions()
        return (coordinator, backend, clock)
    }

    static func context(_ api: ApiKey, version: Int16, clientId: String = "client") -> RequestContext {
        RequestContext(header: RequestHeader(apiKey: api, apiVersion: version, correlationId: 1, clientId: clientId),
                       connectionID: 1, clientAddress: "127.0.0.1:5555")
    }

    static func join(_ coordinator: GroupCoordinator, group: String = "g", memberId: String = "", version: Int16 = 5,
                     instance: String? = nil, protocols: [String] = ["range"]) async -> JoinGroupResponse? {
        let request = JoinGroupRequest(groupId: group, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 20_000, memberId: memberId,
                                       groupInstanceId: instance, protocolType: "consumer",
                                       protocols: protocols.map { .init(name: $0, metadata: ByteBuffer(string: $0)) })
        return await coordinator.handle(.joinGroup(request), context: context(.joinGroup, version: version))
            .flatMap(JoinGroupResponse.init(body:))
    }

    /// Advances the manual clock and runs what fell due.
    static func advance(_ clock: ManualClock, _ coordinator: GroupCoordinator, ms: Int64) async {
        clock.advance(by: .milliseconds(ms))
        await coordinator.expireDue()
    }

    /// Two members of group "g" stable at generation 1; returns their member ids (leader first).
    static func stableTwo(_ coordinator: GroupCoordinator, _ clock: ManualClock) async throws -> (String, String) {
        let a1 = try #require(await join(coordinator))
        let b1 = try #require(await join(coordinator))
        #expect(a1.errorCode == KafkaErrorCode.memberIdRequired.rawValue && b1.errorCode == a1.errorCode)
        async let a2 = join(coordinator, memberId: a1.memberId)
        async let b2 = join(coordinator, memberId: b1.memberId)
        // Both wait for the initial delay; let them register, then move time.
        while await coordinator.group("g")?.members.count != 2 { await Task.yield() }
        await advance(clock, coordinator, ms: 100)
        await advance(clock, coordinator, ms: 100)
        let (ja, jb) = try await (#require(a2), #require(b2))
        #expect(ja.errorCode == 0 && jb.errorCode == 0 && ja.generationId == 1 && jb.generationId == 1)
        let leader = ja.leader
        // The first member to rejoin becomes the leader; the two joins race.
        #expect(leader == a1.memberId || leader == b1.memberId)
        #expect(jb.leader == leader)
        let follower = leader == ja.memberId ? jb.memberId : ja.memberId
        async let followerSync = coordinator.handle(.syncGroup(SyncGroupRequest(groupId: "g", generationId: 1, memberId: follower)),
                                                    context: context(.syncGroup, version: 3))
        while await coordinator.group("g")?.members[follower]?.awaitingSync == nil { await Task.yield() }
        let leaderSync = await coordinator.handle(.syncGroup(SyncGroupRequest(
            groupId: "g", generationId: 1, memberId: leader, assignments: [
                .init(memberId: leader, assignment: ByteBuffer(string: "L")),
                .init(memberId: follower, assignment: ByteBuffer(string: "F")),
            ])), context: context(.syncGroup, version: 3)).flatMap(SyncGroupResponse.init(body:))
        let followerAnswer = await followerSync.flatMap(SyncGroupResponse.init(body:))
        #expect(leaderSync?.assignment == ByteBuffer(string: "L") && followerAnswer?.assignment == ByteBuffer(string: "F"))
        return (leader, follower)
    }

    @Test func joinSyncHeartbeat_overTheWireForms() async throws {
        let (coordinator, backend, clock) = try await Self.make()
        let (leader, follower) = try await Self.stableTwo(coordinator, clock)
        let beat = await coordinator.handle(.heartbeat(HeartbeatRequest(groupId: "g", generationId: 1, memberId: follower)),
                                            context: Self.context(.heartbeat, version: 4)).flatMap(HeartbeatResponse.init(body:))
        #expect(beat?.errorCode == 0)
        let described = await coordinator.handle(.describeGroups(DescribeGroupsRequest(groups: ["g", "nope"])),
                                                 context: Self.context(.describeGroups, version: 5))
            .flatMap(DescribeGroupsResponse.init(body:))
        let group = try #require(described?.groups.first)
        #expect(group.groupState == "Stable" && group.protocolData == "range" && group.protocolType == "consumer")
        #expect(Set(group.members.map(\.memberId)) == [leader, follower])
        #expect(group.members.first { $0.memberId == follower }?.memberAssignment == ByteBuffer(string: "F"))
        #expect(group.members.first?.clientHost == "/127.0.0.1" && group.members.first?.clientId == "client")
        #expect(described?.groups.last?.groupState == "Dead" && described?.groups.last?.errorCode == 0)
        let listed = await coordinator.handle(.listGroups(ListGroupsRequest(statesFilter: ["stable"])),
                                              context: Self.context(.listGroups, version: 4)).flatMap(ListGroupsResponse.init(body:))
        #expect(listed?.groups.map(\.groupId) == ["g"] && listed?.groups.first?.groupState == "Stable")
        let none = await coordinator.handle(.listGroups(ListGroupsRequest(statesFilter: ["Empty"])),
                                            context: Self.context(.listGroups, version: 4)).flatMap(ListGroupsResponse.init(body:))
        #expect(none?.groups.isEmpty == true)
        // The stable generation was written to the group's partition in Kafka's format.
        let partition = Self.config.offsetsPartition(for: "g")
        let written = backend.records(partition: partition)
        guard case let .groupMetadata(_, value?) = written.last else { Issue.record("no group metadata record"); return }
        #expect(value.generation == 1 && value.protocol == "range" && value.members.count == 2)
        let roundTrip = try OffsetsTopicRecord(key: written.last!.key, value: written.last!.value)
        #expect(roundTrip == written.last)
    }

    @Test func firstJoinOfANewGroup_waitsOnlyTheInitialDelay() async throws {
        let (coordinator, _, clock) = try await Self.make()
        let first = try #require(await Self.join(coordinator))
        async let second = Self.join(coordinator, memberId: first.memberId)
        while await coordinator.group("g")?.state != .preparingRebalance { await Task.yield() }
        await Self.advance(clock, coordinator, ms: 99)
        #expect(await coordinator.group("g")?.state == .preparingRebalance)
        await Self.advance(clock, coordinator, ms: 1)
        let answer = try #require(await second)
        #expect(answer.errorCode == 0 && answer.generationId == 1 && answer.leader == first.memberId)
    }

    @Test func offsets_commitFetchAndReloadAfterRestart() async throws {
        let (coordinator, backend, clock) = try await Self.make()
        let (leader, follower) = try await Self.stableTwo(coordinator, clock)
        let commit = OffsetCommitRequest(groupId: "g", generationIdOrMemberEpoch: 1, memberId: leader, topics: [
            .init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: 3, committedMetadata: "m"),
                                          .init(partitionIndex: 1, committedOffset: 7)]),
        ])
        let committed = await coordinator.handle(.offsetCommit(commit), context: Self.context(.offsetCommit, version: 8))
            .flatMap(OffsetCommitResponse.init(body:))
        #expect(committed?.topics.first?.partitions.map(\.errorCode) == [0, 0])
        let fetch = OffsetFetchRequest(groupId: "g", topics: [.init(name: "t", partitionIndexes: [0, 1, 2])])
        let fetched = await coordinator.handle(.offsetFetch(fetch), context: Self.context(.offsetFetch, version: 7))
            .flatMap(OffsetFetchResponse.init(body:))
        #expect(fetched?.topics.first?.partitions.map(\.committedOffset) == [42, 7, -1])
        #expect(fetched?.topics.first?.partitions.first?.committedLeaderEpoch == 3)
        #expect(fetched?.topics.first?.partitions.first?.metadata == "m")
        // v8+: groups; null topics means every committed partition.
        let all = await coordinator.handle(.offsetFetch(OffsetFetchRequest(groups: [.init(groupId: "g", topics: nil)])),
                                           context: Self.context(.offsetFetch, version: 8)).flatMap(OffsetFetchResponse.init(body:))
        #expect(all?.groups.first?.topics.first?.partitions.map(\.partitionIndex) == [0, 1])

        // A restarted coordinator reads the same records back: offsets and the stable group.
        await coordinator.shutdown()
        let (restarted, _, _) = try await Self.make(backend: backend, clock: clock)
        #expect(await restarted.committedOffsets(groupId: "g")[GroupTopicPartition(topic: "t", partition: 0)]?.offset == 42)
        let group = try #require(await restarted.group("g"))
        #expect(group.state == .stable && group.generationId == 1 && Set(group.memberOrder) == [leader, follower])
        #expect(await restarted.heartbeat(groupId: "g", memberId: follower, groupInstanceId: nil, generationId: 1) == .noError)
    }

    @Test func badCommits_getKafkasErrors_andWriteNothing() async throws {
        let (coordinator, backend, clock) = try await Self.make()
        let (leader, _) = try await Self.stableTwo(coordinator, clock)
        let partition = Self.config.offsetsPartition(for: "g")
        let before = backend.records(partition: partition).count
        func commit(generation: Int32, member: String, topic: String = "t", partitionIndex: Int32 = 0,
                    metadata: String? = nil) async -> Int16? {
            let request = OffsetCommitRequest(groupId: "g", generationIdOrMemberEpoch: generation, memberId: member, topics: [
                .init(name: topic, partitions: [.init(partitionIndex: partitionIndex, committedOffset: 1, committedMetadata: metadata)]),
            ])
            return await coordinator.handle(.offsetCommit(request), context: Self.context(.offsetCommit, version: 8))
                .flatMap(OffsetCommitResponse.init(body:))?.topics.first?.partitions.first?.errorCode
        }
        #expect(await commit(generation: 0, member: leader) == KafkaErrorCode.illegalGeneration.rawValue)
        #expect(await commit(generation: 1, member: "stranger") == KafkaErrorCode.unknownMemberId.rawValue)
        #expect(await commit(generation: 1, member: leader, topic: "missing") == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        #expect(await commit(generation: 1, member: leader, partitionIndex: 9) == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        #expect(await commit(generation: 1, member: leader, metadata: String(repeating: "x", count: 5000))
            == KafkaErrorCode.offsetMetadataTooLarge.rawValue)
        #expect(await commit(generation: -1, member: "") == KafkaErrorCode.unknownMemberId.rawValue,
                "a commit from outside the group while it has members")
        #expect(backend.records(partition: partition).count == before)
        #expect(await coordinator.committedOffsets(groupId: "g").isEmpty)
        // A failing offsets partition: COORDINATOR_NOT_AVAILABLE, nothing applied.
        backend.failAppends(with: .unavailable(partition: partition, reason: "disk"))
        #expect(await commit(generation: 1, member: leader) == KafkaErrorCode.coordinatorNotAvailable.rawValue)
        backend.failAppends(with: .notLeader(partition: partition))
        #expect(await commit(generation: 1, member: leader) == KafkaErrorCode.notCoordinator.rawValue)
        backend.failAppends(with: nil)
        #expect(await coordinator.committedOffsets(groupId: "g").isEmpty)
    }

    @Test func simpleCommits_withoutMembership_createAnEmptyGroup() async throws {
        let (coordinator, _, _) = try await Self.make()
        let request = OffsetCommitRequest(groupId: "solo", generationIdOrMemberEpoch: -1, memberId: "", topics: [
            .init(name: "t", partitions: [.init(partitionIndex: 2, committedOffset: 99)]),
        ])
        let answer = await coordinator.handle(.offsetCommit(request), context: Self.context(.offsetCommit, version: 2))
            .flatMap(OffsetCommitResponse.init(body:))
        #expect(answer?.topics.first?.partitions.first?.errorCode == 0)
        #expect(await coordinator.group("solo")?.state == .empty)
        #expect(await coordinator.committedOffsets(groupId: "solo")[GroupTopicPartition(topic: "t", partition: 2)]?.offset == 99)
        let listed = await coordinator.listGroups().groups
        #expect(listed.map(\.groupId) == ["solo"] && listed.first?.state == .empty)
    }

    @Test func joinValidation_sessionTimeoutGroupIdAndMetadataSize() async throws {
        let (coordinator, _, _) = try await Self.make()
        func join(session: Int32, group: String = "g", metadataBytes: Int = 4) async -> Int16? {
            let request = JoinGroupRequest(groupId: group, sessionTimeoutMs: session, rebalanceTimeoutMs: 20_000, memberId: "",
                                           protocolType: "consumer",
                                           protocols: [.init(name: "range", metadata: ByteBuffer(repeating: 1, count: metadataBytes))])
            return await coordinator.handle(.joinGroup(request), context: Self.context(.joinGroup, version: 6))
                .flatMap(JoinGroupResponse.init(body:))?.errorCode
        }
        #expect(await join(session: 5999) == KafkaErrorCode.invalidSessionTimeout.rawValue)
        #expect(await join(session: 1_800_001) == KafkaErrorCode.invalidSessionTimeout.rawValue)
        #expect(await join(session: 10_000, group: "") == KafkaErrorCode.invalidGroupId.rawValue)
        #expect(await join(session: 10_000, metadataBytes: 300_000) == KafkaErrorCode.messageTooLarge.rawValue)
        let group = await coordinator.group("g")
        #expect(group == nil || group?.isEmptyOfMembers == true)
    }

    @Test func deleteGroups_refusesGroupsWithMembers_andTombstonesEmptyOnes() async throws {
        let (coordinator, backend, clock) = try await Self.make()
        let (leader, follower) = try await Self.stableTwo(coordinator, clock)
        _ = await coordinator.commitOffsets(groupId: "g", memberId: leader, groupInstanceId: nil, generationId: 1,
                                            offsets: [(GroupTopicPartition(topic: "t", partition: 0), CommittedOffset(offset: 5, commitTimestampMs: 0))])
        func delete(_ names: [String]) async -> [Int16] {
            await coordinator.handle(.deleteGroups(DeleteGroupsRequest(groupsNames: names)), context: Self.context(.deleteGroups, version: 2))
                .flatMap(DeleteGroupsResponse.init(body:))?.results.map(\.errorCode) ?? []
        }
        #expect(await delete(["g", "unknown"]) == [KafkaErrorCode.nonEmptyGroup.rawValue, KafkaErrorCode.groupIdNotFound.rawValue])
        let left = await coordinator.handle(.leaveGroup(LeaveGroupRequest(groupId: "g", members: [
            .init(memberId: leader), .init(memberId: follower), .init(memberId: "ghost"),
        ])), context: Self.context(.leaveGroup, version: 4)).flatMap(LeaveGroupResponse.init(body:))
        #expect(left?.members.map(\.errorCode) == [0, 0, KafkaErrorCode.unknownMemberId.rawValue])
        #expect(await coordinator.group("g")?.state == .empty)
        #expect(await delete(["g"]) == [0])
        #expect(await coordinator.group("g") == nil)
        let records = backend.records(partition: Self.config.offsetsPartition(for: "g"))
        #expect(records.suffix(2) == [.offsetCommit(group: "g", topic: "t", partition: 0, value: nil), .groupMetadata(group: "g", value: nil)])
        // After a restart the group stays deleted.
        let (restarted, _, _) = try await Self.make(backend: backend, clock: clock)
        #expect(await restarted.group("g") == nil)
        #expect(await restarted.fetchOffsets(groupId: "g", partitions: nil).offsets.isEmpty)
    }

    @Test func killedMember_isExpiredAfterItsSessionTimeout_andTheOtherGetsEverything() async throws {
        let (coordinator, _, clock) = try await Self.make()
        let (leader, follower) = try await Self.stableTwo(coordinator, clock)
        // The leader keeps heartbeating; the follower went silent.
        for _ in 0 ..< 4 {
            await Self.advance(clock, coordinator, ms: 3000)
            let error = await coordinator.heartbeat(groupId: "g", memberId: leader, groupInstanceId: nil, generationId: 1)
            if error != .noError {
                #expect(error == .rebalanceInProgress)
                break
            }
        }
        #expect(await coordinator.group("g")?.members[follower] == nil)
        let rejoin = try #require(await Self.join(coordinator, memberId: leader))
        #expect(rejoin.errorCode == 0 && rejoin.generationId == 2 && rejoin.members.map(\.memberId) == [leader])
    }

    @Test func notCoordinator_andLoadInProgress() async throws {
        let backend = InMemoryGroupCoordinatorBackend(topics: ["t": 1])
        let coordinator = GroupCoordinator(config: Self.config, clock: ManualClock(), backend: backend, randomSeed: 1)
        #expect(await Self.join(coordinator)?.errorCode == KafkaErrorCode.notCoordinator.rawValue)
        try await coordinator.loadPartition(Self.config.offsetsPartition(for: "g"))
        #expect(await Self.join(coordinator)?.errorCode == KafkaErrorCode.memberIdRequired.rawValue)
        #expect(await coordinator.heartbeat(groupId: "other-partition-group", memberId: "m", groupInstanceId: nil, generationId: 1)
            == (Self.config.offsetsPartition(for: "other-partition-group") == Self.config.offsetsPartition(for: "g")
                ? .unknownMemberId : .notCoordinator))
    }

    @Test func oldProtocolVersions_answerInTheirOwnShape() async throws {
        let (coordinator, _, clock) = try await Self.make(config: GroupCoordinatorConfig(groupInitialRebalanceDelayMs: 0,
                                                                                          offsetsTopicNumPartitions: 4))
        // JoinGroup v0 (no rebalance timeout, no MEMBER_ID_REQUIRED): joins at once.
        let v0 = try #require(await Self.join(coordinator, version: 0))
        #expect(v0.errorCode == 0 && v0.generationId == 1 && v0.protocolName == "range")
        let sync = await coordinator.handle(.syncGroup(SyncGroupRequest(groupId: "g", generationId: 1, memberId: v0.memberId,
                                                                        assignments: [.init(memberId: v0.memberId, assignment: ByteBuffer(string: "x"))])),
                                            context: Self.context(.syncGroup, version: 0)).flatMap(SyncGroupResponse.init(body:))
        #expect(sync?.errorCode == 0 && sync?.assignment == ByteBuffer(string: "x"))
        // LeaveGroup v0: one member, the error at the top level.
        let leave = await coordinator.handle(.leaveGroup(LeaveGroupRequest(groupId: "g", memberId: "ghost")),
                                             context: Self.context(.leaveGroup, version: 0)).flatMap(LeaveGroupResponse.init(body:))
        #expect(leave?.errorCode == KafkaErrorCode.unknownMemberId.rawValue)
        // OffsetFetch v1 of a group this coordinator does not serve puts the error on each partition.
        let other = (0 ..< 100).map { "grp-\($0)" }.first { !Self.isOn(partition: Self.config.offsetsPartition(for: "g"), $0) } ?? "x"
        await coordinator.unloadPartition(Self.config.offsetsPartition(for: other))
        let fetched = await coordinator.handle(.offsetFetch(OffsetFetchRequest(groupId: other, topics: [.init(name: "t", partitionIndexes: [0])])),
                                               context: Self.context(.offsetFetch, version: 1)).flatMap(OffsetFetchResponse.init(body:))
        #expect(fetched?.topics.first?.partitions.first?.errorCode == KafkaErrorCode.notCoordinator.rawValue)
        _ = clock
    }

    static func isOn(partition: Int32, _ group: String) -> Bool { config.offsetsPartition(for: group) == partition }
}
