import RivuletBroker
import RivuletTransport

/// Broker faults for an embedded Rivulet cluster, through the cluster's fault API:
/// - `delay`: every answer of the broker comes `delay` late (its `FaultyRequestHandler`; works over
///   both transports; the request takes effect at once, like a slow network or disk behind the ack).
///   Millisecond resolution: a delay is rounded up to whole milliseconds.
/// - `pause`/`resume`: the broker holds every request, its fetchers and coordination session stop
///   (`EmbeddedCluster.beginPause`/`endPause`, a SIGSTOP).
/// - `kill`/`restart`: the broker dies like a process (`EmbeddedCluster.kill(broker:)`: its
///   session expires, the controller moves leadership to in-sync replicas) and later starts again
///   from its storage (`restart(broker:)`).
/// - `partition`/`heal`: the broker is cut off (`EmbeddedCluster.partition(broker:)`: in-process
///   connections fail, TCP requests are held).
/// - `leader of partition P`: the broker leading partition P of the run's first topic now.
///
/// Isolation: `Sendable`; the runner calls one method at a time.
final class EmbeddedFaultInjector: WorkloadFaultInjector {
    let cluster: EmbeddedCluster
    /// The run's first topic (for `leader of partition P`), nil before topics exist.
    let firstTopic: @Sendable () -> String?

    /// Why a fault could not be applied.
    struct FaultError: Error, Sendable, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    init(cluster: EmbeddedCluster, firstTopic: @escaping @Sendable () -> String?) {
        self.cluster = cluster
        self.firstTopic = firstTopic
    }

    private func resolve(_ target: FaultTarget) throws -> Int32 {
        switch target {
        case .broker(let id):
            guard let nodeId = Int32(exactly: id), cluster.brokerIds.contains(nodeId) else {
                throw FaultError(message: "broker \(id) does not exist (brokers: \(cluster.brokerIds.map(String.init).joined(separator: ", ")))")
            }
            return nodeId
        case .leaderOfPartition(let partition):
            guard let topic = firstTopic() else { throw FaultError(message: "no topic exists yet") }
            guard let partitionId = Int32(exactly: partition), let leader = cluster.leader(of: topic, partition: partitionId) else {
                throw FaultError(message: "partition \(partition) of \(topic) has no leader now")
            }
            return leader
        }
    }

    private func faults(of nodeId: Int32) throws -> FaultyRequestHandler {
        guard let faults = cluster.faults(of: nodeId) else { throw FaultError(message: "broker \(nodeId) has no fault injector") }
        return faults
    }

    func delay(_ target: FaultTarget, by delay: Duration) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        let nanoseconds = delay.nanosecondsClamped
        let milliseconds = Int64(clamping: (nanoseconds + 999_999) / 1_000_000)
        try faults(of: nodeId).setDelayForAllApis(milliseconds)
        return FaultEffect(brokerId: Int(nodeId), detail: "answers of broker \(nodeId) delayed by \(milliseconds) ms")
    }

    func removeDelay(broker: Int) async throws -> FaultEffect {
        let nodeId = try resolve(.broker(broker))
        try faults(of: nodeId).clearDelays()
        return FaultEffect(brokerId: broker, detail: "delay removed")
    }

    func kill(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        await cluster.kill(broker: nodeId)
        return FaultEffect(brokerId: Int(nodeId), detail: "broker \(nodeId) killed")
    }

    func restart(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        let start = cluster.configuration.clock.monotonicNanoseconds()
        try await cluster.restart(broker: nodeId)
        let elapsedMs = Double(cluster.configuration.clock.monotonicNanoseconds() &- start) / 1e6
        return FaultEffect(brokerId: Int(nodeId), recoveryTimeMs: elapsedMs, detail: "broker \(nodeId) started from its storage")
    }

    func pause(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        await cluster.beginPause(broker: nodeId)
        return FaultEffect(brokerId: Int(nodeId), detail: "broker \(nodeId) paused")
    }

    func resume(broker: Int) async throws -> FaultEffect {
        let nodeId = try resolve(.broker(broker))
        await cluster.endPause(broker: nodeId)
        return FaultEffect(brokerId: broker, detail: "broker \(broker) resumed")
    }

    func partition(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        await cluster.partition(broker: nodeId)
        return FaultEffect(brokerId: Int(nodeId), detail: "broker \(nodeId) cut off")
    }

    func heal(broker: Int) async throws -> FaultEffect {
        let nodeId = try resolve(.broker(broker))
        await cluster.heal(broker: nodeId)
        return FaultEffect(brokerId: broker, detail: "broker \(broker) reconnected")
    }
}
