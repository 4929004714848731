import NIOCore
import RivuletClient
import RivuletCore
import Synchronization

/// How the consumers of one subscription share its topic's partitions: OMB gives every
/// subscription its own consumer group. Until the Rivulet client has group membership, the driver
/// plays the group: partition p belongs to the member at position `p % members` (members sorted by
/// consumer index), reassigned at once when a member joins, closes or is killed, and a partition's
/// new owner resumes at the position the subscription last delivered (the group's committed offset).
///
/// Seam: a group-subscribing consumer replaces this type (each consumer then subscribes with
/// `group.id` = the subscription name and the coordinator assigns partitions); nothing else in the
/// driver depends on how partitions are assigned.
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

/// A `WorkloadConsumer` over the Rivulet client's `Consumer` (its own `ClusterClient`): one task
/// polls, turns each partition's records into one `WorkloadReceivedBatch` (record values are
/// slices of the fetched bytes; the value array is reused), and hands it to the runner.
///
/// `pause` stops polling (fetched data waits at the broker, so a backlog builds); `close` and
/// `kill` stop the task and leave the subscription (its partitions move to the other members).
final class KafkaWorkloadConsumer: WorkloadConsumer {
    let index: Int
    let topic: String
    let consumer: Consumer
    private let subscription: StaticSubscriptionGroup
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

    init(index: Int, topic: String, consumer: Consumer, subscription: StaticSubscriptionGroup, clock: any EngineClock,
         handler: @escaping WorkloadReceiveHandler) {
        self.index = index
        self.topic = topic
        self.consumer = consumer
        self.subscription = subscription
        self.clock = clock
        self.handler = handler
    }

    /// Joins the subscription and starts polling.
    func start() {
        subscription.join(self)
        let started = Task { [self] in await self.pollLoop() }
        task.withLock { $0 = started }
    }

    /// Takes these partitions from the next loop iteration on.
    func reassign(_ partitions: [Int32]) {
        state.withLock { $0.pendingAssignment = partitions }
    }

    func pause() async { state.withLock { $0.paused = true } }

    func resume() async { state.withLock { $0.paused = false } }

    func close() async {
        let wasOpen = state.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        subscription.leave(index)
        await consumer.close()
        let running = task.withLock { $0 }
        await running?.value
        await consumer.cluster.close()
    }

    func kill() async { await close() }

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
                records = try await consumer.poll(timeoutMs: Self.pollTimeoutMs)
            } catch {
                if case .closed = error { return }
                // Retriable trouble is retried inside poll; anything else: back off and go on.
                try? await clock.sleep(nanoseconds: 20_000_000)
                continue
            }
            if records.isEmpty { continue }
            let assigned = state.withLock { $0.assigned }
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
                        // A partition this consumer just lost: its new owner re-reads from the delivered position.
                        wanted = assigned.contains(current)
                        baseOffset = record.offset
                    }
                    if wanted { values.append(record.value ?? ByteBuffer()) }
                }
            } catch {
                // A corrupt record ends this poll's delivery; what decoded before it still counts.
            }
            flush()
            for chunk in records.partitions where assigned.contains(chunk.partition.partition) {
                subscription.delivered(partition: chunk.partition.partition, upTo: chunk.nextOffset)
            }
        }
    }

    private func applyAssignment(_ partitions: [Int32]) {
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
