/// The coordination service of an embedded cluster with several brokers (spec key `coordinator`).
public enum WorkloadCoordinator: Sendable, Equatable, CustomStringConvertible {
    /// A private in-memory ensemble on the run's clock (the default).
    case memory
    /// A coordinator URL the brokers connect to: `memory://name` (a shared in-process ensemble) or
    /// `zk://host:port[/chroot]` (a real ZooKeeper).
    case url(String)

    public var description: String {
        switch self {
        case .memory: "memory"
        case .url(let url): url
        }
    }

    /// Parses `memory`, `memory://name` or `zk://host:port[/chroot]`; the failure names what is wrong.
    public static func parse(_ text: String) -> Result<WorkloadCoordinator, FaultParseError> {
        if text == "memory" || text == "memory://" { return .success(.memory) }
        if text.hasPrefix("memory://") {
            return .success(.url(text))
        }
        if text.hasPrefix("zk://") {
            let rest = text.dropFirst("zk://".count)
            let hostPort = rest.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
            guard let colon = hostPort.lastIndex(of: ":"), colon != hostPort.startIndex,
                  let port = Int(hostPort[hostPort.index(after: colon)...]), (1 ... 65535).contains(port) else {
                return .failure(FaultParseError("expected zk://host:port[/chroot] with a port in 1...65535"))
            }
            return .success(.url(text))
        }
        return .failure(FaultParseError("expected memory, memory://name or zk://host:port[/chroot]"))
    }
}

extension WorkloadFault {
    /// True for faults that take a broker away (kill, pause, restart, partition): the ones whose
    /// specs record and check the history by default (`checkHistory`).
    public var losesBrokers: Bool {
        switch action {
        case .kill, .pause, .restart, .partition: true
        case .delay, .killConsumer, .addConsumer: false
        }
    }
}
