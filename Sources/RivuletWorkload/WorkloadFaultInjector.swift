/// What an injected fault did, as the injector reports it. The runner stores it in the result's
/// fault event; fields the injector cannot know stay nil.
public struct FaultEffect: Sendable, Equatable {
    /// The broker the fault reached (a `leaderOfPartition` target resolved at that moment); the
    /// runner undoes the fault on this broker.
    public var brokerId: Int?
    /// Time until the system recovered (for example until a new leader was elected), in
    /// milliseconds, when the injector can tell.
    public var recoveryTimeMs: Double?
    /// Time until consumer groups finished rebalancing, in milliseconds, when the injector can tell.
    public var rebalanceTimeMs: Double?
    /// Anything else worth reporting.
    public var detail: String?

    public init(brokerId: Int? = nil, recoveryTimeMs: Double? = nil, rebalanceTimeMs: Double? = nil, detail: String? = nil) {
        self.brokerId = brokerId
        self.recoveryTimeMs = recoveryTimeMs
        self.rebalanceTimeMs = rebalanceTimeMs
        self.detail = detail
    }
}

/// Injects broker-level faults into the system a `WorkloadDriver` drives, and hears about consumer faults. Each method acts now
/// and returns; the runner schedules them from the spec's `fault:` lines and calls the matching
/// undo (`removeDelay`, `restart`, `resume`, `heal`) after `for <d>`, on the broker the first call
/// reported, and for every fault still pending when the run stops.
///
/// Isolation: `Sendable`; the runner calls one method at a time. Methods throw when the fault
/// cannot be applied (unknown broker, no leader); the runner records the error in the event and
/// carries on.
public protocol WorkloadFaultInjector: Sendable {
    /// Adds `delay` to every response of the target.
    func delay(_ target: FaultTarget, by delay: Duration) async throws -> FaultEffect
    /// Removes an added delay from a broker.
    func removeDelay(broker: Int) async throws -> FaultEffect
    /// Stops the target abruptly (no controlled shutdown).
    func kill(_ target: FaultTarget) async throws -> FaultEffect
    /// Starts a stopped broker, or stops and starts a running one.
    func restart(_ target: FaultTarget) async throws -> FaultEffect
    /// Freezes the target: it keeps its connections but answers nothing.
    func pause(_ target: FaultTarget) async throws -> FaultEffect
    /// Unfreezes a paused broker.
    func resume(broker: Int) async throws -> FaultEffect
    /// Cuts the target off the network (clients and other brokers).
    func partition(_ target: FaultTarget) async throws -> FaultEffect
    /// Reconnects a partitioned broker.
    func heal(broker: Int) async throws -> FaultEffect

    /// Told after the runner killed consumer `index` (`kill consumer N`; the runner does the kill
    /// through the consumer's handle, so consumer faults work on every driver). An injector that
    /// can watch the group fills `rebalanceTimeMs`; it may take its time (the runner awaits it in
    /// the background and cancels it when the run ends). Default: nothing to add.
    func consumerKilled(index: Int) async -> FaultEffect
    /// Told after the runner added consumer `index` (`add consumer`). Default: nothing to add.
    func consumerAdded(index: Int) async -> FaultEffect
}

extension WorkloadFaultInjector {
    public func consumerKilled(index: Int) async -> FaultEffect { FaultEffect() }
    public func consumerAdded(index: Int) async -> FaultEffect { FaultEffect() }
}
