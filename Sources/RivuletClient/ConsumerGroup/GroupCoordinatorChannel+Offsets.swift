import RivuletCore
import RivuletWire

/// A committed offset as OffsetFetch returns it.
public struct CommittedOffset: Sendable, Hashable {
    /// The next offset the group will read.
    public var offset: Int64
    /// The metadata string stored with it ("" when none).
    public var metadata: String
    /// The leader epoch stored with it, -1 when unknown.
    public var leaderEpoch: Int32

    public init(offset: Int64, metadata: String = "", leaderEpoch: Int32 = -1) {
        self.offset = offset
        self.metadata = metadata
        self.leaderEpoch = leaderEpoch
    }
}

/// Who commits: the member's identity for generation-checked commits, or nobody (a simple commit
/// from outside any generation, as admin tools do).
struct CommitIdentity: Sendable, Hashable {
    var generationId: Int32 = -1
    var memberId: String = ""
    var groupInstanceId: String?
}

extension GroupCoordinatorChannel {
    /// OffsetFetch for `partitions` (nil: every partition the group committed), retrying coordinator
    /// moves and COORDINATOR_LOAD_IN_PROGRESS until `timeoutMs`. Partitions without a committed
    /// offset are left out.
    ///
    /// - Throws: `.broker` with a group error (GROUP_AUTHORIZATION_FAILED...), `.timedOut`, `.closed`.
    func fetchCommitted(_ partitions: [TopicAndPartition]?, timeoutMs: Int64) async throws(ClientError) -> [TopicAndPartition: CommittedOffset] {
        var byTopic: [String: [Int32]] = [:]
        for partition in partitions ?? [] { byTopic[partition.topic, default: []].append(partition.partition) }
        let topics = byTopic.keys.sorted()
        let request = OffsetFetchRequest(
            groupId: groupId,
            topics: partitions == nil ? nil : topics.map { .init(name: $0, partitionIndexes: byTopic[$0] ?? []) },
            groups: [.init(groupId: groupId, topics: partitions == nil ? nil : topics.map { .init(name: $0, partitionIndexes: byTopic[$0] ?? []) })],
            requireStable: false)
        return try await retrying(operation: "OffsetFetch for group \(groupId)", timeoutMs: timeoutMs) { () async throws(ClientError) -> RetryStep<[TopicAndPartition: CommittedOffset]> in
            let response = try await send(request)
            var errorCode = response.errorCode
            var entries: [(TopicAndPartition, Int64, String?, Int32, Int16)] = []
            if let group = response.groups.first(where: { $0.groupId == groupId }) ?? response.groups.first {
                errorCode = group.errorCode
                for topic in group.topics {
                    for partition in topic.partitions {
                        entries.append((TopicAndPartition(topic: topic.name, partition: partition.partitionIndex), partition.committedOffset,
                                        partition.metadata, partition.committedLeaderEpoch, partition.errorCode))
                    }
                }
            } else {
                for topic in response.topics {
                    for partition in topic.partitions {
                        entries.append((TopicAndPartition(topic: topic.name, partition: partition.partitionIndex), partition.committedOffset,
                                        partition.metadata, partition.committedLeaderEpoch, partition.errorCode))
                    }
                }
            }
            if errorCode != 0 { return Self.step(for: errorCode, message: "OffsetFetch for group \(groupId)") }
            var result: [TopicAndPartition: CommittedOffset] = [:]
            for (partition, offset, metadata, epoch, code) in entries {
                if code != 0 {
                    // UNSTABLE_OFFSET_COMMIT and coordinator errors: retry; a partition the
                    // coordinator does not know: nothing committed.
                    if code == KafkaErrorCode.unknownTopicOrPartition.rawValue { continue }
                    return Self.step(for: code, message: "OffsetFetch for \(partition)")
                }
                if offset >= 0 { result[partition] = CommittedOffset(offset: offset, metadata: metadata ?? "", leaderEpoch: epoch) }
            }
            return .done(result)
        }
    }

    /// OffsetCommit of `offsets` as `identity`, retrying coordinator moves and
    /// COORDINATOR_LOAD_IN_PROGRESS until `timeoutMs`.
    ///
    /// - Throws: `.broker` with the first partition error that is not retried:
    ///   REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID (the
    ///   commit is refused because the group moved on: the partitions may belong to another member
    ///   now), UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE...; `.timedOut`, `.closed`.
    func commit(_ offsets: [TopicAndPartition: Int64], identity: CommitIdentity, timeoutMs: Int64) async throws(ClientError) {
        guard !offsets.isEmpty else { return }
        var byTopic: [String: [OffsetCommitRequest.OffsetCommitRequestPartition]] = [:]
        for (partition, offset) in offsets {
            byTopic[partition.topic, default: []].append(.init(partitionIndex: partition.partition, committedOffset: offset,
                                                                committedMetadata: ""))
        }
        let request = OffsetCommitRequest(
            groupId: groupId, generationIdOrMemberEpoch: identity.generationId, memberId: identity.memberId,
            groupInstanceId: identity.groupInstanceId,
            topics: byTopic.keys.sorted().map { topic in
                .init(name: topic, partitions: (byTopic[topic] ?? []).sorted { $0.partitionIndex < $1.partitionIndex })
            })
        try await retrying(operation: "OffsetCommit for group \(groupId)", timeoutMs: timeoutMs) { () async throws(ClientError) -> RetryStep<Void> in
            let response = try await send(request)
            for topic in response.topics {
                for partition in topic.partitions where partition.errorCode != 0 {
                    return Self.step(for: partition.errorCode, message: "OffsetCommit for \(topic.name)-\(partition.partitionIndex)",
                                     topic: topic.name, partition: partition.partitionIndex)
                }
            }
            return .done(())
        }
    }

    /// What to do after one attempt.
    enum RetryStep<Value: Sendable>: Sendable {
        case done(Value)
        /// Retry after backoff (the coordinator is unknown or loading).
        case retry(ClientError)
        case fail(ClientError)
    }

    /// Maps an error code: coordinator errors forget the coordinator and retry; other retriable
    /// codes retry; the rest fail.
    static func step<Value>(for code: Int16, message: String, topic: String? = nil, partition: Int32? = nil) -> RetryStep<Value> {
        let error = ClientError.broker(errorCode: code, topic: topic, partition: partition, message: message)
        if isCoordinatorError(code) || code == KafkaErrorCode.coordinatorLoadInProgress.rawValue
            || code == KafkaErrorCode.unstableOffsetCommit.rawValue || code == KafkaErrorCode.requestTimedOut.rawValue {
            return .retry(error)
        }
        return .fail(error)
    }

    /// Runs `attempt` until it is done or fails, retrying (with `retry.backoff.ms`) transport errors
    /// and `.retry` steps until `timeoutMs`.
    func retrying<Value: Sendable>(operation: String, timeoutMs: Int64,
                                   _ attempt: () async throws(ClientError) -> RetryStep<Value>) async throws(ClientError) -> Value {
        let deadline = cluster.deadlineNanoseconds(afterMs: timeoutMs)
        var attempts = 0
        var lastError = ClientError.timedOut(operation: operation, config: "default.api.timeout.ms", afterMs: timeoutMs)
        while true {
            attempts += 1
            do throws(ClientError) {
                switch try await attempt() {
                case let .done(value): return value
                case let .fail(error): throw error
                case let .retry(error):
                    if case let .broker(code, _, _, _) = error, Self.isCoordinatorError(code) { coordinatorUnknown() }
                    lastError = error
                }
            } catch {
                if case .closed = error { throw error }
                guard error.isRetriable else { throw error }
                coordinatorUnknown()
                lastError = error
            }
            let now = cluster.clock.monotonicNanoseconds()
            guard now < deadline else {
                if case .broker = lastError { throw lastError }
                throw .timedOut(operation: operation + " (last error: \(lastError))", config: "default.api.timeout.ms", afterMs: timeoutMs)
            }
            do {
                try await cluster.clock.sleep(nanoseconds: min(cluster.retryBackoffNanoseconds(attempt: attempts), deadline - now))
            } catch { throw .closed }
        }
    }
}
