/// Why `WorkloadRunner.run()` could not start traffic. Once traffic has started the runner always
/// returns a `WorkloadResult` instead (partial when it was cancelled, stopped or failed).
public enum WorkloadRunError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The spec is invalid; fix the named key.
    case invalidSpec(WorkloadSpecError)
    /// The spec has broker faults but the driver offers no fault injector; remove the faults or
    /// use a target that can inject them (embedded clusters can).
    case faultInjectionUnsupported(driver: String, fault: String)
    /// Creating topics, producers or consumers failed; `reason` is the driver's error.
    case setupFailed(stage: String, reason: String)
    /// Consumers did not receive the readiness records in time (OMB waits the same way); check that
    /// the target is reachable and consumers can join their groups.
    case consumersNotReady(received: Int64, expected: Int64, timeoutSeconds: Double)
    /// A fault could not be applied (recorded in the fault event; not thrown by `run()`).
    case faultFailed(String)

    public var description: String {
        switch self {
        case .invalidSpec(let error): "invalid spec: \(error)"
        case .faultInjectionUnsupported(let driver, let fault):
            "driver '\(driver)' cannot inject broker faults ('\(fault)'); remove the fault or use a target with a fault injector"
        case .setupFailed(let stage, let reason): "setup failed while \(stage): \(reason)"
        case .consumersNotReady(let received, let expected, let timeout):
            "consumers received \(received) of \(expected) readiness records within \(formatNumber(timeout)) s"
        case .faultFailed(let message): message
        }
    }
}
