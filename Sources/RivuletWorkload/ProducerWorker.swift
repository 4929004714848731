import NIOCore
import RivuletCore
import Synchronization

/// The producer rate in force, shared by every producer task. A change starts a new epoch: every
/// producer restarts its schedule at the epoch's start with its share of the new rate, and sends
/// still due under the old schedule are dropped (the probe must see the new rate alone; OMB does
/// the same by replacing its rate limiter). A fixed-rate run has one epoch.
final class RateControl: Sendable {
    struct Epoch: Sendable, Equatable {
        var id: Int
        /// Records per second over all producers.
        var rate: Double
        var startNanoseconds: UInt64
        /// `WorkloadMeasurements.handedToDriver` when the epoch began.
        var handedAtStart: Int64
    }

    private let state: Mutex<Epoch>
    /// Sends intended at or after this time are not sent (the scheduled end of the test).
    private let sendUntil = Atomic<UInt64>(.max)

    init(rate: Double, startNanoseconds: UInt64) {
        state = Mutex(Epoch(id: 0, rate: rate, startNanoseconds: startNanoseconds, handedAtStart: 0))
    }

    /// The time from which no send is intended any more.
    var sendUntilNanoseconds: UInt64 { sendUntil.load(ordering: .acquiring) }

    /// Ends the schedule: no send intended at or after `end` will be sent.
    func endSchedule(at end: UInt64) { sendUntil.store(end, ordering: .releasing) }

    var current: Epoch { state.withLock { $0 } }

    /// Starts a new epoch at `now` with `rate`.
    func set(rate: Double, now: UInt64, handed: Int64) {
        state.withLock { epoch in
            epoch = Epoch(id: epoch.id + 1, rate: rate, startNanoseconds: now, handedAtStart: handed)
        }
    }
}

/// A stop signal polled by long-running loops.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

/// One producer's loop: takes due sends off its `RateSchedule`, builds one batch of records
/// (payloads stamped with their intended times, keys per `keyDistributor`), hands it to the driver
/// in one call, and records each completion against its intended time.
///
/// Bounded: at most `maxBatchRecords` per call and `maxOutstandingRecords` sent but not completed
/// (Kafka's `buffer.memory` in records). When the bound is reached the loop waits, the schedule
/// keeps running, and the sends that fell due go out later with their original intended times.
final class ProducerWorker: Sendable {
    let index: Int
    let topic: String
    let producer: any WorkloadProducer
    let measurements: WorkloadMeasurements
    let rateControl: RateControl
    let payloads: PayloadPool
    let keys: KeyPool
    let keyType: KeyDistributorType
    let seed: UInt64
    let clock: any EngineClock
    let producerCount: Int
    let maxBatchRecords: Int
    let maxOutstandingRecords: Int
    /// Sent and not completed.
    let outstanding = Atomic<Int>(0)
    /// The schedule when the loop ended, to tell how far behind it the producer was.
    private let finalSchedule = Mutex<RateSchedule?>(nil)

    /// The longest the loop sleeps before it looks at the stop flag and the rate again.
    static let checkIntervalNanoseconds: UInt64 = 20_000_000
    /// How often a producer at its outstanding bound looks for room.
    static let roomPollNanoseconds: UInt64 = 200_000

    init(index: Int, topic: String, producer: any WorkloadProducer, measurements: WorkloadMeasurements, rateControl: RateControl,
         payloads: PayloadPool, keys: KeyPool, keyType: KeyDistributorType, seed: UInt64, clock: any EngineClock,
         producerCount: Int, maxBatchRecords: Int, maxOutstandingRecords: Int) {
        self.index = index
        self.topic = topic
        self.producer = producer
        self.measurements = measurements
        self.rateControl = rateControl
        self.payloads = payloads
        self.keys = keys
        self.keyType = keyType
        self.seed = seed
        self.clock = clock
        self.producerCount = max(1, producerCount)
        self.maxBatchRecords = max(1, maxBatchRecords)
        self.maxOutstandingRecords = max(1, maxOutstandingRecords)
    }

    /// Runs until `stop` is set or the task is cancelled.
    func run(stop: StopFlag) async {
        var generator = SeededGenerator(seed: seed)
        var keyChooser = KeyChooser(type: keyType)
        var epoch = rateControl.current
        var schedule = RateSchedule(startNanoseconds: staggeredStart(epoch), ratePerSecond: epoch.rate / Double(producerCount))
        let allocator = ByteBufferAllocator()
        let messageSize = payloads.messageSize
        let poolSize = payloads.payloads.count
        defer { finalSchedule.withLock { [schedule] in $0 = schedule } }
        while !stop.isSet, !Task.isCancelled {
            let latest = rateControl.current
            if latest.id != epoch.id {
                epoch = latest
                schedule = RateSchedule(startNanoseconds: staggeredStart(epoch), ratePerSecond: epoch.rate / Double(producerCount))
            }
            let now = clock.monotonicNanoseconds()
            let end = rateControl.sendUntilNanoseconds
            let due = schedule.dueCount(at: now < end ? now : end &- 1)
            do {
                if due == 0 {
                    let next = schedule.nextIntendedNanoseconds < end ? schedule.nextIntendedNanoseconds : UInt64.max
                    let wake = min(next, now &+ Self.checkIntervalNanoseconds)
                    try await clock.sleep(untilMonotonicNanoseconds: wake)
                    continue
                }
                let room = maxOutstandingRecords - outstanding.load(ordering: .relaxed)
                if room <= 0 {
                    try await clock.sleep(nanoseconds: Self.roomPollNanoseconds)
                    continue
                }
            } catch {
                return
            }
            let room = maxOutstandingRecords - outstanding.load(ordering: .relaxed)
            let count = Int(min(due, UInt64(min(maxBatchRecords, room))))
            let indices = schedule.take(UInt64(count))
            var intended = [UInt64]()
            intended.reserveCapacity(count)
            var buffer = allocator.buffer(capacity: count * messageSize)
            for sendIndex in indices {
                let at = schedule.intendedNanoseconds(ofSend: sendIndex)
                intended.append(at)
                let payload = poolSize > 1 ? Int(generator.next() % UInt64(poolSize)) : 0
                payloads.write(payload: payload, intendedNanoseconds: at, into: &buffer)
            }
            var records = [WorkloadRecord]()
            records.reserveCapacity(count)
            for _ in 0 ..< count {
                guard let value = buffer.readSlice(length: messageSize) else { break }
                records.append(WorkloadRecord(key: keyChooser.next(using: &generator).map { keys.key($0) }, value: value))
            }
            outstanding.add(records.count, ordering: .relaxed)
            measurements.handedToDriver.add(Int64(records.count), ordering: .relaxed)
            let handedAt = clock.monotonicNanoseconds()
            let measurements = measurements
            let clock = clock
            let outstanding = self
            let intendedTimes = intended
            await producer.send(WorkloadSendBatch(topic: topic, records: records)) { result in
                measurements.recordSend(result, intended: intendedTimes, handedAtNanoseconds: handedAt,
                                        now: result.completedAtNanoseconds ?? clock.monotonicNanoseconds())
                outstanding.outstanding.subtract(result.records.count, ordering: .relaxed)
            }
            // A producer behind its schedule never sleeps; without this it could hold a thread of the
            // cooperative pool and starve the ticker, the orchestrator and the consumers.
            await Task.yield()
        }
    }

    /// Where this producer's schedule starts in `epoch`: producers are spread evenly over one
    /// interval between sends (producer i of n starts i/n of an interval late), so together they
    /// send at an even pace instead of all at the same instants, a burst that would measure the
    /// load generator's own queueing.
    func staggeredStart(_ epoch: RateControl.Epoch) -> UInt64 {
        let perProducer = epoch.rate / Double(producerCount)
        guard perProducer > 0, producerCount > 1 else { return epoch.startNanoseconds }
        let interval = 1e9 / perProducer
        let offset = interval * Double(index % producerCount) / Double(producerCount)
        guard offset.isFinite, offset >= 0, offset < 1e12 else { return epoch.startNanoseconds }
        return epoch.startNanoseconds &+ UInt64(offset)
    }

    /// Records due by `end` on the schedule but never handed to the driver, and how late the
    /// oldest of them was at `end` in seconds; zeros when the producer kept up.
    func lagAtEnd(_ end: UInt64) -> (records: Int64, seconds: Double) {
        guard let schedule = finalSchedule.withLock({ $0 }) else { return (0, 0) }
        let due = schedule.dueCount(at: end)
        guard due > 0 else { return (0, 0) }
        return (Int64(clamping: due), Double(end &- schedule.nextIntendedNanoseconds) / 1e9)
    }

    /// Sends one record intended now and waits (up to `timeout`) for its completion; used to make
    /// consumers ready before load (OMB's probe message). Returns the send error, if any.
    func sendProbe(timeout: Duration) async -> WorkloadSendError? {
        var buffer = ByteBufferAllocator().buffer(capacity: payloads.messageSize)
        let at = clock.monotonicNanoseconds()
        payloads.write(payload: 0, intendedNanoseconds: at, into: &buffer)
        let result = Mutex<WorkloadSendResult?>(nil)
        let measurements = measurements
        let clock = clock
        measurements.handedToDriver.add(1, ordering: .relaxed)
        await producer.send(WorkloadSendBatch(topic: topic, records: [WorkloadRecord(key: nil, value: buffer)])) { outcome in
            measurements.recordSend(outcome, intended: [at], handedAtNanoseconds: at,
                                    now: outcome.completedAtNanoseconds ?? clock.monotonicNanoseconds())
            result.withLock { $0 = outcome }
        }
        let deadline = at &+ timeout.nanosecondsClamped
        while clock.monotonicNanoseconds() < deadline {
            if let outcome = result.withLock({ $0 }) { return outcome.error }
            do { try await clock.sleep(nanoseconds: 1_000_000) } catch { break }
        }
        return result.withLock { $0 }?.error ?? WorkloadSendError(code: "TIMEOUT", message: "the probe record was not acknowledged in time")
    }
}
