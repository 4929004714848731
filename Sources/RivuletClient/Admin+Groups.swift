import RivuletWire

/// A group as ListGroups reports it.
public struct GroupListing: Hashable, Sendable {
    /// `group.id`.
    public var groupId: String
    /// "consumer" for consumer groups, "" for groups that only commit offsets.
    public var protocolType: String
    /// Empty, PreparingRebalance, CompletingRebalance, Stable or Dead ("" from brokers before ListGroups v4).
    public var state: String

    public init(groupId: String, protocolType: String, state: String) {
        self.groupId = groupId
        self.protocolType = protocolType
        self.state = state
    }
}

/// One member of a described group.
public struct GroupMemberDescription: Hashable, Sendable {
    public var memberId: String
    /// `group.instance.id` of a static member.
    public var groupInstanceId: String?
    /// The member's `client.id`.
    public var clientId: String
    /// Where the member connects from, as the coordinator saw it ("/127.0.0.1").
    public var clientHost: String
    /// Its partitions (decoded from the consumer protocol; empty for other protocol types).
    public var assignment: [TopicAndPartition]

    public init(memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, assignment: [TopicAndPartition]) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.clientHost = clientHost
        self.assignment = assignment
    }
}

/// A group as DescribeGroups reports it.
public struct GroupDescription: Hashable, Sendable {
    public var groupId: String
    /// Empty, PreparingRebalance, CompletingRebalance, Stable or Dead (Dead: no such group).
    public var state: String
    public var protocolType: String
    /// The chosen assignor ("range"...), "" when not stable.
    public var protocolName: String
    public var members: [GroupMemberDescription]
    /// The coordinator's node id.
    public var coordinatorId: Int32

    public init(groupId: String, state: String, protocolType: String, protocolName: String, members: [GroupMemberDescription],
                coordinatorId: Int32) {
        self.groupId = groupId
        self.state = state
        self.protocolType = protocolType
        self.protocolName = protocolName
        self.members = members
        self.coordinatorId = coordinatorId
    }
}

extension Admin {
    // MARK: Consumer groups

    /// Every group of every broker (ListGroups is answered by each coordinator for its own groups).
    ///
    /// - Throws: `.broker` when a broker refuses (COORDINATOR_LOAD_IN_PROGRESS after retries...),
    ///   transport errors.
    public func listGroups() async throws(ClientError) -> [GroupListing] {
        let metadata = try await cluster.refreshMetadata(topics: [], allowAutoCreate: false)
        var groups: [String: GroupListing] = [:]
        for nodeId in metadata.brokers.keys.sorted() {
            let response = try await sendRetrying(ListGroupsRequest(), toNode: nodeId) { $0.errorCode }
            if response.errorCode != 0 {
                throw .broker(errorCode: response.errorCode, topic: nil, partition: nil, message: "ListGroups on broker \(nodeId)")
            }
            for group in response.groups {
                groups[group.groupId] = GroupListing(groupId: group.groupId, protocolType: group.protocolType, state: group.groupState)
            }
        }
        return groups.values.sorted { $0.groupId < $1.groupId }
    }

    /// Describes `groupId` at its coordinator. A group that does not exist is described with state
    /// "Dead" and no members, as Kafka does.
    public func describeGroup(_ groupId: String) async throws(ClientError) -> GroupDescription {
        let channel = GroupCoordinatorChannel(cluster: cluster, groupId: groupId)
        let request = DescribeGroupsRequest(groups: [groupId])
        let outcome: Result<DescribeGroupsResponse.DescribedGroup, ClientError>
        do throws(ClientError) {
            outcome = .success(try await describe(request, groupId: groupId, on: channel))
        } catch {
            outcome = .failure(error)
        }
        await channel.close()
        let described = try outcome.get()
        let members = described.members.map { member in
            GroupMemberDescription(
                memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId, clientHost: member.clientHost,
                assignment: described.protocolType == ConsumerProtocol.protocolType
                    ? ((try? ConsumerProtocol.decodeAssignment(member.memberAssignment)) ?? []).sorted() : [])
        }
        return GroupDescription(groupId: described.groupId, state: described.groupState, protocolType: described.protocolType,
                                protocolName: described.protocolData, members: members.sorted { $0.memberId < $1.memberId },
                                coordinatorId: channel.coordinatorNodeId)
    }

    /// DescribeGroups for one group at its coordinator, retrying coordinator moves.
    private func describe(_ request: DescribeGroupsRequest, groupId: String,
                          on channel: GroupCoordinatorChannel) async throws(ClientError) -> DescribeGroupsResponse.DescribedGroup {
        try await channel.retrying(operation: "DescribeGroups \(groupId)", timeoutMs: cluster.config.defaultApiTimeoutMs) {
            () async throws(ClientError) -> GroupCoordinatorChannel.RetryStep<DescribeGroupsResponse.DescribedGroup> in
            let response = try await channel.send(request)
            guard let group = response.groups.first(where: { $0.groupId == groupId }) ?? response.groups.first else {
                return .fail(.broker(errorCode: KafkaErrorCode.unknownServerError.rawValue, topic: nil, partition: nil,
                                     message: "DescribeGroups answered no group"))
            }
            if group.errorCode != 0 { return GroupCoordinatorChannel.step(for: group.errorCode, message: "DescribeGroups \(groupId)") }
            return .done(group)
        }
    }

    /// Deletes groups and their committed offsets. Each result is nil or the group's error
    /// (NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND...).
    public func deleteGroups(_ groupIds: [String]) async throws(ClientError) -> [String: ClientError?] {
        var results: [String: ClientError?] = [:]
        for groupId in groupIds {
            let channel = GroupCoordinatorChannel(cluster: cluster, groupId: groupId)
            let outcome: ClientError?
            do throws(ClientError) {
                try await channel.retrying(operation: "DeleteGroups \(groupId)", timeoutMs: cluster.config.defaultApiTimeoutMs) {
                    () async throws(ClientError) -> GroupCoordinatorChannel.RetryStep<Void> in
                    let response = try await channel.send(DeleteGroupsRequest(groupsNames: [groupId]))
                    let code = response.results.first(where: { $0.groupId == groupId })?.errorCode ?? 0
                    return code == 0 ? .done(()) : GroupCoordinatorChannel.step(for: code, message: "DeleteGroups \(groupId)")
                }
                outcome = nil
            } catch {
                outcome = error
            }
            await channel.close()
            results[groupId] = .some(outcome)
        }
        return results
    }

    /// The committed offsets of `groupId` (OffsetFetch at its coordinator): for `partitions`, or
    /// every partition it committed when nil.
    public func listGroupOffsets(_ groupId: String, partitions: [TopicAndPartition]? = nil) async throws(ClientError)
        -> [TopicAndPartition: CommittedOffset] {
        let channel = GroupCoordinatorChannel(cluster: cluster, groupId: groupId)
        do throws(ClientError) {
            let offsets = try await channel.fetchCommitted(partitions, timeoutMs: cluster.config.defaultApiTimeoutMs)
            await channel.close()
            return offsets
        } catch {
            await channel.close()
            throw error
        }
    }

    /// Sends to one broker, retrying retriable errors (connection loss, COORDINATOR_LOAD_IN_PROGRESS)
    /// until `default.api.timeout.ms`.
    private func sendRetrying<Request: KafkaRequest>(_ request: Request, toNode nodeId: Int32,
                                                     errorCode: (Request.Response) -> Int16) async throws(ClientError) -> Request.Response {
        let deadline = cluster.deadlineNanoseconds(afterMs: cluster.config.defaultApiTimeoutMs)
        var attempt = 0
        while true {
            attempt += 1
            var retry: ClientError
            do throws(ClientError) {
                let response = try await cluster.send(request, toNode: nodeId)
                let code = errorCode(response)
                guard code != 0, KafkaErrorCode(rawValue: code)?.isRetriable == true else { return response }
                retry = .broker(errorCode: code, topic: nil, partition: nil, message: "\(Request.apiKey) on broker \(nodeId)")
            } catch {
                guard error.isRetriable else { throw error }
                retry = error
            }
            let now = cluster.clock.monotonicNanoseconds()
            guard now < deadline else { throw retry }
            do { try await cluster.clock.sleep(nanoseconds: min(cluster.retryBackoffNanoseconds(attempt: attempt), deadline - now)) } catch {
                throw .closed
            }
        }
    }
}
