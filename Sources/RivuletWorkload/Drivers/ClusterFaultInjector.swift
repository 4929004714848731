import RivuletBroker
import RivuletTransport
import Synchronization

/// Broker faults for a multi-broker (coordinated) `EmbeddedCluster`, through the cluster's fault API:
/// - `kill`: process death (`EmbeddedCluster.kill(broker:)`): the broker stops answering at once, its
///   coordination session is abandoned and expires after the spec's `brokerSessionTimeoutMs`, then the controller
///   moves its partitions' leadership to in-sync replicas. The undo (`restart`) starts it again
///   from its storage; it rejoins as a follower and catches up.
/// - `pause`/`resume`: the broker freezes (requests held, fetchers and session stopped) and thaws
///   (`beginPause`/`endPause`); a pause longer than the session timeout costs it its leaderships.
/// - `partition`/`heal`: the broker is cut off clients, the other brokers and the coordinator
///   (in process: connections fail; over TCP: its requests are held), then reconnected.
/// - `restart`: stop and start (a running broker), or start (a killed one).
/// - `delay`: every answer of the broker comes late (its `FaultyRequestHandler`).
///
/// `the leader of partition P` is resolved when the fault fires: the broker leading partition P of
/// the run's first topic (`bindFirstTopic`) in the newest leader epoch; the fault fails when the
/// partition has no leader at that moment. The effect reports the broker, so the undo reaches it.
///
/// Isolation: `Sendable`; the runner calls one method at a time.
public final class ClusterFaultInjector: WorkloadFaultInjector {
    /// The cluster faults act on.
    public let cluster: EmbeddedCluster
    /// The TCP listeners in front of the brokers (`transport: tcp`), nil in process.
    public let listeners: EmbeddedTCPListeners?
    private let firstTopic = Mutex<String?>(nil)
    /// Why a fault could not be applied.
    public struct FaultError: Error, Sendable, CustomStringConvertible {
        /// What went wrong, naming the broker or partition.
        public let message: String
        public var description: String { message }
    }

    /// An injector over `cluster`; with `listeners` (TCP), a killed broker's listener is closed as a
    /// dead process's port would be (connections reset, new ones refused) and reopened on the same
    /// port when it restarts.
    public init(cluster: EmbeddedCluster, listeners: EmbeddedTCPListeners? = nil) {
        self.cluster = cluster
        self.listeners = listeners
    }

    /// Names the topic whose partitions `the leader of partition P` refers to (the run's first topic).
    public func bindFirstTopic(_ topic: String?) {
        guard let topic else { return }
        firstTopic.withLock { if $0 == nil { $0 = topic } }
    }

    /// The topic `the leader of partition P` refers to, once bound.
    public var boundTopic: String? { firstTopic.withLock { $0 } }

    /// The broker a target names right now.
    ///
    /// - Throws: `FaultError` for an unknown broker, no bound topic, or a partition without a leader.
    public func resolve(_ target: FaultTarget) throws(FaultError) -> Int32 {
        switch target {
        case .broker(let id):
            guard let nodeId = Int32(exactly: id), cluster.brokerIds.contains(nodeId) else {
                throw FaultError(message: "broker \(id) does not exist (brokers: \(cluster.brokerIds.map(String.init).joined(separator: ", ")))")
            }
            return nodeId
        case .leaderOfPartition(let partition):
            guard let topic = boundTopic else { throw FaultError(message: "no topic yet to find the leader of partition \(partition) in") }
            guard let index = Int32(exactly: partition), let leader = cluster.leader(of: topic, partition: index) else {
                throw FaultError(message: "partition \(partition) of \(topic) has no leader now")
            }
            return leader
        }
    }

    private func requireBroker(_ broker: Int) throws(FaultError) -> Int32 {
        try resolve(.broker(broker))
    }

    public func delay(_ target: FaultTarget, by delay: Duration) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        guard let faults = cluster.faults(of: nodeId) else { throw FaultError(message: "broker \(nodeId) has no fault injector") }
        let milliseconds = Int64(clamping: (delay.nanosecondsClamped + 999_999) / 1_000_000)
        faults.setDelayForAllApis(milliseconds)
        return FaultEffect(brokerId: Int(nodeId), detail: "answers of broker \(nodeId) delayed by \(milliseconds) ms")
    }

    public func removeDelay(broker: Int) async throws -> FaultEffect {
        let nodeId = try requireBroker(broker)
        cluster.faults(of: nodeId)?.clearDelays()
        return FaultEffect(brokerId: broker, detail: "delay removed")
    }

    public func kill(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        guard cluster.broker(nodeId) != nil else { throw FaultError(message: "broker \(nodeId) is not running") }
        await cluster.kill(broker: nodeId, listeners: listeners)
        return FaultEffect(brokerId: Int(nodeId), detail: "broker \(nodeId) killed (session abandoned\(listeners == nil ? "" : ", listener closed"))")
    }

    public func restart(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        let clock = cluster.configuration.clock
        let start = clock.monotonicNanoseconds()
        try await cluster.restart(broker: nodeId, listeners: listeners)
        let elapsedMs = Double(clock.monotonicNanoseconds() &- start) / 1e6
        return FaultEffect(brokerId: Int(nodeId), detail: String(format: "broker %d started from its storage in %.0f ms", Int(nodeId), elapsedMs))
    }

    public func pause(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        await cluster.beginPause(broker: nodeId)
        return FaultEffect(brokerId: Int(nodeId), detail: "broker \(nodeId) paused (requests held, session and fetchers stopped)")
    }

    public func resume(broker: Int) async throws -> FaultEffect {
        let nodeId = try requireBroker(broker)
        await cluster.endPause(broker: nodeId)
        return FaultEffect(brokerId: broker, detail: "broker \(broker) resumed")
    }

    public func partition(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        await cluster.partition(broker: nodeId)
        return FaultEffect(brokerId: Int(nodeId), detail: "broker \(nodeId) cut off clients, brokers and the coordinator")
    }

    public func heal(broker: Int) async throws -> FaultEffect {
        let nodeId = try requireBroker(broker)
        await cluster.heal(broker: nodeId)
        return FaultEffect(brokerId: broker, detail: "broker \(broker) reconnected")
    }
}

extension EmbeddedCluster {
    /// Every partition of `topics` as the cluster sees it now: its replicas (from the metadata of
    /// any running broker that is not cut off) and its current leader (`leader(of:partition:)`, nil
    /// while none). Partitions no running broker knows are left out.
    func partitionSnapshot(topics: [String]) -> [FailoverPartitionState] {
        var states: [FailoverPartitionState] = []
        for topic in topics {
            var metadata: TopicMetadata?
            for nodeId in brokerIds where !isCutOff(broker: nodeId) {
                if let found = broker(nodeId)?.metadataCache.image.topic(named: topic) {
                    metadata = found
                    break
                }
            }
            guard let metadata else { continue }
            for partition in metadata.partitions.sorted(by: { $0.partition < $1.partition }) {
                states.append(FailoverPartitionState(topic: topic, partition: partition.partition, replicas: partition.replicas,
                                                     leader: leader(of: topic, partition: partition.partition)))
            }
        }
        return states
    }
}

/// One partition's replicas and leader at one moment (for deciding which partitions a fault affects).
struct FailoverPartitionState: Sendable, Hashable {
    var topic: String
    var partition: Int32
    var replicas: [Int32]
    var leader: Int32?
}
