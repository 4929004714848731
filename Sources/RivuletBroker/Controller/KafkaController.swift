import Logging
import RivuletCoordination
import RivuletCore
import RivuletWire
import Synchronization

/// The controller of a coordinated cluster (Kafka's ZooKeeper-mode `KafkaController`), one per broker
/// and active on the broker that holds the ephemeral `/controller` node.
///
/// **Election.** Each broker tries to create `/controller` (data: its id and the new controller epoch,
/// read from `/controller_epoch` plus one, which it then writes back conditionally). The loser watches
/// `/controller` and tries again when it goes (its holder's session ended). A controller whose session
/// ends stops acting: every write it makes goes through its session, so a zombie cannot write.
///
/// **Work.** While active it watches `/brokers/ids` (children), `/brokers/topics` (children) and
/// `/rivulet/metadata_change`, and after each event reconciles every partition:
/// - a partition without a state node (new topic or partition) gets leader = the first live replica
///   of its assignment, ISR = its live replicas, leader epoch 0;
/// - a partition whose leader is not registered gets a new leader from its ISR among live brokers
///   (assignment order), leader epoch + 1, ISR = the live ISR; with no live ISR member it stays
///   offline (leader -1, ISR kept) unless `unclean.leader.election.enable` lets a live out-of-sync
///   replica lead (ISR = [it]);
/// - a live leader whose ISR holds dead brokers gets them removed (the leader stays, same epoch).
///
/// **Preferred leaders** (`auto.leader.rebalance.enable`). Every `leader.imbalance.check.interval.seconds`
/// it counts, per live broker, the partitions whose preferred replica (the first of the assignment) it
/// is but which another broker leads; above `leader.imbalance.per.broker.percentage` of its preferred
/// partitions, each of them whose preferred replica is in the ISR moves back to it (leader epoch + 1,
/// ISR kept), as Kafka's `checkAndTriggerAutoLeaderRebalance` does, so that leadership spreads again
/// after a broker came back.
/// Every write is conditional on the state node's version (the partition epoch), so a concurrent ISR
/// change by a leader is never overwritten; the loser retries with what it reads. After writing, the
/// controller bumps `/rivulet/metadata_change`, which every broker watches (the controller's
/// LeaderAndIsr: brokers learn leadership from the znodes, not from a request).
public final class KafkaController: Sendable {
    private struct State {
        var activeEpoch: Int32?
        var elections = 0
    }

    private let config: BrokerConfig
    private let state = Mutex(State())
    private var logger: Logger { config.logger }

    init(config: BrokerConfig) {
        self.config = config
    }

    /// The controller epoch while this broker is the controller, else nil.
    var activeEpoch: Int32? { state.withLock { $0.activeEpoch } }

    /// How many times this broker became the controller.
    var electionCount: Int { state.withLock { $0.elections } }

    /// Runs the election and, when won, the controller until the session ends (then throws the
    /// session's error) or the task is cancelled.
    func run(session: any Coordinator) async throws {
        defer { state.withLock { $0.activeEpoch = nil } }
        while true {
            try Task.checkCancellation()
            if let epoch = try await tryToBecomeController(session) {
                state.withLock {
                    $0.activeEpoch = epoch
                    $0.elections += 1
                }
                logger.info("broker \(config.nodeId) is the controller (epoch \(epoch))")
                try await runAsController(session, epoch: epoch)
                return
            }
            let existing = try await session.exists(ClusterZNodes.controller, watch: true)
            guard existing.stat != nil, let watch = existing.watch else { continue }
            _ = try await watch.event()
        }
    }

    /// Creates `/controller` and bumps `/controller_epoch`; nil when another broker holds it.
    private func tryToBecomeController(_ session: any Coordinator) async throws -> Int32? {
        var current: Int32 = 0
        var version: Int32?
        do {
            let data = try await session.getData(ClusterZNodes.controllerEpoch)
            let fields = try ZNodeFields(decoding: data.data, path: ClusterZNodes.controllerEpoch)
            current = try fields.int32("epoch", path: ClusterZNodes.controllerEpoch)
            version = data.stat.version
        } catch CoordinatorError.noNode {
            version = nil
        }
        let epoch = current &+ 1
        do {
            try await session.create(ClusterZNodes.controller, data: ControllerRegistration(brokerId: config.nodeId, epoch: epoch).data,
                                     mode: .ephemeral)
        } catch CoordinatorError.nodeExists {
            // This session may hold it already (a round that failed after winning): resume as controller.
            guard let existing = try await session.exists(ClusterZNodes.controller),
                  existing.ephemeralOwner == session.sessionID else { return nil }
            let registration = try? ControllerRegistration(data: try await session.getData(ClusterZNodes.controller).data)
            return registration?.epoch ?? current
        }
        var fields = ZNodeFields()
        fields["epoch"] = String(epoch)
        if let version {
            _ = try await session.setData(ClusterZNodes.controllerEpoch, data: fields.bytes, version: version)
        } else {
            do {
                try await session.createRecursively(ClusterZNodes.controllerEpoch, data: fields.bytes)
            } catch CoordinatorError.nodeExists {
                _ = try await session.setData(ClusterZNodes.controllerEpoch, data: fields.bytes, version: nil)
            }
        }
        return epoch
    }

    private func runAsController(_ session: any Coordinator, epoch: Int32) async throws {
        var brokersWatch = ArmedWatch()
        var topicsWatch = ArmedWatch()
        var changeWatch = ArmedWatch()
        let clock = config.clock
        // As in Kafka, the first balance check comes one interval after the controller starts.
        var nextBalanceCheckMs = clock.monotonicMilliseconds() + config.leaderImbalanceCheckIntervalMs
        while true {
            try Task.checkCancellation()
            if session.state.isTerminal { throw CoordinatorError.sessionExpired(sessionID: session.sessionID) }
            if brokersWatch.needsArming { brokersWatch.arm(try await session.getChildren(ClusterZNodes.brokerIds, watch: true).watch) }
            if topicsWatch.needsArming { topicsWatch.arm(try await session.getChildren(ClusterZNodes.topics, watch: true).watch) }
            if changeWatch.needsArming { changeWatch.arm(try await session.getData(ClusterZNodes.metadataChange, watch: true).watch) }
            let retry = try await reconcile(session, epoch: epoch)
            if retry {
                // A conditional write lost a race with a leader's ISR change: read again shortly.
                try await clock.sleep(nanoseconds: 5_000_000)
                continue
            }
            var waitMs = config.metadataRefreshIntervalMs
            if config.autoLeaderRebalanceEnable {
                let now = clock.monotonicMilliseconds()
                if now >= nextBalanceCheckMs {
                    try await electPreferredLeaders(session, epoch: epoch)
                    nextBalanceCheckMs = now + config.leaderImbalanceCheckIntervalMs
                }
                waitMs = max(1, min(waitMs, nextBalanceCheckMs - now))
            }
            try await WatchWaiting.waitForAny([brokersWatch.watch, topicsWatch.watch, changeWatch.watch].compactMap { $0 },
                                              timeoutMs: waitMs, clock: clock)
        }
    }

    /// One partition as the balance check sees it.
    public struct PartitionLeadership: Sendable, Hashable {
        /// The topic and partition.
        public var topic: String
        public var partition: Int32
        /// The assignment; its first replica is the preferred leader.
        public var replicas: [Int32]
        /// The current state node.
        public var state: PartitionStateZNode

        public init(topic: String, partition: Int32, replicas: [Int32], state: PartitionStateZNode) {
            self.topic = topic
            self.partition = partition
            self.replicas = replicas
            self.state = state
        }
    }

    /// Kafka's `checkAndTriggerAutoLeaderRebalance` decision (pure, for tests): for every live broker
    /// whose preferred partitions are led elsewhere in more than `percentage` percent of cases, those
    /// of them where it is in the ISR; returns each with the state that makes it the leader.
    public static func preferredLeaderElections(_ partitions: [PartitionLeadership], live: Set<Int32>, percentage: Int,
                                                controllerEpoch: Int32) -> [(PartitionLeadership, PartitionStateZNode)] {
        var byPreferred: [Int32: (total: Int, elsewhere: [PartitionLeadership])] = [:]
        for partition in partitions {
            guard let preferred = partition.replicas.first else { continue }
            var entry = byPreferred[preferred] ?? (0, [])
            entry.total += 1
            if partition.state.leader != preferred { entry.elsewhere.append(partition) }
            byPreferred[preferred] = entry
        }
        var elections: [(PartitionLeadership, PartitionStateZNode)] = []
        for (preferred, entry) in byPreferred.sorted(by: { $0.key < $1.key }) where live.contains(preferred) && entry.total > 0 {
            guard entry.elsewhere.count * 100 > percentage * entry.total else { continue }
            for partition in entry.elsewhere where partition.state.isr.contains(preferred) {
                let state = partition.state
                elections.append((partition, PartitionStateZNode(leader: preferred, leaderEpoch: state.leaderEpoch &+ 1, isr: state.isr,
                                                                 controllerEpoch: controllerEpoch)))
            }
        }
        return elections
    }

    /// Moves leadership back to preferred replicas where the balance check says so; every write is
    /// conditional on the state node's version (a lost race waits for the next check).
    func electPreferredLeaders(_ session: any Coordinator, epoch: Int32) async throws {
        let (live, assignments) = try await readCluster(session)
        var partitions: [PartitionLeadership] = []
        var versions: [String: Int32] = [:]
        for assignment in assignments {
            for (index, replicas) in assignment.replicas.enumerated() {
                let path = ClusterZNodes.partitionState(assignment.name, Int32(index))
                do {
                    let current = try await session.getData(path)
                    let state = try PartitionStateZNode(data: current.data, path: path)
                    partitions.append(PartitionLeadership(topic: assignment.name, partition: Int32(index), replicas: replicas, state: state))
                    versions[path] = current.stat.version
                } catch CoordinatorError.noNode {
                    continue  // not created yet, or the topic was deleted meanwhile
                } catch is ZNodeDataError {
                    continue  // reported by `reconcile`
                }
            }
        }
        var changed = false
        for (partition, next) in Self.preferredLeaderElections(partitions, live: live, percentage: config.leaderImbalancePerBrokerPercentage,
                                                               controllerEpoch: epoch) {
            let path = ClusterZNodes.partitionState(partition.topic, partition.partition)
            guard let version = versions[path] else { continue }
            do {
                _ = try await session.setData(path, data: next.data, version: version)
                logger.info("controller \(config.nodeId): \(partition.topic)-\(partition.partition) leader \(partition.state.leader) -> preferred \(next.leader), epoch \(next.leaderEpoch)")
                changed = true
            } catch CoordinatorError.badVersion, CoordinatorError.noNode {
                continue
            }
        }
        if changed { try await Self.bumpMetadataChange(session) }
    }

    /// One pass over every partition; returns true when a conditional write lost a race (run again).
    func reconcile(_ session: any Coordinator, epoch: Int32) async throws -> Bool {
        let (live, assignments) = try await readCluster(session)
        var changed = false
        var retry = false
        for assignment in assignments {
            let topicName = assignment.name
            let unclean = assignment.configs["unclean.leader.election.enable"].map { $0 == "true" } ?? config.uncleanLeaderElectionEnable
            for (index, replicas) in assignment.replicas.enumerated() {
                let partition = Int32(index)
                let path = ClusterZNodes.partitionState(topicName, partition)
                do {
                    let current: NodeData
                    do {
                        current = try await session.getData(path)
                    } catch CoordinatorError.noNode {
                        let liveReplicas = replicas.filter { live.contains($0) }
                        let initial = PartitionStateZNode(leader: liveReplicas.first ?? -1, leaderEpoch: 0, isr: liveReplicas,
                                                          controllerEpoch: epoch)
                        do {
                            try await session.createRecursively(path, data: initial.data)
                            changed = true
                        } catch CoordinatorError.nodeExists {
                            retry = true
                        }
                        continue
                    }
                    let state = try PartitionStateZNode(data: current.data, path: path)
                    guard let next = Self.nextState(state, replicas: replicas, live: live, unclean: unclean, controllerEpoch: epoch) else {
                        continue
                    }
                    if next.leader != state.leader {
                        logger.info("controller \(config.nodeId): \(topicName)-\(partition) leader \(state.leader) -> \(next.leader), epoch \(next.leaderEpoch), ISR \(next.isr)")
                    }
                    _ = try await session.setData(path, data: next.data, version: current.stat.version)
                    changed = true
                } catch CoordinatorError.badVersion {
                    retry = true
                } catch CoordinatorError.noNode {
                    continue  // the topic was deleted meanwhile
                } catch let error as ZNodeDataError {
                    logger.error("controller skips \(topicName)-\(partition): \(error)")
                }
            }
        }
        if changed { try await Self.bumpMetadataChange(session) }
        return retry
    }

    /// The registered brokers and every topic's assignment. A topic deleted meanwhile is left out; one
    /// whose node cannot be decoded is logged and left out.
    private func readCluster(_ session: any Coordinator) async throws -> (live: Set<Int32>, assignments: [TopicAssignment]) {
        let live = Set(try await session.getChildren(ClusterZNodes.brokerIds).compactMap { Int32($0) })
        var assignments: [TopicAssignment] = []
        for topicName in try await session.getChildren(ClusterZNodes.topics) {
            do {
                assignments.append(try TopicAssignment(name: topicName, data: try await session.getData(ClusterZNodes.topic(topicName)).data))
            } catch CoordinatorError.noNode {
                continue
            } catch let error as ZNodeDataError {
                logger.error("controller skips topic \(topicName): \(error)")
            }
        }
        return (live, assignments)
    }

    /// The controller's decision for one partition, nil when nothing changes (pure, for tests).
    public static func nextState(_ state: PartitionStateZNode, replicas: [Int32], live: Set<Int32>, unclean: Bool,
                          controllerEpoch: Int32) -> PartitionStateZNode? {
        let liveIsr = state.isr.filter { live.contains($0) }
        if state.leader >= 0, live.contains(state.leader) {
            guard liveIsr.count < state.isr.count, !liveIsr.isEmpty else { return nil }
            return PartitionStateZNode(leader: state.leader, leaderEpoch: state.leaderEpoch, isr: liveIsr, controllerEpoch: controllerEpoch)
        }
        // The leader is gone (or there is none): elect from the live ISR, in assignment order.
        if let leader = replicas.first(where: { liveIsr.contains($0) }) ?? liveIsr.first {
            return PartitionStateZNode(leader: leader, leaderEpoch: state.leaderEpoch &+ 1, isr: liveIsr, controllerEpoch: controllerEpoch)
        }
        if state.isr.isEmpty || unclean, let leader = replicas.first(where: { live.contains($0) }) {
            // A partition created while its replicas were down, or unclean election allowed.
            return PartitionStateZNode(leader: leader, leaderEpoch: state.leaderEpoch &+ 1, isr: [leader], controllerEpoch: controllerEpoch)
        }
        guard state.leader != -1 else { return nil }
        // Offline: no leader; the ISR keeps the last members so only they can lead again.
        return PartitionStateZNode(leader: -1, leaderEpoch: state.leaderEpoch &+ 1, isr: state.isr, controllerEpoch: controllerEpoch)
    }

    /// Tells every broker that the cluster state changed (they watch this node).
    static func bumpMetadataChange(_ session: any Coordinator) async throws {
        do {
            _ = try await session.setData(ClusterZNodes.metadataChange, data: [], version: nil)
        } catch CoordinatorError.noNode {
            try await session.createRecursively(ClusterZNodes.metadataChange)
        }
    }
}
