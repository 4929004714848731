import RivuletCoordination
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire

/// The fault API the workload harness and the tests drive: each fault names a broker (use
/// `leader(of:partition:)` for "the leader of partition P"), and each returns once the fault is in
/// place. Faults compose with the transport-level faults of `faults(of:)` and the network's.
extension EmbeddedCluster {
    /// Kills broker `nodeId` like a process death (SIGKILL): it stops answering at once, its
    /// coordination session stops heartbeating and is abandoned, so its ephemeral registration (and
    /// `/controller`, if it held it) disappears only when the session times out; then the controller
    /// moves its partitions' leadership to in-sync replicas. Its storage is kept for `restart(broker:)`.
    /// Does nothing for a broker that is not running.
    public func kill(broker nodeId: Int32) async {
        guard let node = nodes[nodeId], (try? beginTransition(nodeId)) != nil else { return }
        defer { endTransition(nodeId) }
        network.unregister(node.address)
        let broker = node.slot.broker
        node.slot.broker = nil
        if let session = broker?.membership?.session as? any CoordinatorFaultInjecting {
            await session.injectPause()
        }
        await broker?.kill()
    }

    /// Starts broker `nodeId` again from its storage (after `kill` or `stopBroker`): it registers
    /// (once its previous session has expired), learns the cluster state, and rejoins its partitions as
    /// a follower, truncating where its log diverges and catching up until the leader adds it back
    /// to the ISR.
    ///
    /// - Throws: the start failure.
    public func restart(broker nodeId: Int32) async throws(BrokerError) {
        if broker(nodeId) != nil { await stopBroker(nodeId) }
        try await startBroker(nodeId)
    }

    /// Freezes broker `nodeId` for `durationMs` (a long GC pause, SIGSTOP): requests to it are held, its
    /// fetchers and its coordination session stop; afterwards everything resumes. If the pause
    /// outlasts the session timeout, the session expires meanwhile: the controller moves leadership
    /// away, and on resuming the broker opens a new session and rejoins as a follower. Returns when
    /// the pause is over.
    public func pause(broker nodeId: Int32, forMs durationMs: Int64) async {
        await beginPause(broker: nodeId)
        try? await configuration.clock.sleep(nanoseconds: UInt64(max(0, durationMs)) * 1_000_000)
        await endPause(broker: nodeId)
    }

    /// `pause(broker:forMs:)` with a `Duration` (milliseconds precision).
    public func pause(broker nodeId: Int32, for duration: Duration) async {
        let (seconds, attoseconds) = duration.components
        await pause(broker: nodeId, forMs: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// Starts a pause of broker `nodeId` (see `pause(broker:forMs:)`); `endPause` ends it.
    public func beginPause(broker nodeId: Int32) async {
        guard let node = nodes[nodeId] else { return }
        node.faults.pause()
        isolated.withLock { _ = $0.insert(nodeId) }
        if let session = node.slot.broker?.membership?.session as? any CoordinatorFaultInjecting {
            await session.injectPause()
        }
    }

    /// Ends a pause of broker `nodeId`.
    public func endPause(broker nodeId: Int32) async {
        guard let node = nodes[nodeId] else { return }
        if let session = node.slot.broker?.membership?.session as? any CoordinatorFaultInjecting {
            await session.injectResume()
        }
        isolated.withLock { _ = $0.remove(nodeId) }
        node.faults.resume()
    }

    /// Cuts broker `nodeId` off the network: clients' and other brokers' connections to it fail
    /// (in-process) or hang (TCP: its requests are held), its own connections (fetchers) fail, and its
    /// coordination session stops heartbeating (it expires after its timeout unless healed first).
    /// `heal(broker:)` undoes it.
    public func partition(broker nodeId: Int32) async {
        guard let node = nodes[nodeId] else { return }
        network.setFault(.isolated, for: node.address)
        await beginPause(broker: nodeId)
    }

    /// Reconnects broker `nodeId` after `partition(broker:)`.
    public func heal(broker nodeId: Int32) async {
        guard let node = nodes[nodeId] else { return }
        network.setFault(.none, for: node.address)
        await endPause(broker: nodeId)
    }

    /// Whether broker `nodeId` is currently partitioned or paused.
    public func isCutOff(broker nodeId: Int32) -> Bool { isIsolated(nodeId) }

    /// The broker currently leading `topic`-`partition`: among running brokers that are not cut off,
    /// the one that leads it in the newest leader epoch; nil while none does.
    public func leader(of topic: String, partition: Int32) -> Int32? {
        var best: (id: Int32, epoch: Int32)?
        for nodeId in brokerIds where !isIsolated(nodeId) {
            guard let broker = broker(nodeId),
                  let replica = broker.replicaManager.partition(TopicPartition(topic: topic, partition: partition)),
                  replica.isLeader else { continue }
            let epoch = replica.currentLeaderEpoch
            if let current = best, current.epoch >= epoch { continue }
            best = (nodeId, epoch)
        }
        return best?.id
    }

    /// The active controller among running brokers that are not cut off (the newest controller epoch);
    /// nil while there is none (or for a single node, which has no controller election).
    public var controllerId: Int32? {
        var best: (id: Int32, epoch: Int32)?
        for nodeId in brokerIds where !isIsolated(nodeId) {
            guard let epoch = broker(nodeId)?.membership?.controllerEpoch else { continue }
            if let current = best, current.epoch >= epoch { continue }
            best = (nodeId, epoch)
        }
        return best?.id
    }

    /// Waits (polling every 5 ms of the cluster's clock, at most `timeoutMs`) until `topic`-`partition`
    /// has a leader that every running, connected broker's metadata agrees on; returns it, or nil.
    public func waitForLeader(of topic: String, partition: Int32, timeoutMs: Int64 = 10_000) async -> Int32? {
        let clock = configuration.clock
        let deadline = clock.monotonicMilliseconds() + timeoutMs
        while clock.monotonicMilliseconds() <= deadline {
            if let leader = leader(of: topic, partition: partition) {
                let agreed = brokerIds.filter { !isIsolated($0) }.compactMap { broker($0) }.allSatisfy { broker in
                    broker.metadataCache.image.topic(named: topic)?.partition(partition)?.leader == leader
                }
                if agreed { return leader }
            }
            try? await clock.sleep(nanoseconds: 5_000_000)
        }
        return nil
    }

    /// Waits (at most `timeoutMs`) until every partition of `topic` has its whole replica set in the
    /// ISR on its leader; returns whether it happened.
    public func waitForFullIsr(of topic: String, timeoutMs: Int64 = 10_000) async -> Bool {
        let clock = configuration.clock
        let deadline = clock.monotonicMilliseconds() + timeoutMs
        while clock.monotonicMilliseconds() <= deadline {
            var complete = false
            for nodeId in brokerIds where !isIsolated(nodeId) {
                guard let topicMetadata = broker(nodeId)?.metadataCache.image.topic(named: topic) else { continue }
                complete = !topicMetadata.partitions.isEmpty && topicMetadata.partitions.allSatisfy { partition in
                    guard let leaderBroker = broker(partition.leader),
                          let replica = leaderBroker.replicaManager.partition(TopicPartition(topic: topic, partition: partition.partition))
                    else { return false }
                    return replica.isLeader && Set(replica.isr) == Set(partition.replicas)
                }
                break
            }
            if complete { return true }
            try? await clock.sleep(nanoseconds: 5_000_000)
        }
        return false
    }
}
