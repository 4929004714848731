import NIOCore
import RivuletCore
import Synchronization

/// A producer wrapper for `FailoverTrackingDriver`: notes when each batch was handed over, and,
/// when the run records a history, writes a unique id into bytes 8...15 of every value (one copy of
/// the batch's values per call, no allocation per record) and reports each completion to the
/// driver before passing it on unchanged.
final class FailoverTrackingProducer: WorkloadProducer {
    let inner: any WorkloadProducer
    let index: Int
    let owner: FailoverTrackingDriver
    private let sequence = Atomic<Int64>(0)

    init(inner: any WorkloadProducer, index: Int, owner: FailoverTrackingDriver) {
        self.inner = inner
        self.index = index
        self.owner = owner
    }

    func send(_ batch: WorkloadSendBatch, completion: @escaping WorkloadSendCompletion) async {
        let handedAt = owner.clock.monotonicNanoseconds()
        var batch = batch
        var ids: [Int64]?
        if owner.history != nil, !batch.records.isEmpty {
            let first = sequence.wrappingAdd(Int64(batch.records.count), ordering: .relaxed).oldValue
            var stamped: [Int64] = []
            stamped.reserveCapacity(batch.records.count)
            let total = batch.records.reduce(0) { $0 + $1.value.readableBytes }
            var buffer = ByteBufferAllocator().buffer(capacity: total)
            var starts: [Int] = []
            starts.reserveCapacity(batch.records.count)
            for (position, record) in batch.records.enumerated() {
                let start = buffer.writerIndex
                starts.append(start)
                buffer.writeImmutableBuffer(record.value)
                let id = FailoverRecordId.make(producer: index, sequence: first + Int64(position))
                if record.value.readableBytes >= FailoverRecordId.valueBytesMin {
                    buffer.setInteger(id, at: start + FailoverRecordId.offset)
                    stamped.append(id)
                } else {
                    stamped.append(-1)
                }
            }
            for position in batch.records.indices {
                let length = batch.records[position].value.readableBytes
                if let slice = buffer.getSlice(at: starts[position], length: length) { batch.records[position].value = slice }
            }
            ids = stamped
        }
        let owner = owner
        let topic = batch.topic
        let process = index
        let recordIds = ids
        await inner.send(batch) { result in
            owner.completed(result, topic: topic, process: process, handedAt: handedAt, ids: recordIds)
            completion(result)
        }
    }

    func close() async {
        await inner.close()
    }
}

/// A fault injector wrapper for `FailoverTrackingDriver`: before each fault it snapshots the
/// partitions (replicas and leaders), after it tells the tracker which broker it reached; undo
/// calls pass straight through.
final class TrackingFaultInjector: WorkloadFaultInjector {
    let inner: any WorkloadFaultInjector
    let hooks: FailoverFaultHooks

    init(inner: any WorkloadFaultInjector, hooks: FailoverFaultHooks) {
        self.inner = inner
        self.hooks = hooks
    }

    private func tracked(_ method: String, _ body: () async throws -> FaultEffect) async throws -> FaultEffect {
        let snapshot = hooks.snapshot()
        let at = hooks.clock.monotonicNanoseconds()
        let effect = try await body()
        if let broker = effect.brokerId {
            hooks.faultApplied(method: method, brokerId: broker, at: at, snapshot: snapshot)
        }
        return effect
    }

    func delay(_ target: FaultTarget, by delay: Duration) async throws -> FaultEffect {
        try await tracked("delay") { try await inner.delay(target, by: delay) }
    }

    func removeDelay(broker: Int) async throws -> FaultEffect { try await inner.removeDelay(broker: broker) }

    func kill(_ target: FaultTarget) async throws -> FaultEffect {
        try await tracked("kill") { try await inner.kill(target) }
    }

    func restart(_ target: FaultTarget) async throws -> FaultEffect {
        // Also the undo of `kill ... for <d>`; its record simply stays unmatched.
        try await tracked("restart") { try await inner.restart(target) }
    }

    func pause(_ target: FaultTarget) async throws -> FaultEffect {
        try await tracked("pause") { try await inner.pause(target) }
    }

    func resume(broker: Int) async throws -> FaultEffect { try await inner.resume(broker: broker) }

    func partition(_ target: FaultTarget) async throws -> FaultEffect {
        try await tracked("partition") { try await inner.partition(target) }
    }

    func heal(broker: Int) async throws -> FaultEffect { try await inner.heal(broker: broker) }

    func consumerKilled(index: Int) async -> FaultEffect { await inner.consumerKilled(index: index) }

    func consumerAdded(index: Int) async -> FaultEffect { await inner.consumerAdded(index: index) }
}
