import Foundation
import Logging
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport

/// The cluster a `KafkaWorkloadDriver` talks to, and how: an embedded Rivulet broker reached over
/// the in-process transport (`transport: inproc`), the same broker behind a real TCP listener on a
/// free 127.0.0.1 port (`transport: tcp`), or an external Kafka-compatible cluster
/// (`target: kafka://host:port[,host:port]`) over TCP.
///
/// Isolation: `Sendable`; `start` and `close` are called once each, by the driver.
public final class KafkaWorkloadTarget: Sendable {
    /// Why a target could not start.
    public struct StartError: Error, Sendable, CustomStringConvertible {
        /// What failed and what to do about it.
        public let message: String
        public var description: String { message }
    }

    /// A label for logs: `embedded memory:// over inproc`, `kafka://127.0.0.1:9092`.
    public let label: String
    /// The bootstrap addresses clients use.
    public let bootstrap: [BrokerAddress]
    /// The transport every client of the run uses.
    public let transport: any Transport
    /// The embedded cluster, nil for an external target.
    public let embedded: EmbeddedCluster?
    /// The TCP listeners in front of the embedded cluster (`transport: tcp`).
    public let listeners: EmbeddedTCPListeners?
    /// A storage directory this target created and removes on close.
    let ownedDirectory: String?
    /// Every client's `request.timeout.ms` (the spec's `requestTimeoutMs`).
    let requestTimeoutMs: Int64
    /// Every client's `retry.backoff.max.ms` (the spec's `retryBackoffMaxMs`).
    let retryBackoffMaxMs: Int64

    init(label: String, bootstrap: [BrokerAddress], transport: any Transport, embedded: EmbeddedCluster?,
         listeners: EmbeddedTCPListeners?, ownedDirectory: String?, requestTimeoutMs: Int64 = 30_000,
         retryBackoffMaxMs: Int64 = 500) {
        self.requestTimeoutMs = requestTimeoutMs
        self.retryBackoffMaxMs = retryBackoffMaxMs
        self.label = label
        self.bootstrap = bootstrap
        self.transport = transport
        self.embedded = embedded
        self.listeners = listeners
        self.ownedDirectory = ownedDirectory
    }

    /// Starts (or connects to) the target of `spec`: its `target`, and for embedded targets its
    /// `brokers`, `storage` and `transport`.
    ///
    /// - Parameters:
    ///   - clock: the clock of the embedded brokers (use the runner's).
    ///   - ownsStorageDirectory: remove the `file://`/`mmap://` directory on close (for temporary
    ///     directories the command line made).
    ///   - logger: the embedded brokers' logger (quiet by default: warnings only).
    /// - Throws: `StartError` naming what failed (a storage directory that cannot be created, a port
    ///   that cannot be bound, more brokers than the embedded cluster supports).
    public static func start(spec: WorkloadSpec, clock: any EngineClock = SystemClock(), ownsStorageDirectory: Bool = false,
                             logger: Logger? = nil) async throws(StartError) -> KafkaWorkloadTarget {
        switch spec.target {
        case .kafka(let servers):
            let addresses = servers.map { BrokerAddress(host: $0.host, port: $0.port) }
            guard !addresses.isEmpty else { throw StartError(message: "target kafka:// names no bootstrap server") }
            return KafkaWorkloadTarget(label: spec.target.description, bootstrap: addresses, transport: TCPTransport(),
                                       embedded: nil, listeners: nil, ownedDirectory: nil, requestTimeoutMs: Int64(spec.requestTimeoutMs),
                                       retryBackoffMaxMs: Int64(spec.retryBackoffMaxMs))
        case .embedded:
            return try await startEmbedded(spec: spec, clock: clock, ownsStorageDirectory: ownsStorageDirectory, logger: logger)
        }
    }

    private static func startEmbedded(spec: WorkloadSpec, clock: any EngineClock, ownsStorageDirectory: Bool,
                                      logger: Logger?) async throws(StartError) -> KafkaWorkloadTarget {
        var directory: String?
        switch spec.storage {
        case .memory: break
        case .file(let path), .mmap(let path): directory = path
        }
        if let directory {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw StartError(message: "cannot create the storage directory \(directory): \(error.localizedDescription)")
            }
        }
        var brokerLogger = logger ?? Logger(label: "rivulet.workload.broker")
        if logger == nil { brokerLogger.logLevel = .warning }
        var configuration = EmbeddedCluster.Configuration(
            brokerCount: spec.brokers, storageURL: spec.storage.description, clock: clock, randomSeed: spec.seed,
            logger: brokerLogger)
        configuration.applyFailoverSettings(of: spec)
        let owned = ownsStorageDirectory ? directory : nil
        let label = "embedded \(spec.storage) over \(spec.transport.rawValue)"
        switch spec.transport {
        case .inproc:
            let cluster: EmbeddedCluster
            do {
                cluster = try EmbeddedCluster(configuration)
            } catch {
                removeDirectory(owned)
                throw StartError(message: "cannot build the embedded cluster: \(error)")
            }
            do {
                try await cluster.start()
            } catch {
                await cluster.shutdown()
                removeDirectory(owned)
                throw StartError(message: "cannot start the embedded broker on \(spec.storage): \(error)")
            }
            return KafkaWorkloadTarget(label: label, bootstrap: cluster.bootstrapAddresses, transport: cluster.transport,
                                       embedded: cluster, listeners: nil, ownedDirectory: owned,
                                       requestTimeoutMs: Int64(spec.requestTimeoutMs),
                                       retryBackoffMaxMs: Int64(spec.retryBackoffMaxMs))
        case .tcp:
            do {
                let (cluster, listeners) = try await EmbeddedCluster.startWithTCP(configuration, host: "127.0.0.1", logger: brokerLogger)
                return KafkaWorkloadTarget(label: label, bootstrap: listeners.bootstrapAddresses, transport: TCPTransport(),
                                           embedded: cluster, listeners: listeners, ownedDirectory: owned,
                                           requestTimeoutMs: Int64(spec.requestTimeoutMs),
                                       retryBackoffMaxMs: Int64(spec.retryBackoffMaxMs))
            } catch {
                removeDirectory(owned)
                throw StartError(message: "cannot start the embedded broker behind TCP on \(spec.storage): \(error)")
            }
        }
    }

    /// A fresh client configuration for one producer, consumer or admin client of the run.
    func clientConfig(clientId: String, clock: any EngineClock, seed: UInt64) -> ClientConfig {
        var config = ClientConfig(bootstrapServers: bootstrap, clientId: clientId, clock: clock, randomSeed: seed)
        config.retryBackoffMs = 20
        config.retryBackoffMaxMs = max(config.retryBackoffMs, retryBackoffMaxMs)
        config.reconnectBackoffMs = 20
        config.reconnectBackoffMaxMs = 500
        config.requestTimeoutMs = requestTimeoutMs
        // An unreachable cluster fails the setup in 15 s rather than Kafka's 60.
        config.defaultApiTimeoutMs = 15_000
        // Topics are created by the driver; a typo must not create one.
        config.allowAutoCreateTopics = false
        return config
    }

    /// Stops the listeners and the embedded brokers (flushing durable storage) and removes an
    /// owned storage directory. Nothing to do for an external cluster.
    func close() async {
        await listeners?.close()
        await embedded?.shutdown()
        Self.removeDirectory(ownedDirectory)
    }

    private static func removeDirectory(_ path: String?) {
        guard let path else { return }
        try? FileManager.default.removeItem(atPath: path)
    }
}
