import DequeModule
import NIOCore
import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization

/// The consumer's fetch state: positions, one fetch in flight per broker, and the fetched data
/// waiting to be polled. All state sits behind one `Mutex`; fetches run as tasks and hand their
/// data over under the lock, then wake the poller.
final class Fetcher: Sendable {
    /// What the consumer knows about one assigned partition.
    struct PartitionState {
        /// The next offset to return, or nil until reset.
        var position: Int64?
        /// How to reset when the position is missing or out of range; nil: use `auto.offset.reset`.
        var pendingReset: AutoOffsetReset?
        /// Bumped by every seek: answers to fetches sent before are dropped.
        var generation: UInt64 = 0
        /// A fetch for this partition is in flight.
        var fetching = false
        /// Fetched batches not yet polled.
        var buffered: Buffered?
        var highWatermark: Int64 = -1
        var logStartOffset: Int64 = -1
        var lastStableOffset: Int64 = -1
        /// Do not fetch before this time (after errors), monotonic.
        var backoffUntilNanoseconds: UInt64 = 0
    }

    /// Fetched bytes of one partition, consumed a batch at a time.
    struct Buffered {
        /// The concatenated batches still to poll.
        var iterator: RecordBatchSequence.Iterator
        var highWatermark: Int64
    }

    struct State {
        var partitions: [TopicAndPartition: PartitionState] = [:]
        /// Brokers with a fetch in flight.
        var fetchingNodes: Set<Int32> = []
        /// Partitions with buffered data, in arrival order.
        var ready = Deque<TopicAndPartition>()
        /// Errors to throw from the next poll (OFFSET_OUT_OF_RANGE with reset none, fatal errors).
        var pendingErrors: [ClientError] = []
        var closed = false
        /// This consumer's own fetch connection per broker (see `ClusterClient.dedicatedConnection`).
        var connections: [Int32: NegotiatedConnection] = [:]
    }

    let config: ConsumerConfig
    let cluster: ClusterClient
    let state = Mutex(State())
    let wakeup = Wakeup()
    /// Decompression state and scratch memory reused across batches.
    let context = CompressionContext()

    init(config: ConsumerConfig, cluster: ClusterClient) {
        self.config = config
        self.cluster = cluster
    }

    // MARK: Assignment and positions

    func assign(_ partitions: [TopicAndPartition]) {
        state.withLock { state in
            var next: [TopicAndPartition: PartitionState] = [:]
            for partition in partitions { next[partition] = state.partitions[partition] ?? PartitionState() }
            state.partitions = next
            state.ready.removeAll { next[$0] == nil }
        }
    }

    func seek(_ partition: TopicAndPartition, to offset: Int64?, reset: AutoOffsetReset?) throws(ClientError) {
        try state.withLock { (state: inout State) throws(ClientError) in
            guard var partitionState = state.partitions[partition] else { throw .notAssigned(partition) }
            partitionState.position = offset
            partitionState.pendingReset = reset
            partitionState.generation &+= 1
            partitionState.buffered = nil
            partitionState.backoffUntilNanoseconds = 0
            state.partitions[partition] = partitionState
            state.ready.removeAll { $0 == partition }
        }
        wakeup.signal()
    }

    /// Partitions that need a reset now, with the strategy (throws for `none`).
    private func partitionsNeedingReset() throws(ClientError) -> [TopicAndPartition: AutoOffsetReset] {
        try state.withLock { (state: inout State) throws(ClientError) -> [TopicAndPartition: AutoOffsetReset] in
            var result: [TopicAndPartition: AutoOffsetReset] = [:]
            for (partition, partitionState) in state.partitions where partitionState.position == nil {
                let strategy = partitionState.pendingReset ?? config.autoOffsetReset
                if strategy == .none { throw .noOffsetForPartition(partition) }
                result[partition] = strategy
            }
            return result
        }
    }

    /// Looks up positions for partitions without one (earliest or latest), via ListOffsets.
    func resetPositionsIfNeeded(timeoutMs: Int64) async throws(ClientError) {
        let needed = try partitionsNeedingReset()
        guard !needed.isEmpty else { return }
        let generations = state.withLock { state in needed.keys.map { ($0, state.partitions[$0]?.generation ?? 0) } }
        let offsets = try await listOffsets(needed.mapValues { $0 == .earliest ? -2 : -1 }, timeoutMs: timeoutMs)
        state.withLock { state in
            for (partition, generation) in generations {
                guard var partitionState = state.partitions[partition], partitionState.generation == generation,
                      partitionState.position == nil, let offset = offsets[partition] else { continue }
                partitionState.position = offset
                partitionState.pendingReset = nil
                state.partitions[partition] = partitionState
            }
        }
    }

    /// ListOffsets per leader: partition -> offset; partitions whose lookup failed are left out
    /// (retried on the next poll) unless the error is fatal.
    func listOffsets(_ timestamps: [TopicAndPartition: Int64], timeoutMs: Int64) async throws(ClientError) -> [TopicAndPartition: Int64] {
        var result: [TopicAndPartition: Int64] = [:]
        var metadata = cluster.metadata
        for topic in Set(timestamps.keys.map(\.topic)) where metadata.topics[topic] == nil {
            _ = try await cluster.topicMetadata(topic, timeoutMs: timeoutMs, allowAutoCreate: cluster.config.allowAutoCreateTopics)
        }
        metadata = cluster.metadata
        var byLeader: [Int32: [TopicAndPartition]] = [:]
        for partition in timestamps.keys {
            guard let leader = metadata.leader(of: partition) else {
                if let topic = metadata.topics[partition.topic], Int(partition.partition) >= topic.partitions.count {
                    throw .invalidPartition(topic: partition.topic, partition: partition.partition, partitionCount: topic.partitions.count)
                }
                cluster.requestMetadataRefresh()
                continue
            }
            byLeader[leader.nodeId, default: []].append(partition)
        }
        for (nodeId, partitions) in byLeader {
            let request = ListOffsetsRequest(
                replicaId: -1, isolationLevel: config.isolationLevel.rawValue,
                topics: Dictionary(grouping: partitions, by: \.topic).map { topic, parts in
                    .init(name: topic, partitions: parts.map { .init(partitionIndex: $0.partition, timestamp: timestamps[$0] ?? -1) })
                })
            let response: ListOffsetsResponse
            do throws(ClientError) {
                response = try await cluster.send(request, toNode: nodeId)
            } catch {
                guard error.isRetriable else { throw error }
                continue
            }
            for topic in response.topics {
                for partition in topic.partitions {
                    let key = TopicAndPartition(topic: topic.name, partition: partition.partitionIndex)
                    if partition.errorCode == 0 {
                        result[key] = partition.offset >= 0 ? partition.offset : (partition.oldStyleOffsets.first ?? partition.offset)
                    } else {
                        let error = ClientError.broker(partition.errorCode, key)
                        if !error.isRetriable { throw error }
                        if RecordAccumulator.refreshesMetadata(error) { cluster.requestMetadataRefresh() }
                    }
                }
            }
        }
        return result
    }

    // MARK: Polling buffered data

    /// Takes buffered batches (whole batches, up to about `max.poll.records`), advancing positions.
    ///
    /// - Throws: a pending error (OFFSET_OUT_OF_RANGE with reset none, corrupt batch).
    func collect() throws(ClientError) -> ConsumerRecords {
        try state.withLock { (state: inout State) throws(ClientError) -> ConsumerRecords in
            if !state.pendingErrors.isEmpty { throw state.pendingErrors.removeFirst() }
            var chunks: [ConsumerRecords.PartitionRecords] = []
            var total = 0
            while total < config.maxPollRecords, let partition = state.ready.first {
                guard var partitionState = state.partitions[partition], var buffered = partitionState.buffered,
                      let position = partitionState.position else {
                    state.ready.removeFirst()
                    continue
                }
                var batches: [RecordBatch] = []
                var next = position
                var exhausted = false
                while total < config.maxPollRecords {
                    guard let batch = buffered.iterator.next() else {
                        exhausted = true
                        break
                    }
                    let header = batch.header
                    if header.nextOffset <= next { continue } // before the position (a batch can start earlier)
                    if config.checkCrcs, !batch.isChecksumValid {
                        // Leave the position at the bad batch; the application decides (seek past it).
                        partitionState.buffered = nil
                        state.partitions[partition] = partitionState
                        state.ready.removeFirst()
                        throw .corruptRecords(partition, reason: "CRC mismatch in the batch at offset \(header.baseOffset)")
                    }
                    if header.attributes.isControl {
                        next = header.nextOffset
                        continue
                    }
                    let skipped = next > header.baseOffset ? Int(min(next - header.baseOffset, Int64(header.recordCount))) : 0
                    total += max(Int(header.recordCount) - skipped, 0)
                    batches.append(batch)
                    next = header.nextOffset
                }
                if buffered.iterator.failure != nil, exhausted {
                    let failure = buffered.iterator.failure.map { "\($0)" } ?? ""
                    partitionState.buffered = nil
                    state.partitions[partition] = partitionState
                    state.ready.removeFirst()
                    if batches.isEmpty { throw .corruptRecords(partition, reason: failure) }
                    state.pendingErrors.append(.corruptRecords(partition, reason: failure))
                }
                if !batches.isEmpty || next != position {
                    chunks.append(ConsumerRecords.PartitionRecords(partition: partition, batches: batches, fromOffset: position,
                                                                   nextOffset: next, highWatermark: buffered.highWatermark))
                }
                partitionState.position = next
                if exhausted {
                    partitionState.buffered = nil
                    if state.ready.first == partition { state.ready.removeFirst() }
                } else {
                    partitionState.buffered = buffered
                }
                state.partitions[partition] = partitionState
            }
            guard !chunks.isEmpty else { return .empty }
            return ConsumerRecords(partitions: chunks.filter { !$0.batches.isEmpty }, count: total, verifyChecksums: false,
                                   decompressedBytesMax: RecordBatchLimits.decompressedBytesMax, context: context)
        }
    }

    /// Whether any partition has data waiting to be polled.
    var hasBufferedData: Bool { state.withLock { !$0.ready.isEmpty || !$0.pendingErrors.isEmpty } }

    // MARK: Fetching

    /// Sends a fetch to every leader that has fetchable partitions and no fetch in flight.
    func sendFetches() {
        let now = cluster.clock.monotonicNanoseconds()
        let metadata = cluster.metadata
        let plans = state.withLock { state -> [(Int32, [(TopicAndPartition, Int64, UInt64)])] in
            guard !state.closed else { return [] }
            var byNode: [Int32: [(TopicAndPartition, Int64, UInt64)]] = [:]
            var missingLeader = false
            for (partition, partitionState) in state.partitions {
                guard let position = partitionState.position, partitionState.buffered == nil, !partitionState.fetching,
                      partitionState.backoffUntilNanoseconds <= now else { continue }
                guard let leader = metadata.leader(of: partition) else {
                    missingLeader = true
                    continue
                }
                guard !state.fetchingNodes.contains(leader.nodeId) else { continue }
                byNode[leader.nodeId, default: []].append((partition, position, partitionState.generation))
            }
            if missingLeader { cluster.requestMetadataRefresh() }
            for (nodeId, partitions) in byNode {
                state.fetchingNodes.insert(nodeId)
                for (partition, _, _) in partitions { state.partitions[partition]?.fetching = true }
            }
            return byNode.map { ($0.key, $0.value) }
        }
        for (nodeId, partitions) in plans {
            Task { await self.fetch(from: nodeId, partitions: partitions, metadata: metadata) }
        }
    }

    private func fetch(from nodeId: Int32, partitions: [(TopicAndPartition, Int64, UInt64)], metadata: ClusterMetadata) async {
        var topics: [FetchRequest.FetchTopic] = []
        for (partition, position, _) in partitions {
            let fetchPartition = FetchRequest.FetchPartition(partition: partition.partition, currentLeaderEpoch: -1, fetchOffset: position,
                                                             logStartOffset: -1,
                                                             partitionMaxBytes: Int32(clamping: config.maxPartitionFetchBytes))
            if let index = topics.firstIndex(where: { $0.topic == partition.topic }) {
                topics[index].partitions.append(fetchPartition)
            } else {
                topics.append(FetchRequest.FetchTopic(topic: partition.topic, topicId: metadata.topics[partition.topic]?.topicId ?? .zero,
                                                      partitions: [fetchPartition]))
            }
        }
        let request = FetchRequest(replicaId: -1, maxWaitMs: Int32(clamping: config.fetchMaxWaitMs),
                                   minBytes: Int32(clamping: config.fetchMinBytes), maxBytes: Int32(clamping: config.fetchMaxBytes),
                                   isolationLevel: config.isolationLevel.rawValue, sessionId: 0, sessionEpoch: -1, topics: topics)
        var response: FetchResponse?
        var failure: ClientError?
        var used: NegotiatedConnection?
        do throws(ClientError) {
            let connection = try await fetchConnection(toNode: nodeId)
            used = connection
            let future: ResponseFuture<KafkaResponseBody?>
            do { future = try connection.enqueue(request).response } catch { throw ClientError.transport(error) }
            let body = try await cluster.awaitResponse(future, on: connection,
                                                       timeoutMs: cluster.config.requestTimeoutMs + config.fetchMaxWaitMs)
            guard let body, let decoded = FetchResponse(body: body) else {
                throw ClientError.transport(.unexpectedResponse(connection.address, expected: .fetch))
            }
            response = decoded
            if decoded.errorCode != 0 {
                failure = .broker(errorCode: decoded.errorCode, topic: nil, partition: nil, message: "Fetch")
                response = nil
            }
        } catch {
            failure = error
            if case .transport = error, let used { dropConnection(used, nodeId: nodeId) }
        }
        handle(response: response, failure: failure, nodeId: nodeId, requested: partitions, metadata: metadata)
    }

    /// The consumer's fetch connection to `nodeId`, opened on first use (one fetch per broker is in
    /// flight at a time, so no two tasks open it at once).
    private func fetchConnection(toNode nodeId: Int32) async throws(ClientError) -> NegotiatedConnection {
        if let existing = state.withLock({ $0.connections[nodeId] }) { return existing }
        let connection = try await cluster.dedicatedConnection(toNode: nodeId)
        let kept = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.connections[nodeId] = connection
            return true
        }
        guard kept else {
            await connection.close()
            throw .closed
        }
        return connection
    }

    private func dropConnection(_ connection: NegotiatedConnection, nodeId: Int32) {
        state.withLock { state in
            if state.connections[nodeId] === connection { state.connections[nodeId] = nil }
        }
        Task { await connection.close() }
    }

    private func handle(response: FetchResponse?, failure: ClientError?, nodeId: Int32,
                        requested: [(TopicAndPartition, Int64, UInt64)], metadata: ClusterMetadata) {
        let now = cluster.clock.monotonicNanoseconds()
        let backoff = now &+ cluster.retryBackoffNanoseconds(attempt: 1)
        var refresh = false
        state.withLock { state in
            state.fetchingNodes.remove(nodeId)
            var answered: Set<TopicAndPartition> = []
            if let response {
                for topic in response.responses {
                    let name = topic.topic.isEmpty ? (metadata.topic(id: topic.topicId)?.name ?? "") : topic.topic
                    for data in topic.partitions {
                        let partition = TopicAndPartition(topic: name, partition: data.partitionIndex)
                        guard let (_, position, generation) = requested.first(where: { $0.0 == partition }) else { continue }
                        answered.insert(partition)
                        guard var partitionState = state.partitions[partition] else { continue }
                        partitionState.fetching = false
                        defer { state.partitions[partition] = partitionState }
                        // A seek since the fetch was sent makes its answer stale.
                        guard partitionState.generation == generation, partitionState.position == position else { continue }
                        switch KafkaErrorCode(rawValue: data.errorCode) {
                        case .noError?:
                            partitionState.highWatermark = data.highWatermark
                            if data.logStartOffset >= 0 { partitionState.logStartOffset = data.logStartOffset }
                            partitionState.lastStableOffset = data.lastStableOffset
                            if let records = data.records, records.readableBytes > 0 {
                                partitionState.buffered = Buffered(
                                    iterator: RecordBatchSequence(records, mode: .allowPartialTail).makeIterator(),
                                    highWatermark: data.highWatermark)
                                state.ready.append(partition)
                            }
                        case .offsetOutOfRange?:
                            let strategy = partitionState.pendingReset ?? config.autoOffsetReset
                            if strategy == .none {
                                state.pendingErrors.append(.offsetOutOfRange(partition, offset: position))
                                partitionState.backoffUntilNanoseconds = backoff
                            } else {
                                partitionState.position = nil
                                partitionState.pendingReset = strategy
                            }
                        case .notLeaderOrFollower?, .unknownTopicOrPartition?, .leaderNotAvailable?, .fencedLeaderEpoch?,
                             .unknownLeaderEpoch?, .unknownTopicId?, .kafkaStorageError?, .replicaNotAvailable?,
                             .offsetNotAvailable?, .inconsistentTopicId?:
                            refresh = true
                            partitionState.backoffUntilNanoseconds = backoff
                        default:
                            let error = ClientError.broker(data.errorCode, partition)
                            if !error.isRetriable { state.pendingErrors.append(error) }
                            partitionState.backoffUntilNanoseconds = backoff
                        }
                    }
                }
            }
            if let failure, RecordAccumulator.refreshesMetadata(failure) { refresh = true }
            for (partition, _, _) in requested where !answered.contains(partition) {
                guard var partitionState = state.partitions[partition] else { continue }
                partitionState.fetching = false
                if failure != nil { partitionState.backoffUntilNanoseconds = backoff }
                state.partitions[partition] = partitionState
            }
        }
        if refresh { cluster.requestMetadataRefresh() }
        wakeup.signal()
    }

    func close() async {
        let connections = state.withLock { state -> [NegotiatedConnection] in
            state.closed = true
            state.partitions.removeAll()
            state.ready.removeAll()
            let connections = Array(state.connections.values)
            state.connections.removeAll()
            return connections
        }
        wakeup.signal()
        for connection in connections { await connection.close() }
    }
}
