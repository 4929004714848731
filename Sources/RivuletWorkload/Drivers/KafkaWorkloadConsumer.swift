import NIOCore
import RivuletClient
import RivuletCore
import Synchronization

/// How the consumers of one subscription share its topic's partitions in `assigned` mode (for
/// targets without consumer groups, and for instant hand-over in tests): the driver plays the
/// group. Partition p belongs to the member at position `p % members` (members sorted by consumer
/// index), reassigned at once when a member joins, closes or is killed, and a partition's new owner
/// resumes at the position the subscription last delivered (the group's committed offset). In the
/// default `groups` mode the consumers join a real consumer group instead (`GroupConsumer`).
final class StaticSubscriptionGroup: Sendable {
    let name: String
    let topic: String
    let partitionCount: Int
    private let state = Mutex<State>(State())

    private struct State {
        var members: [Int: KafkaWorkloadConsumer] = [:]
        /// The next offset to deliver per partition (after what some member delivered).
        var positions: [Int32: Int64] = [:]
    }

    init(name: String, topic: String, partitionCount: Int) {
        self.name = name
        self.topic = topic
        self.partitionCount = max(1, partitionCount)
    }

    /// Adds a member and rebalances.
    func join(_ consumer: KafkaWorkloadConsumer) {
        let plan = state.withLock { state -> [(KafkaWorkloadConsumer, [Int32])] in
            state.members[consumer.index] = consumer
            return Self.plan(state.members, partitionCount: partitionCount)
        }
        for (member, partitions) in plan { member.reassign(partitions) }
    }

    /// Removes a member and rebalances.
    func leave(_ index: Int) {
        let plan = state.withLock { state -> [(KafkaWorkloadConsumer, [Int32])] in
            guard state.members.removeValue(forKey: index) != nil else { return [] }
            return Self.plan(state.members, partitionCount: partitionCount)
        }
        for (member, partitions) in plan { member.reassign(partitions) }
    }

    /// Records that records below `offset` of `partition` were delivered.
    func delivered(partition: Int32, upTo offset: Int64) {
        state.withLock { state in
            if offset > state.positions[partition] ?? -1 { state.positions[partition] = offset }
        }
    }

    /// Where a new owner of `partition` starts (nil: the log start, `auto.offset.reset=earliest`).
    func position(of partition: Int32) -> Int64? {
        state.withLock { $0.positions[partition] }
    }

    private static func plan(_ members: [Int: KafkaWorkloadConsumer], partitionCount: Int) -> [(KafkaWorkloadConsumer, [Int32])] {
        let sorted = members.keys.sorted()
        guard !sorted.isEmpty else { return [] }
        var assignment = [[Int32]](repeating: [], count: sorted.count)
        for partition in 0 ..< partitionCount { assignment[partition % sorted.count].append(Int32(partition)) }
        return sorted.enumerated().compactMap { position, index in members[index].map { ($0, assignment[position]) } }
    }
}

/// A `WorkloadConsumer` over the Rivulet client (its own `ClusterClient`): one task polls, turns
/// each partition's records into one `WorkloadReceivedBatch` (record values are slices of the
/// fetched bytes; the value array is reused), and hands it to the runner.
///
/// Two ways to get partitions: `group` (default) subscribes a `GroupConsumer` with `group.id` =
/// the subscription, so the group coordinator assigns partitions and rebalances, and committed
/// offsets carry positions across owners; `assigned` takes partitions from a
/// `StaticSubscriptionGroup`.
///
/// `pause` stops polling (fetched data waits at the broker, so a backlog builds); `close` leaves the
/// group (its partitions move to the other members); `kill` stops without leaving (a group expires
/// the member after `session.timeout.ms`, as it would a crashed process).
final class KafkaWorkloadConsumer: WorkloadConsumer {
    /// Where the partitions come from.
    enum Source: Sendable {
        /// A member of a real consumer group.
        case group(GroupConsumer)
        /// Partitions handed out by the driver.
        case assigned(Consumer, StaticSubscriptionGroup)
    }

    let index: Int
    let topic: String
    let source: Source
    private let handler: WorkloadReceiveHandler
    private let clock: any EngineClock
    private let state = Mutex<State>(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    private struct State {
        var pendingAssignment: [Int32]?
        var assigned: Set<Int32> = []
        var paused = false
        var closed = false
    }

    /// How long one poll waits for records before the loop looks at its state again.
    static let pollTimeoutMs: Int64 = 100

    init(index: Int, topic: String, source: Source, clock: any EngineClock, handler: @escaping WorkloadReceiveHandler) {
        self.index = index
        self.topic = topic
        self.source = source
        self.clock = clock
        self.handler = handler
    }

    /// The group member, in `group` mode.
    var groupConsumer: GroupConsumer? {
        if case .group(let member) = source { return member }
        return nil
    }

    /// The cluster client this consumer owns.
    private var cluster: ClusterClient {
        switch source {
        case .group(let member): member.cluster
        case .assigned(let consumer, _): consumer.cluster
        }
    }

    /// Joins the group (or the driver's subscription) and starts polling.
    ///
    /// - Throws: `ClientError` when the group subscription is refused.
    func start() throws {
        switch source {
        case .group(let member): try member.subscribe([topic])
        case .assigned(_, let subscription): subscription.join(self)
        }
        let started = Task { [self] in await self.pollLoop() }
        task.withLock { $0 = started }
    }

    /// Takes these partitions from the next loop iteration on.
    func reassign(_ partitions: [Int32]) {
        state.withLock { $0.pendingAssignment = partitions }
    }

    func pause() async { state.withLock { $0.paused = true } }

    func resume() async { state.withLock { $0.paused = false } }

    func close() async { await stop(leaving: true) }

    func kill() async { await stop(leaving: false) }

    private func stop(leaving: Bool) async {
        let wasOpen = state.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        switch source {
        case .group(let member):
            if leaving { await member.close() } else { await member.abandon() }
        case .assigned(let consumer, let subscription):
            subscription.leave(index)
            await consumer.close()
        }
        let running = task.withLock { $0 }
        await running?.value
        await cluster.close()
    }

    private func poll() async throws(ClientError) -> ConsumerRecords {
        switch source {
        case .group(let member): try await member.poll(timeoutMs: Self.pollTimeoutMs)
        case .assigned(let consumer, _): try await consumer.poll(timeoutMs: Self.pollTimeoutMs)
        }
    }

    private func pollLoop() async {
        var values: [ByteBuffer] = []
        values.reserveCapacity(1024)
        let topic = topic
        while !Task.isCancelled {
            let (closed, paused, newAssignment) = state.withLock { state -> (Bool, Bool, [Int32]?) in
                defer { state.pendingAssignment = nil }
                return (state.closed, state.paused, state.pendingAssignment)
            }
            if closed { return }
            if let newAssignment { applyAssignment(newAssignment) }
            if paused {
                try? await clock.sleep(nanoseconds: 5_000_000)
                continue
            }
            let records: ConsumerRecords
            do throws(ClientError) {
                records = try await poll()
            } catch {
                if case .closed = error { return }
                // Retriable trouble is retried inside poll; anything else: back off and go on.
                try? await clock.sleep(nanoseconds: 20_000_000)
                continue
            }
            if records.isEmpty { continue }
            // In assigned mode a partition this consumer just lost is skipped: its new owner re-reads
            // it from the delivered position. A group consumer only returns owned partitions.
            let assigned: Set<Int32>? = groupConsumer == nil ? state.withLock { $0.assigned } : nil
            var current: Int32 = -1
            var wanted = false
            var baseOffset: Int64 = -1
            let handler = handler
            func flush() {
                guard !values.isEmpty else { return }
                handler(WorkloadReceivedBatch(topic: topic, partition: current, baseOffset: baseOffset, values: values))
                values.removeAll(keepingCapacity: true)
            }
            do {
                try records.forEach { record in
                    if record.partition != current {
                        flush()
                        current = record.partition
                        wanted = assigned?.contains(current) ?? true
                        baseOffset = record.offset
                    }
                    if wanted { values.append(record.value ?? ByteBuffer()) }
                }
            } catch {
                // A corrupt record ends this poll's delivery; what decoded before it still counts.
            }
            flush()
            if case .assigned(_, let subscription) = source, let assigned {
                for chunk in records.partitions where assigned.contains(chunk.partition.partition) {
                    subscription.delivered(partition: chunk.partition.partition, upTo: chunk.nextOffset)
                }
            }
        }
    }

    private func applyAssignment(_ partitions: [Int32]) {
        guard case .assigned(let consumer, let subscription) = source else { return }
        let previous = state.withLock { state -> Set<Int32> in
            defer { state.assigned = Set(partitions) }
            return state.assigned
        }
        consumer.assign(partitions.map { TopicAndPartition(topic: topic, partition: $0) })
        for partition in partitions where !previous.contains(partition) {
            if let position = subscription.position(of: partition) {
                try? consumer.seek(TopicAndPartition(topic: topic, partition: partition), to: position)
            }
        }
    }
}
