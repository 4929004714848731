import ArgumentParser
import Logging
import RivuletBroker
import RivuletCoordination
import RivuletTransport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `rivulet cluster`: N brokers in one process, each behind its own TCP listener, coordinated by an
/// in-process ensemble or a real ZooKeeper, replicating partitions among themselves.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run an in-process cluster of replicating brokers over TCP",
        discussion: """
        Every broker listens on 127.0.0.1 (consecutive ports from --base-port, or free ports) and is \
        advertised there, so any Kafka client can bootstrap from the printed list. Brokers register in \
        the coordinator, elect a controller and replicate partitions (replicas are consumers). \
        SIGTERM or SIGINT stops every broker cleanly.

        Examples:
          rivulet cluster --brokers 3 --storage memory:// --coordinator memory
          rivulet cluster --brokers 3 --racks a,b,c --storage file:///tmp/rivulet \\
            --coordinator zk://127.0.0.1:2181 --base-port 19092 --config min.insync.replicas=2
        """)

    @Option(help: "How many brokers (node ids 0..N-1).")
    var brokers: Int = 3

    @Option(help: "Racks, comma-separated, assigned to brokers round robin (broker.rack).")
    var racks: String?

    @Option(help: "Where the logs live: memory://, file:///dir or mmap:///dir (one subdirectory per broker).")
    var storage: String = "memory://"

    @Option(help: "memory (a private in-process ensemble), memory://NAME, or zk://HOST:PORT[/chroot].")
    var coordinator: String = "memory"

    @Option(name: .customLong("base-port"), help: "Broker N listens on base-port + N; 0 picks free ports.")
    var basePort: Int = 0

    @Option(name: .customLong("host"), help: "The address to listen on and advertise.")
    var host: String = "127.0.0.1"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("config"), help: ArgumentHelp(
        "A broker setting with Kafka's name, key=value; repeatable (the keys of 'rivulet broker --config').",
        valueName: "key=value"))
    var settings: [String] = []

    func validate() throws {
        guard (1 ... 100).contains(brokers) else { throw ValidationError("--brokers \(brokers): use 1 to 100") }
        guard basePort == 0 || (1 ... 65535 - brokers).contains(basePort) else {
            throw ValidationError("--base-port \(basePort): the ports base-port...base-port+\(brokers - 1) must be valid")
        }
        if coordinator != "memory" {
            do {
                _ = try CoordinatorEndpoint(parsing: coordinator)
            } catch {
                throw ValidationError("--coordinator \(coordinator): \(error)")
            }
        }
        if let racks, racks.split(separator: ",").isEmpty { throw ValidationError("--racks: give at least one rack name") }
    }

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("--log-level \(logLevel): use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var brokerSettings = BrokerSettings()
        for setting in settings { try brokerSettings.apply(setting) }
        let settingsCopy = brokerSettings
        // Checked once up front so that a bad value is a usage error, not a start failure.
        var probe = BrokerConfig()
        do {
            try settingsCopy.applyBroker(&probe)
            try probe.validate()
        } catch {
            throw ValidationError("--config: \(error)")
        }
        let rackNames = racks.map { $0.split(separator: ",").map { String($0.filter { $0 != " " }) } }
        var configuration = EmbeddedCluster.Configuration(
            brokerCount: brokers, storageURL: storage,
            customize: { config in try? settingsCopy.applyBroker(&config) },
            logger: Logger(label: "rivulet.cluster"),
            groupCoordinator: { _ in BrokerGroupCoordinator(config: settingsCopy.groups) })
        configuration.coordinator = coordinator == "memory" ? .privateMemory : .url(coordinator)
        configuration.sessionTimeoutMs = probe.zookeeperSessionTimeoutMs
        if let rackNames, !rackNames.isEmpty { configuration.rack = { rackNames[Int($0) % rackNames.count] } }
        let signals = TerminationSignals()
        let (cluster, listeners) = try await EmbeddedCluster.startWithTCP(configuration, host: host,
                                                                         serverConfig: brokerSettings.server, basePort: basePort)
        let bootstrap = listeners.bootstrapAddresses.map(\.description).joined(separator: ",")
        print("cluster of \(brokers) brokers up; bootstrap: \(bootstrap); controller: \(cluster.controllerId.map(String.init) ?? "electing")")
        fflush(nil)
        let logger = Logger(label: "rivulet.cluster")
        logger.info("cluster started", metadata: ["bootstrap": "\(bootstrap)", "coordinator": "\(coordinator)", "storage": "\(storage)"])
        let signal = await signals.next()
        logger.info("stopping", metadata: ["signal": "\(signal)"])
        await listeners.close()
        await cluster.shutdown()
        logger.info("cluster stopped cleanly")
    }
}
