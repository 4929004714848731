import RivuletBroker
import RivuletTransport

/// Broker faults for an embedded Rivulet cluster:
/// - `delay`: every answer of the broker comes `delay` late (its `FaultyRequestHandler`; works over
///   both transports; the request takes effect at once, like a slow network or disk behind the ack).
///   Millisecond resolution: a delay is rounded up to whole milliseconds.
/// - `pause`/`resume`: the broker holds every request until resumed (`FaultyRequestHandler.pause`).
/// - `kill`/`restart`: the broker stops (its connections fail) and later starts again from its
///   storage (`EmbeddedCluster.stopBroker`/`startBroker`). The stop is the broker's clean
///   shutdown; an abrupt crash is the simulation's business, not the harness's.
/// - `partition`/`heal`: the broker is cut off the in-process network (`transport: inproc` only;
///   a TCP listener has no network to cut, so the fault is refused there).
///
/// Isolation: `Sendable`; the runner calls one method at a time.
final class EmbeddedFaultInjector: WorkloadFaultInjector {
    let cluster: EmbeddedCluster
    let usesInProcessNetwork: Bool

    /// Why a fault could not be applied.
    struct FaultError: Error, Sendable, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    init(cluster: EmbeddedCluster, usesInProcessNetwork: Bool) {
        self.cluster = cluster
        self.usesInProcessNetwork = usesInProcessNetwork
    }

    private func resolve(_ target: FaultTarget) throws -> Int32 {
        switch target {
        case .broker(let id):
            guard let nodeId = Int32(exactly: id), cluster.brokerIds.contains(nodeId) else {
                throw FaultError(message: "broker \(id) does not exist (brokers: \(cluster.brokerIds.map(String.init).joined(separator: ", ")))")
            }
            return nodeId
        case .leaderOfPartition:
            // One broker leads every partition until replication exists.
            guard let first = cluster.brokerIds.first else { throw FaultError(message: "the cluster has no broker") }
            return first
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
        await cluster.stopBroker(nodeId)
        return FaultEffect(brokerId: Int(nodeId), detail: "broker \(nodeId) stopped")
    }

    func restart(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        let start = cluster.configuration.clock.monotonicNanoseconds()
        if cluster.broker(nodeId) != nil {
            try await cluster.restartBroker(nodeId)
        } else {
            try await cluster.startBroker(nodeId)
        }
        let elapsedMs = Double(cluster.configuration.clock.monotonicNanoseconds() &- start) / 1e6
        return FaultEffect(brokerId: Int(nodeId), recoveryTimeMs: elapsedMs, detail: "broker \(nodeId) started from its storage")
    }

    func pause(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        try faults(of: nodeId).pause()
        return FaultEffect(brokerId: Int(nodeId), detail: "broker \(nodeId) paused")
    }

    func resume(broker: Int) async throws -> FaultEffect {
        let nodeId = try resolve(.broker(broker))
        try faults(of: nodeId).resume()
        return FaultEffect(brokerId: broker, detail: "broker \(broker) resumed")
    }

    func partition(_ target: FaultTarget) async throws -> FaultEffect {
        let nodeId = try resolve(target)
        guard usesInProcessNetwork else {
            throw FaultError(message: "partition needs the in-process transport (transport: inproc); a TCP listener cannot be cut off")
        }
        guard let address = cluster.address(of: nodeId) else { throw FaultError(message: "broker \(nodeId) has no address") }
        cluster.network.setFault(.isolated, for: address)
        return FaultEffect(brokerId: Int(nodeId), detail: "broker \(nodeId) cut off the network")
    }

    func heal(broker: Int) async throws -> FaultEffect {
        let nodeId = try resolve(.broker(broker))
        guard let address = cluster.address(of: nodeId) else { throw FaultError(message: "broker \(nodeId) has no address") }
        cluster.network.setFault(.none, for: address)
        return FaultEffect(brokerId: broker, detail: "broker \(broker) reconnected")
    }
}
