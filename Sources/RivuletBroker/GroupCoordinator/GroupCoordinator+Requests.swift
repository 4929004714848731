import NIOCore
import RivuletTransport
import RivuletWire

/// The group APIs on the wire: each request version mapped onto the coordinator's
/// version-independent calls, and the answers written back in the request's version.
extension GroupCoordinator {
    /// The APIs and versions the coordinator answers (the full generated ranges).
    public nonisolated static let supportedApiVersions: [ApiKey: ClosedRange<Int16>] = [
        .joinGroup: JoinGroupRequest.validVersions,
        .syncGroup: SyncGroupRequest.validVersions,
        .heartbeat: HeartbeatRequest.validVersions,
        .leaveGroup: LeaveGroupRequest.validVersions,
        .offsetCommit: OffsetCommitRequest.validVersions,
        .offsetFetch: OffsetFetchRequest.validVersions,
        .describeGroups: DescribeGroupsRequest.validVersions,
        .listGroups: ListGroupsRequest.validVersions,
        .deleteGroups: DeleteGroupsRequest.validVersions,
    ]

    /// Answers one group API request (nil for an API this coordinator does not serve). The version
    /// is `context.apiVersion`, already checked against `supportedApiVersions` by the broker.
    public func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        let version = context.apiVersion
        switch request {
        case let .joinGroup(join): return await handleJoinGroup(join, version: version, context: context).body
        case let .syncGroup(sync): return await handleSyncGroup(sync, version: version).body
        case let .heartbeat(beat): return handleHeartbeat(beat, version: version).body
        case let .leaveGroup(leave): return await handleLeaveGroup(leave, version: version).body
        case let .offsetCommit(commit): return await handleOffsetCommit(commit, version: version).body
        case let .offsetFetch(fetch): return await handleOffsetFetch(fetch, version: version).body
        case let .describeGroups(describe): return handleDescribeGroups(describe, version: version).body
        case let .listGroups(list): return handleListGroups(list, version: version).body
        case let .deleteGroups(delete): return await handleDeleteGroups(delete, version: version).body
        default: return nil
        }
    }

    /// Kafka's client host form: "/" and the peer's address without its port.
    nonisolated static func clientHost(_ address: String) -> String {
        guard let colon = address.lastIndex(of: ":"), address != "inproc" else { return "/\(address)" }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return "/\(host)"
    }

    func handleJoinGroup(_ request: JoinGroupRequest, version: Int16, context: RequestContext) async -> JoinGroupResponse {
        let event = JoinGroupEvent(
            memberId: request.memberId, groupInstanceId: version >= 5 ? request.groupInstanceId : nil,
            clientId: context.clientId ?? "", clientHost: Self.clientHost(context.clientAddress),
            sessionTimeoutMs: request.sessionTimeoutMs,
            rebalanceTimeoutMs: version >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
            protocolType: request.protocolType,
            protocols: request.protocols.map { MemberProtocol(name: $0.name, metadata: $0.metadata) },
            requireKnownMemberId: version >= 4, supportsSkipAssignment: version >= 9, newMemberId: "")
        let result = await joinGroup(groupId: request.groupId, event)
        return JoinGroupResponse(
            throttleTimeMs: 0, errorCode: result.error.rawValue, generationId: result.generationId,
            protocolType: result.protocolType, protocolName: version >= 7 ? result.protocolName : (result.protocolName ?? ""),
            leader: result.leaderId, skipAssignment: result.skipAssignment, memberId: result.memberId,
            members: result.members.map {
                JoinGroupResponse.JoinGroupResponseMember(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId,
                                                          metadata: $0.metadata)
            })
    }

    func handleSyncGroup(_ request: SyncGroupRequest, version: Int16) async -> SyncGroupResponse {
        var assignments: [String: ByteBuffer] = [:]
        for entry in request.assignments { assignments[entry.memberId] = entry.assignment }
        let event = SyncGroupEvent(memberId: request.memberId, groupInstanceId: version >= 3 ? request.groupInstanceId : nil,
                                   generationId: request.generationId,
                                   protocolType: version >= 5 ? request.protocolType : nil,
                                   protocolName: version >= 5 ? request.protocolName : nil, assignments: assignments)
        let result = await syncGroup(groupId: request.groupId, event)
        return SyncGroupResponse(throttleTimeMs: 0, errorCode: result.error.rawValue, protocolType: result.protocolType,
                                 protocolName: result.protocolName, assignment: result.assignment)
    }

    func handleHeartbeat(_ request: HeartbeatRequest, version: Int16) -> HeartbeatResponse {
        let error = heartbeat(groupId: request.groupId, memberId: request.memberId,
                              groupInstanceId: version >= 3 ? request.groupInstanceId : nil, generationId: request.generationId)
        return HeartbeatResponse(throttleTimeMs: 0, errorCode: error.rawValue)
    }

    func handleLeaveGroup(_ request: LeaveGroupRequest, version: Int16) async -> LeaveGroupResponse {
        let leaving: [(memberId: String, groupInstanceId: String?)] = version >= 3
            ? request.members.map { ($0.memberId, $0.groupInstanceId) }
            : [(request.memberId, nil)]
        let (error, memberErrors) = await leaveGroup(groupId: request.groupId, members: leaving)
        if version < 3 {
            return LeaveGroupResponse(throttleTimeMs: 0, errorCode: error != .noError ? error.rawValue : (memberErrors.first ?? error).rawValue)
        }
        let members = zip(request.members, memberErrors).map {
            LeaveGroupResponse.MemberResponse(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, errorCode: $1.rawValue)
        }
        return LeaveGroupResponse(throttleTimeMs: 0, errorCode: error.rawValue, members: error == .noError ? members : [])
    }

    func handleOffsetCommit(_ request: OffsetCommitRequest, version: Int16) async -> OffsetCommitResponse {
        let nowMs = clock.wallMilliseconds()
        var offsets: [(GroupTopicPartition, CommittedOffset)] = []
        for topic in request.topics {
            for partition in topic.partitions {
                let timestamp = version == 1 && partition.commitTimestamp >= 0 ? partition.commitTimestamp : nowMs
                offsets.append((GroupTopicPartition(topic: topic.name, partition: partition.partitionIndex),
                                CommittedOffset(offset: partition.committedOffset,
                                                leaderEpoch: version >= 6 ? partition.committedLeaderEpoch : -1,
                                                metadata: partition.committedMetadata ?? "", commitTimestampMs: timestamp)))
            }
        }
        let results = await commitOffsets(groupId: request.groupId, memberId: version >= 1 ? request.memberId : "",
                                          groupInstanceId: version >= 7 ? request.groupInstanceId : nil,
                                          generationId: version >= 1 ? request.generationIdOrMemberEpoch : -1, offsets: offsets)
        return OffsetCommitResponse(throttleTimeMs: 0, topics: request.topics.map { topic in
            OffsetCommitResponse.OffsetCommitResponseTopic(name: topic.name, partitions: topic.partitions.map {
                let key = GroupTopicPartition(topic: topic.name, partition: $0.partitionIndex)
                return .init(partitionIndex: $0.partitionIndex, errorCode: (results[key] ?? .unknownServerError).rawValue)
            })
        })
    }

    func handleOffsetFetch(_ request: OffsetFetchRequest, version: Int16) async -> OffsetFetchResponse {
        if version >= 8 {
            var groups: [OffsetFetchResponse.OffsetFetchResponseGroup] = []
            for group in request.groups {
                let requested = group.topics.map { topics in
                    topics.flatMap { topic in topic.partitionIndexes.map { GroupTopicPartition(topic: topic.name, partition: $0) } }
                }
                let (error, offsets) = fetchOffsets(groupId: group.groupId, partitions: requested)
                let byTopic = error == .noError ? Self.grouped(offsets) : []
                groups.append(.init(groupId: group.groupId, topics: byTopic.map { topic, partitions in
                    .init(name: topic, partitions: partitions.map { partition, committed in
                        .init(partitionIndex: partition, committedOffset: committed?.offset ?? -1,
                              committedLeaderEpoch: committed?.leaderEpoch ?? -1, metadata: committed?.metadata ?? "", errorCode: 0)
                    })
                }, errorCode: error.rawValue))
            }
            return OffsetFetchResponse(throttleTimeMs: 0, groups: groups)
        }
        let requested = (version >= 2 ? request.topics : (request.topics ?? [])).map { topics in
            topics.flatMap { topic in topic.partitionIndexes.map { GroupTopicPartition(topic: topic.name, partition: $0) } }
        }
        let (error, offsets) = fetchOffsets(groupId: request.groupId, partitions: requested)
        // Before v2 there is no top-level error: a coordinator error goes on every partition.
        let partitionError: Int16 = version < 2 ? error.rawValue : 0
        var topics = Self.grouped(offsets).map { topic, partitions in
            OffsetFetchResponse.OffsetFetchResponseTopic(name: topic, partitions: partitions.map { partition, committed in
                .init(partitionIndex: partition, committedOffset: committed?.offset ?? -1,
                      committedLeaderEpoch: committed?.leaderEpoch ?? -1, metadata: committed?.metadata ?? "", errorCode: partitionError)
            })
        }
        if version >= 2, error != .noError { topics = [] }
        return OffsetFetchResponse(throttleTimeMs: 0, topics: topics, errorCode: version >= 2 ? error.rawValue : 0)
    }

    /// Offsets grouped by topic, topics and partitions in request (or sorted) order.
    nonisolated static func grouped(_ offsets: [(GroupTopicPartition, CommittedOffset?)])
        -> [(String, [(Int32, CommittedOffset?)])] {
        var order: [String] = []
        var byTopic: [String: [(Int32, CommittedOffset?)]] = [:]
        for (partition, committed) in offsets {
            if byTopic[partition.topic] == nil { order.append(partition.topic) }
            byTopic[partition.topic, default: []].append((partition.partition, committed))
        }
        return order.map { ($0, byTopic[$0] ?? []) }
    }

    func handleDescribeGroups(_ request: DescribeGroupsRequest, version: Int16) -> DescribeGroupsResponse {
        DescribeGroupsResponse(throttleTimeMs: 0, groups: request.groups.map { groupId in
            let (error, description) = describeGroup(groupId)
            return DescribeGroupsResponse.DescribedGroup(
                errorCode: error.rawValue, groupId: groupId, groupState: description.state, protocolType: description.protocolType,
                protocolData: description.protocolName,
                members: description.members.map {
                    .init(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId, clientHost: $0.clientHost,
                          memberMetadata: $0.metadata, memberAssignment: $0.assignment)
                },
                authorizedOperations: request.includeAuthorizedOperations ? 0 : Int32.min)
        })
    }

    func handleListGroups(_ request: ListGroupsRequest, version: Int16) -> ListGroupsResponse {
        let (error, listed) = listGroups()
        let states = version >= 4 ? Set(request.statesFilter.map { $0.lowercased() }) : []
        let types = version >= 5 ? Set(request.typesFilter.map { $0.lowercased() }) : []
        let groups = listed.filter { group in
            (states.isEmpty || states.contains(group.state.kafkaName.lowercased())) && (types.isEmpty || types.contains("classic"))
        }
        return ListGroupsResponse(throttleTimeMs: 0, errorCode: error.rawValue, groups: groups.map {
            .init(groupId: $0.groupId, protocolType: $0.protocolType, groupState: $0.state.kafkaName, groupType: "classic")
        })
    }

    func handleDeleteGroups(_ request: DeleteGroupsRequest, version: Int16) async -> DeleteGroupsResponse {
        let results = await deleteGroups(request.groupsNames)
        return DeleteGroupsResponse(throttleTimeMs: 0, results: results.map { groupId, error in
            .init(groupId: groupId, errorCode: error.rawValue,
                  errorMessage: version >= 3 && error != .noError ? error.message : nil)
        })
    }
}
