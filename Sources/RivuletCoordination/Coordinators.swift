import RivuletCore

/// Settings common to every backend, named after Kafka's `zookeeper.*` configs.
public struct CoordinatorConfiguration: Sendable {
    /// The requested session timeout in milliseconds (Kafka's `zookeeper.session.timeout.ms`, default
    /// 18000); the ensemble clamps it to its bounds.
    public var sessionTimeoutMs: Int
    /// How long opening a ZooKeeper session may take, in milliseconds (Kafka's
    /// `zookeeper.connection.timeout.ms`; defaults to the session timeout).
    public var connectionTimeoutMs: Int?
    /// The clock: for `memory://`, the one a newly created named ensemble runs on (a `ManualClock` makes
    /// expiry deterministic); for `zk://`, the one pings and timeouts use (keep it real).
    public var clock: any EngineClock

    /// Kafka's defaults: an 18 s session timeout, a connection timeout equal to it, the system clock.
    public init(sessionTimeoutMs: Int = 18_000, connectionTimeoutMs: Int? = nil, clock: any EngineClock = SystemClock()) {
        self.sessionTimeoutMs = sessionTimeoutMs
        self.connectionTimeoutMs = connectionTimeoutMs
        self.clock = clock
    }
}

/// The factory that picks a `Coordinator` backend by URL (`memory://`, `zk://`).
public enum Coordinators {
    /// Opens a session on the coordinator at `url` (see `CoordinatorEndpoint` for the forms). Throws
    /// `unsupportedScheme` listing the supported schemes, `invalidURL`, or the backend's connect errors.
    public static func connect(
        url: String, configuration: CoordinatorConfiguration = CoordinatorConfiguration()
    ) async throws -> any Coordinator {
        try await connect(CoordinatorEndpoint(parsing: url), configuration: configuration)
    }

    /// Opens a session on `endpoint`. The returned session also conforms to `CoordinatorFaultInjecting`.
    public static func connect(
        _ endpoint: CoordinatorEndpoint, configuration: CoordinatorConfiguration = CoordinatorConfiguration()
    ) async throws -> any Coordinator {
        switch endpoint {
        case .memory(let name, let chroot):
            return try InMemoryEnsemble.named(name, clock: configuration.clock)
                .openSession(sessionTimeoutMs: configuration.sessionTimeoutMs, chroot: chroot)
        case .zooKeeper(let hosts, let chroot):
            return try await ZooKeeperCoordinator.connect(ZooKeeperCoordinator.Configuration(
                hosts: hosts, chroot: chroot, sessionTimeoutMs: configuration.sessionTimeoutMs,
                connectionTimeoutMs: configuration.connectionTimeoutMs, clock: configuration.clock))
        }
    }
}
