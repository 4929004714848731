import RivuletCore
import Synchronization

/// Fires a spec's faults at their times (counted from the start of traffic), undoes those with
/// `for <d>` on the broker the injector reported, and records each as a `WorkloadFaultEvent`.
/// `undoOutstanding()` undoes every broker fault still in effect, so a run never leaves a broker
/// killed, paused, partitioned or delayed behind it.
final class FaultScheduler: Sendable {
    private struct Action: Sendable {
        var atNanoseconds: UInt64
        var fault: Int
        var isUndo: Bool
    }

    private struct State: Sendable {
        var events: [WorkloadFaultEvent?]
        /// Faults applied (with the broker they reached) and not yet undone.
        var active: [Int: Int] = [:]
        /// Injector hooks still measuring after a consumer fault (a group's rebalance time).
        var watches: [Task<Void, Never>] = []
    }

    private let faults: [WorkloadFault]
    private let injector: (any WorkloadFaultInjector)?
    private let consumers: ConsumerRegistry
    private let clock: any EngineClock
    private let trafficStartNanoseconds: UInt64
    private let state: Mutex<State>

    init(faults: [WorkloadFault], injector: (any WorkloadFaultInjector)?, consumers: ConsumerRegistry, clock: any EngineClock,
         trafficStartNanoseconds: UInt64) {
        self.faults = faults
        self.injector = injector
        self.consumers = consumers
        self.clock = clock
        self.trafficStartNanoseconds = trafficStartNanoseconds
        state = Mutex(State(events: Array(repeating: nil, count: faults.count)))
    }

    /// The events so far, in spec order (faults that never fired are left out).
    var events: [WorkloadFaultEvent] { state.withLock { $0.events.compactMap { $0 } } }

    /// Fires and undoes faults in time order until all are done, `stop` is set, or the task is cancelled.
    func run(stop: StopFlag) async {
        var actions: [Action] = []
        for (index, fault) in faults.enumerated() {
            actions.append(Action(atNanoseconds: fault.at.nanosecondsClamped, fault: index, isUndo: false))
            if let duration = fault.duration {
                actions.append(Action(atNanoseconds: fault.at.nanosecondsClamped &+ duration.nanosecondsClamped, fault: index, isUndo: true))
            }
        }
        actions.sort { ($0.atNanoseconds, $0.isUndo ? 0 : 1, $0.fault) < ($1.atNanoseconds, $1.isUndo ? 0 : 1, $1.fault) }
        for action in actions {
            let deadline = trafficStartNanoseconds &+ action.atNanoseconds
            while clock.monotonicNanoseconds() < deadline {
                if stop.isSet || Task.isCancelled { return }
                let remaining = deadline - clock.monotonicNanoseconds()
                do { try await clock.sleep(nanoseconds: min(remaining, 20_000_000)) } catch { return }
            }
            if stop.isSet || Task.isCancelled { return }
            if action.isUndo { await undo(action.fault) } else { await apply(action.fault) }
        }
    }

    /// Undoes every broker fault still in effect, and ends the measurements of consumer faults
    /// still running (their events keep what they had).
    func undoOutstanding() async {
        let active = state.withLock { $0.active.keys.sorted() }
        for fault in active { await undo(fault) }
        let watches = state.withLock { state in
            defer { state.watches = [] }
            return state.watches
        }
        for watch in watches {
            watch.cancel()
            await watch.value
        }
    }

    private var elapsedSeconds: Double {
        Double(clock.monotonicNanoseconds() &- trafficStartNanoseconds) / 1e9
    }

    private func apply(_ index: Int) async {
        let fault = faults[index]
        var event = WorkloadFaultEvent(fault: fault.description, verb: fault.verb, atSeconds: elapsedSeconds)
        var followUp: (@Sendable (any WorkloadFaultInjector) async -> FaultEffect)?
        do {
            switch fault.action {
            case .killConsumer(let consumer):
                event.consumerIndex = consumer
                if await consumers.kill(consumer) {
                    followUp = { injector in await injector.consumerKilled(index: consumer) }
                } else {
                    event.error = "consumer \(consumer) is not running"
                }
            case .addConsumer:
                let index = try await consumers.addToFirstSubscription()
                event.consumerIndex = index
                followUp = { injector in await injector.consumerAdded(index: index) }
            case .delay(let target, let by):
                try record(await requireInjector().delay(target, by: by), into: &event, fault: index)
            case .kill(let target):
                try record(await requireInjector().kill(target), into: &event, fault: index)
            case .pause(let target):
                try record(await requireInjector().pause(target), into: &event, fault: index)
            case .restart(let target):
                let effect = try await requireInjector().restart(target)
                event.brokerId = effect.brokerId
                event.recoveryTimeMs = effect.recoveryTimeMs
                event.rebalanceTimeMs = effect.rebalanceTimeMs
                event.detail = effect.detail
            case .partition(let target):
                try record(await requireInjector().partition(target), into: &event, fault: index)
            }
        } catch {
            event.error = "\(error)"
        }
        let finished = event
        state.withLock { $0.events[index] = finished }
        // The injector may watch the group settle (seconds, for a killed member: its session
        // timeout): measured in the background, so later faults keep their times.
        if let followUp, let injector {
            let watch = Task {
                let effect = await followUp(injector)
                self.state.withLock { state in
                    state.events[index]?.recoveryTimeMs = effect.recoveryTimeMs
                    state.events[index]?.rebalanceTimeMs = effect.rebalanceTimeMs
                    state.events[index]?.detail = effect.detail
                }
            }
            state.withLock { $0.watches.append(watch) }
        }
    }

    private func record(_ effect: FaultEffect, into event: inout WorkloadFaultEvent, fault index: Int) throws {
        event.brokerId = effect.brokerId
        event.recoveryTimeMs = effect.recoveryTimeMs
        event.rebalanceTimeMs = effect.rebalanceTimeMs
        event.detail = effect.detail
        let broker: Int
        if let reported = effect.brokerId {
            broker = reported
        } else if case .broker(let id)? = faults[index].target {
            broker = id
        } else {
            throw WorkloadRunError.faultFailed("the injector did not report which broker leads the partition")
        }
        state.withLock { $0.active[index] = broker }
    }

    private func undo(_ index: Int) async {
        guard let broker = state.withLock({ $0.active.removeValue(forKey: index) }) else { return }
        var undoError: String?
        var effect: FaultEffect?
        do {
            let injector = try requireInjector()
            switch faults[index].action {
            case .delay: effect = try await injector.removeDelay(broker: broker)
            case .kill: effect = try await injector.restart(.broker(broker))
            case .pause: effect = try await injector.resume(broker: broker)
            case .partition: effect = try await injector.heal(broker: broker)
            case .restart, .killConsumer, .addConsumer: break
            }
        } catch {
            undoError = "\(error)"
        }
        let ended = elapsedSeconds
        state.withLock { state in
            state.events[index]?.endedAtSeconds = ended
            state.events[index]?.undoError = undoError
            if state.events[index]?.recoveryTimeMs == nil { state.events[index]?.recoveryTimeMs = effect?.recoveryTimeMs }
            if state.events[index]?.rebalanceTimeMs == nil { state.events[index]?.rebalanceTimeMs = effect?.rebalanceTimeMs }
        }
    }

    private func requireInjector() throws -> any WorkloadFaultInjector {
        guard let injector else { throw WorkloadRunError.faultFailed("the driver has no fault injector") }
        return injector
    }
}

extension WorkloadFaultEvent {
    init(fault: String, verb: String, atSeconds: Double) {
        self.init(fault: fault, verb: verb, atSeconds: atSeconds, endedAtSeconds: nil, brokerId: nil, consumerIndex: nil, error: nil,
                  undoError: nil, recoveryTimeMs: nil, rebalanceTimeMs: nil, throughputRecoveryMs: nil, detail: nil)
    }
}
