import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletWire
import Synchronization
import Testing

/// Swift group consumers against the embedded broker's group coordinator, on a clock ten times
/// faster than real time (session 6 s, heartbeat 500 ms in clock time).
@Suite(.serialized) struct GroupConsumerTests {
    static let assignors = ["range", "roundrobin", "cooperative-sticky"]

    static func allPartitions(_ topic: String, _ count: Int32) -> Set<TopicAndPartition> {
        Set((0 ..< count).map { TopicAndPartition(topic: topic, partition: $0) })
    }

    @Test(arguments: assignors)
    func twoMembers_splitEightPartitions_andWhenOneLeavesTheOtherGetsAll(assignor: String) async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("t8", partitions: 8)
            let a = try harness.member(group: "g-\(assignor)", assignor: assignor)
            let b = try harness.member(group: "g-\(assignor)", assignor: assignor)
            try a.subscribe(["t8"])
            try b.subscribe(["t8"])
            let collectors = [Collector(a), Collector(b)]
            let all = Self.allPartitions("t8", 8)
            let split = await harness.until {
                let (sa, sb) = (Set(a.assignment), Set(b.assignment))
                return sa.isDisjoint(with: sb) && sa.union(sb) == all && sa.count == 4 && sb.count == 4
                    && !a.membershipState.isRebalancing && !b.membershipState.isRebalancing
            }
            #expect(split, "a=\(a.assignment) b=\(b.assignment)")
            #expect(a.membershipState.protocolName == assignor && a.membershipState.generationId == b.membershipState.generationId)
            await collectors[0].stop()
            await a.close()
            let taken = await harness.until { Set(b.assignment) == all && !b.membershipState.isRebalancing }
            #expect(taken, "b=\(b.assignment)")
            await collectors[1].stop()
            await b.close()
            #expect(collectors.allSatisfy { $0.errors.withLock { $0.isEmpty } })
        }
        await harness.stop()
    }

    @Test("a member that stops polling for max.poll.interval.ms leaves the group, the other takes its partitions; its next poll rejoins")
    func pollTimeout_leavesTheGroup_andTheNextPollRejoins() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("stuck", partitions: 4)
            let revoked = Mutex<[TopicAndPartition]>([])
            let listener = ConsumerRebalanceListener(onPartitionsRevoked: { partitions in revoked.withLock { $0 += partitions } })
            // 3 s of the harness clock: 300 ms of real time.
            let stuck = try harness.member(group: "poll-timeout", listener: listener) { $0.maxPollIntervalMs = 3000 }
            let healthy = try harness.member(group: "poll-timeout")
            let all = Self.allPartitions("stuck", 4)
            try stuck.subscribe(["stuck"])
            let first = Collector(stuck)
            #expect(await harness.until { Set(stuck.assignment) == all })
            await first.stop()
            // A poll waiting for records (10 s of clock time, nothing to read) is not a stuck application.
            let generation = stuck.membershipState.generationId
            _ = try await stuck.poll(timeoutMs: 10_000)
            #expect(Set(stuck.assignment) == all && stuck.membershipState.generationId == generation,
                    "a long poll made the member leave: \(stuck.assignment)")
            // The application stops polling `stuck`; `healthy` joins and polls on.
            try healthy.subscribe(["stuck"])
            let collector = Collector(healthy)
            let taken = await harness.until { Set(healthy.assignment) == all && !healthy.membershipState.isRebalancing }
            #expect(taken, "healthy=\(healthy.assignment) stuck=\(stuck.assignment)")
            #expect(stuck.assignment.isEmpty)
            #expect(!revoked.withLock { $0 }.isEmpty, "the stuck member's partitions were not revoked")
            // Polling again rejoins: the partitions are split.
            let again = Collector(stuck)
            let split = await harness.until {
                stuck.assignment.count == 2 && healthy.assignment.count == 2 && !stuck.membershipState.isRebalancing
            }
            #expect(split, "healthy=\(healthy.assignment) stuck=\(stuck.assignment)")
            await again.stop()
            await collector.stop()
            await stuck.close()
            await healthy.close()
        }
        await harness.stop()
    }

    @Test(arguments: assignors)
    func afterBothClose_aNewMemberResumesAtTheCommittedOffsets_noDuplicatesNoLoss(assignor: String) async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("resume", partitions: 8)
            try await harness.produce("resume", count: 400)
            let group = "resume-\(assignor)"
            let a = try harness.member(group: group, assignor: assignor)
            let b = try harness.member(group: group, assignor: assignor)
            try a.subscribe(["resume"])
            try b.subscribe(["resume"])
            let (ca, cb) = (Collector(a), Collector(b))
            #expect(await harness.until { ca.count + cb.count >= 400 }, "consumed \(ca.count + cb.count)")
            // More records while both are members, then both close (committing their positions).
            try await harness.produce("resume", count: 200, from: 400)
            #expect(await harness.until { ca.count + cb.count >= 600 }, "consumed \(ca.count + cb.count)")
            await ca.stop()
            await cb.stop()
            await a.close()
            await b.close()
            try await harness.produce("resume", count: 200, from: 600)
            let c = try harness.member(group: group, assignor: assignor)
            try c.subscribe(["resume"])
            let cc = Collector(c)
            #expect(await harness.until { cc.count >= 200 }, "c consumed \(cc.count)")
            // Nothing more arrives for c: wait a few fetch rounds.
            try await harness.clock.sleep(nanoseconds: 1_000_000_000)
            await cc.stop()
            await c.close()
            var seen: [TopicAndPartition: [Int64]] = [:]
            for collector in [ca, cb, cc] {
                for (partition, offsets) in collector.seen.withLock({ $0 }) { seen[partition, default: []] += offsets }
            }
            let ends = try await Admin(cluster: harness.client).listOffsets(
                Dictionary(uniqueKeysWithValues: Self.allPartitions("resume", 8).map { ($0, OffsetSpec.latest) }))
            var total = 0
            for partition in Self.allPartitions("resume", 8) {
                let end = try #require(try ends[partition]?.get().offset)
                let offsets = seen[partition] ?? []
                #expect(offsets.sorted() == Array(0 ..< end), "\(partition): duplicates or gaps (\(offsets.count) records, end \(end))")
                total += offsets.count
            }
            #expect(total == 800)
            #expect(cc.count == 200, "the new member read exactly the records after the committed offsets")
        }
        await harness.stop()
    }

    @Test func memberThatStopsHeartbeating_isExpired_andItsPartitionsReassigned() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("expire", partitions: 8)
            let a = try harness.member(group: "expire")
            let b = try harness.member(group: "expire")
            try a.subscribe(["expire"])
            try b.subscribe(["expire"])
            let all = Self.allPartitions("expire", 8)
            #expect(await harness.until { a.assignment.count == 4 && b.assignment.count == 4 && !a.membershipState.isRebalancing })
            let killedAt = harness.clock.monotonicNanoseconds()
            await b.abandon()
            #expect(await harness.until { Set(a.assignment) == all && !a.membershipState.isRebalancing })
            let elapsedMs = (a.membershipState.assignmentChangedAtNanoseconds - killedAt) / 1_000_000
            // session.timeout.ms + 1 s
            #expect(elapsedMs <= 7000, "reassigned \(elapsedMs) ms (clock time) after the member stopped")
            #expect(elapsedMs >= 5000, "a live session must not expire early (\(elapsedMs) ms)")
            await a.close()
        }
        await harness.stop()
    }

    @Test func cooperativeSticky_keepsUnmovedPartitions_acrossARebalance() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("coop", partitions: 8)
            let revokedFromA = Mutex<[[TopicAndPartition]]>([])
            let lostFromA = Mutex<[[TopicAndPartition]]>([])
            let revokeGeneration = Mutex<Int32>(-1)
            let selfBox = Mutex<GroupConsumer?>(nil)
            let listener = ConsumerRebalanceListener(onPartitionsRevoked: { p in
                                                         revokedFromA.withLock { $0.append(p) }
                                                         let generation = selfBox.withLock { $0?.membershipState.generationId } ?? -1
                                                         revokeGeneration.withLock { $0 = generation }
                                                     },
                                                     onPartitionsLost: { p in lostFromA.withLock { $0.append(p) } })
            let a = try harness.member(group: "coop", assignor: "cooperative-sticky", listener: listener)
            selfBox.withLock { $0 = a }
            try a.subscribe(["coop"])
            let all = Self.allPartitions("coop", 8)
            #expect(await harness.until { Set(a.assignment) == all && !a.membershipState.isRebalancing })
            let ca = Collector(a)
            // Generations: when a revoked its partitions, and when b was first given some.
            let bBox = Mutex<GroupConsumer?>(nil)
            let bAssignedAtGeneration = Mutex<Int32>(-1)
            let b = try harness.member(group: "coop", assignor: "cooperative-sticky", listener: ConsumerRebalanceListener(
                onPartitionsAssigned: { _ in
                    let generation = bBox.withLock { $0?.membershipState.generationId } ?? -1
                    bAssignedAtGeneration.withLock { if $0 < 0 { $0 = generation } }
                }))
            bBox.withLock { $0 = b }
            try b.subscribe(["coop"])
            var overlap: Set<TopicAndPartition> = []
            #expect(await harness.until {
                // KIP-429: a partition is never owned by both at once, even mid-rebalance.
                overlap.formUnion(Set(b.assignment).intersection(a.assignment))
                return a.assignment.count == 4 && b.assignment.count == 4 && !a.membershipState.isRebalancing
                    && !b.membershipState.isRebalancing
            })
            #expect(overlap.isEmpty, "owned twice: \(overlap)")
            // The leader withheld the moved partitions until a had revoked them: b got them a generation later.
            let (revokedAt, assignedAt) = (revokeGeneration.withLock { $0 }, bAssignedAtGeneration.withLock { $0 })
            #expect(revokedAt >= 0 && assignedAt > revokedAt, "a revoked at generation \(revokedAt), b was assigned at \(assignedAt)")
            let kept = Set(a.assignment)
            let moved = all.subtracting(kept)
            #expect(Set(b.assignment) == moved)
            // Only the moved partitions were revoked from a, once; nothing was lost.
            #expect(revokedFromA.withLock { $0 } == [moved.sorted()])
            #expect(lostFromA.withLock { $0.isEmpty })
            // KIP-429: the revocation took a second rebalance.
            #expect(a.membershipState.rebalanceCount >= 3)
            await ca.stop()
            await a.close()
            await b.close()
        }
        await harness.stop()
    }

    @Test func firstJoinOfANewGroup_completesWithin100msPlusTheInitialDelay() async throws {
        // Real time here: the bound is on wall-clock latency.
        let harness = try await GroupHarness.start(speed: 1, initialDelayMs: 100)
        do {
            try await harness.createTopic("fast", partitions: 2)
            // Warm up the coordinator (creating __consumer_offsets) with another group first.
            let warm = try harness.member(group: "warm")
            try warm.subscribe(["fast"])
            #expect(await harness.until { warm.assignment.count == 2 })
            await warm.close()
            let member = try harness.member(group: "fresh")
            let start = ContinuousClock.now
            try member.subscribe(["fast"])
            #expect(await harness.until { member.assignment.count == 2 })
            let elapsed = ContinuousClock.now - start
            #expect(elapsed < .milliseconds(200), "first join took \(elapsed)")
            await member.close()
        }
        await harness.stop()
    }

    @Test func staticMember_restartingWithinTheSession_getsItsPartitionsBack_withoutARebalance() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("static", partitions: 8)
            let a = try harness.member(group: "static", instance: "a")
            let b = try harness.member(group: "static", instance: "b")
            try a.subscribe(["static"])
            try b.subscribe(["static"])
            #expect(await harness.until { a.assignment.count == 4 && b.assignment.count == 4 && !b.membershipState.isRebalancing })
            let before = (a.assignment, b.membershipState.generationId, b.membershipState.rebalanceCount)
            await a.close() // a static member does not leave
            let restarted = try harness.member(group: "static", instance: "a")
            try restarted.subscribe(["static"])
            #expect(await harness.until { restarted.assignment == before.0 && !restarted.membershipState.isRebalancing })
            try await harness.clock.sleep(nanoseconds: 2_000_000_000)
            #expect(b.membershipState.generationId == before.1 && b.membershipState.rebalanceCount == before.2,
                    "the other member saw no rebalance")
            await restarted.close()
            await b.close()
        }
        await harness.stop()
    }

    @Test func twoLiveMembersWithOneInstanceId_theOlderIsFenced() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("fence", partitions: 2)
            let old = try harness.member(group: "fence", instance: "same")
            try old.subscribe(["fence"])
            #expect(await harness.until { old.assignment.count == 2 })
            let new = try harness.member(group: "fence", instance: "same")
            try new.subscribe(["fence"])
            #expect(await harness.until { new.assignment.count == 2 })
            var fenced: ClientError?
            for _ in 0 ..< 100 where fenced == nil {
                do throws(ClientError) { _ = try await old.poll(timeoutMs: 100) } catch { fenced = error }
            }
            #expect(fenced?.kafkaErrorCode == .fencedInstanceId)
            #expect(old.assignment.isEmpty)
            // The record sequence throws it too.
            var sequenceError: ClientError?
            do throws(ClientError) {
                for try await _ in old.records(pollTimeoutMs: 50) {}
            } catch {
                sequenceError = error
            }
            #expect(sequenceError?.kafkaErrorCode == .fencedInstanceId)
            await old.close()
            await new.close()
        }
        await harness.stop()
    }

    @Test func manualCommits_syncAndAsync_andCommitted() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("manual", partitions: 2)
            try await harness.produce("manual", count: 20)
            let member = try harness.member(group: "manual") { $0.enableAutoCommit = false }
            try member.subscribe(["manual"])
            var consumed = 0
            for try await record in member.records(pollTimeoutMs: 100) {
                #expect(record.topic == "manual")
                consumed += 1
                if consumed == 20 { break }
            }
            #expect(consumed == 20)
            let p0 = TopicAndPartition(topic: "manual", partition: 0)
            let p1 = TopicAndPartition(topic: "manual", partition: 1)
            #expect(try await member.committed([p0, p1]).isEmpty)
            try await member.commitSync()
            let committed = try await member.committed([p0, p1])
            #expect(committed.values.reduce(0, +) == 20)
            let done = Mutex<Result<[TopicAndPartition: Int64], ClientError>?>(nil)
            member.commitAsync([p0: 1]) { result in done.withLock { $0 = result } }
            #expect(await harness.until { done.withLock { $0 } != nil })
            #expect(try await member.committed([p0])[p0] == 1)
            // Stale identity: a commit as a member the group does not know is refused, changing nothing.
            await member.close()
            let outsider = try harness.member(group: "manual") { $0.enableAutoCommit = false }
            #expect(try await outsider.committed([p0])[p0] == 1)
            await outsider.close()
        }
        await harness.stop()
    }

    @Test func badGroupSettings_areRefusedBeforeJoining() throws {
        var config = ConsumerGroupConfig(groupId: "")
        #expect(throws: ClientError.self) { try config.validate() }
        config.groupId = "g"
        config.heartbeatIntervalMs = 50_000
        #expect(throws: ClientError.self) { try config.validate() }
        #expect(throws: ClientError.self) { _ = try config.set("partition.assignment.strategy", "sticky-ish") }
        #expect(try config.set("not.a.group.setting", "1") == false)
    }

    @Test func sessionTimeoutOutsideTheBrokersRange_isFatal() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("range", partitions: 1)
            let member = try harness.member(group: "bad-session") { $0.sessionTimeoutMs = 900; $0.heartbeatIntervalMs = 100 }
            try member.subscribe(["range"])
            var failure: ClientError?
            for _ in 0 ..< 100 where failure == nil {
                do throws(ClientError) { _ = try await member.poll(timeoutMs: 100) } catch { failure = error }
            }
            #expect(failure?.kafkaErrorCode == .invalidSessionTimeout)
            await member.close()
        }
        await harness.stop()
    }

    @Test func admin_listsDescribesAndDeletesGroups_withMembersAssignmentAndOffsets() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("adm", partitions: 4)
            try await harness.produce("adm", count: 40)
            let a = try harness.member(group: "adm")
            let b = try harness.member(group: "adm")
            try a.subscribe(["adm"])
            try b.subscribe(["adm"])
            let (ca, cb) = (Collector(a), Collector(b))
            #expect(await harness.until { ca.count + cb.count == 40 && !a.membershipState.isRebalancing && !b.membershipState.isRebalancing })
            try await a.commitSync()
            try await b.commitSync()
            let admin = Admin(cluster: harness.client)
            let listed = try await admin.listGroups()
            #expect(listed.contains(GroupListing(groupId: "adm", protocolType: "consumer", state: "Stable")))
            let described = try await admin.describeGroup("adm")
            #expect(described.state == "Stable" && described.protocolName == "range" && described.members.count == 2)
            #expect(Set(described.members.map(\.memberId)) == [a.membershipState.memberId, b.membershipState.memberId])
            #expect(Set(described.members.flatMap(\.assignment)) == Self.allPartitions("adm", 4))
            #expect(described.members.allSatisfy { $0.clientId == "rivulet" && !$0.clientHost.isEmpty })
            let offsets = try await admin.listGroupOffsets("adm")
            #expect(offsets.values.map(\.offset).reduce(0, +) == 40)
            // A group with members cannot be deleted; an unknown one is not found.
            let refused = try await admin.deleteGroups(["adm", "unknown-group"])
            #expect(refused["adm"]??.kafkaErrorCode == .nonEmptyGroup && refused["unknown-group"]??.kafkaErrorCode == .groupIdNotFound)
            await ca.stop()
            await cb.stop()
            await a.close()
            await b.close()
            #expect(try await admin.describeGroup("adm").state == "Empty")
            let deleted = try await admin.deleteGroups(["adm"])
            #expect(deleted["adm"] == .some(nil))
            #expect(try await admin.listGroupOffsets("adm").isEmpty)
            #expect(try await admin.describeGroup("adm").state == "Dead")
        }
        await harness.stop()
    }

    @Test func badInput_unknownProtocolsOversizedMetadataBadCommits_getKafkasErrors_andChangeNothing() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("bad", partitions: 2)
            try await harness.produce("bad", count: 10)
            let member = try harness.member(group: "bad")
            try member.subscribe(["bad"])
            let collector = Collector(member)
            #expect(await harness.until { collector.count == 10 && !member.membershipState.isRebalancing })
            try await member.commitSync()
            let state = member.membershipState
            let committedBefore = try await member.committed(member.assignment)
            // A member whose only assignor the group does not use: INCONSISTENT_GROUP_PROTOCOL, fatal for it.
            let stranger = try harness.member(group: "bad", assignor: "roundrobin")
            try stranger.subscribe(["bad"])
            var refusal: ClientError?
            for _ in 0 ..< 100 where refusal == nil {
                do throws(ClientError) { _ = try await stranger.poll(timeoutMs: 100) } catch { refusal = error }
            }
            #expect(refusal?.kafkaErrorCode == .inconsistentGroupProtocol)
            await stranger.close()
            // Raw requests at the coordinator (node 0).
            func join(metadataBytes: Int, protocol name: String = "range") async throws -> Int16 {
                let request = JoinGroupRequest(
                    groupId: "bad", sessionTimeoutMs: 6000, rebalanceTimeoutMs: 6000, memberId: "", protocolType: "consumer",
                    protocols: [.init(name: name, metadata: ByteBuffer(repeating: 0, count: metadataBytes))])
                let response: JoinGroupResponse = try await harness.client.send(request, toNode: 0)
                return response.errorCode
            }
            #expect(try await join(metadataBytes: 300_000) == KafkaErrorCode.messageTooLarge.rawValue)
            func commit(topic: String, partition: Int32, generation: Int32, memberId: String) async throws -> Int16? {
                let request = OffsetCommitRequest(
                    groupId: "bad", generationIdOrMemberEpoch: generation, memberId: memberId,
                    topics: [.init(name: topic, partitions: [.init(partitionIndex: partition, committedOffset: 0)])])
                let response: OffsetCommitResponse = try await harness.client.send(request, toNode: 0)
                return response.topics.first?.partitions.first?.errorCode
            }
            #expect(try await commit(topic: "bad", partition: 0, generation: state.generationId - 1, memberId: state.memberId)
                == KafkaErrorCode.illegalGeneration.rawValue)
            #expect(try await commit(topic: "bad", partition: 0, generation: state.generationId, memberId: "nobody")
                == KafkaErrorCode.unknownMemberId.rawValue)
            #expect(try await commit(topic: "no-such-topic", partition: 0, generation: state.generationId, memberId: state.memberId)
                == KafkaErrorCode.unknownTopicOrPartition.rawValue)
            #expect(try await commit(topic: "bad", partition: 7, generation: state.generationId, memberId: state.memberId)
                == KafkaErrorCode.unknownTopicOrPartition.rawValue)
            // Nothing changed: same generation, same member, same offsets.
            try await harness.clock.sleep(nanoseconds: 1_000_000_000)
            #expect(member.membershipState.generationId == state.generationId && member.membershipState.memberId == state.memberId)
            #expect(try await member.committed(member.assignment) == committedBefore)
            let described = try await Admin(cluster: harness.client).describeGroup("bad")
            #expect(described.members.map(\.memberId) == [state.memberId] && described.state == "Stable")
            await collector.stop()
            await member.close()
        }
        await harness.stop()
    }

    @Test func addedPartitions_areAssigned_afterTheLeaderSeesTheNewCount() async throws {
        let harness = try await GroupHarness.start(metadataMaxAgeMs: 2000)
        do {
            try await harness.createTopic("grow", partitions: 2)
            let a = try harness.member(group: "grow")
            let b = try harness.member(group: "grow")
            try a.subscribe(["grow"])
            try b.subscribe(["grow"])
            #expect(await harness.until { a.assignment.count == 1 && b.assignment.count == 1 && !a.membershipState.isRebalancing })
            let results = try await Admin(cluster: harness.client).createPartitions(["grow": 6])
            #expect(results.first?.error == nil)
            #expect(await harness.until {
                Set(a.assignment).union(b.assignment) == Self.allPartitions("grow", 6) && a.assignment.count == 3
                    && !a.membershipState.isRebalancing && !b.membershipState.isRebalancing
            }, "a=\(a.assignment) b=\(b.assignment)")
            await a.close()
            await b.close()
        }
        await harness.stop()
    }

    @Test(arguments: assignors)
    func membersBeyondThePartitionCount_sitIdle(assignor: String) async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("few", partitions: 3)
            var members: [GroupConsumer] = []
            for _ in 0 ..< 5 {
                let member = try harness.member(group: "few-\(assignor)", assignor: assignor)
                try member.subscribe(["few"])
                members.append(member)
            }
            let settled = await harness.until {
                let owned = members.map(\.assignment)
                return owned.map(\.count).sorted() == [0, 0, 1, 1, 1] && Set(owned.flatMap { $0 }) == Self.allPartitions("few", 3)
                    && members.allSatisfy { !$0.membershipState.isRebalancing }
                    && Set(members.map(\.membershipState.generationId)).count == 1
            }
            #expect(settled, "\(members.map(\.assignment))")
            for member in members { await member.close() }
        }
        await harness.stop()
    }

    @Test(arguments: ["range", "cooperative-sticky"])
    func changingTheSubscription_rejoins_andGivesUpOnlyTopicsNoLongerSubscribed(assignor: String) async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("x", partitions: 2)
            try await harness.createTopic("y", partitions: 2)
            let revoked = Mutex<[TopicAndPartition]>([])
            let member = try harness.member(group: "resub-\(assignor)", assignor: assignor, listener: ConsumerRebalanceListener(
                onPartitionsRevoked: { partitions in revoked.withLock { $0 += partitions } }))
            try member.subscribe(["x"])
            #expect(await harness.until { Set(member.assignment) == Self.allPartitions("x", 2) && !member.membershipState.isRebalancing })
            try member.subscribe(["x", "y"])
            #expect(await harness.until {
                Set(member.assignment) == Self.allPartitions("x", 2).union(Self.allPartitions("y", 2)) && !member.membershipState.isRebalancing
            })
            #expect(member.subscription == ["x", "y"])
            try member.subscribe(["y"])
            #expect(await harness.until { Set(member.assignment) == Self.allPartitions("y", 2) && !member.membershipState.isRebalancing })
            // Cooperative: only x's partitions were ever revoked; eager revokes everything each time.
            let all = revoked.withLock { $0 }
            if assignor == "cooperative-sticky" {
                #expect(Set(all) == Self.allPartitions("x", 2) && all.count == 2, "revoked \(all)")
            } else {
                #expect(all.count == 6, "revoked \(all)")
            }
            #expect(throws: ClientError.self) { try member.subscribe([]) }
            await member.close()
        }
        await harness.stop()
    }

    @Test func autoCommit_commitsPolledPositionsEveryInterval_andNotWhenDisabled() async throws {
        let harness = try await GroupHarness.start()
        do {
            try await harness.createTopic("auto", partitions: 2)
            try await harness.produce("auto", count: 30)
            let auto = try harness.member(group: "auto-on")
            let manual = try harness.member(group: "auto-off") { $0.enableAutoCommit = false }
            try auto.subscribe(["auto"])
            try manual.subscribe(["auto"])
            let (ca, cm) = (Collector(auto), Collector(manual))
            #expect(await harness.until { ca.count == 30 && cm.count == 30 })
            let admin = Admin(cluster: harness.client)
            // auto.commit.interval.ms is 1 s of clock time: wait 3 s, the members staying in their groups.
            try await harness.clock.sleep(nanoseconds: 3_000_000_000)
            #expect(try await admin.listGroupOffsets("auto-on").values.map(\.offset).reduce(0, +) == 30)
            #expect(try await admin.listGroupOffsets("auto-off").isEmpty, "nothing committed without enable.auto.commit")
            await ca.stop()
            await cm.stop()
            await auto.close()
            await manual.close()
            #expect(try await admin.listGroupOffsets("auto-off").isEmpty, "close commits only with enable.auto.commit")
        }
        await harness.stop()
    }
}
