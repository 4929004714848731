import Foundation
import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport
import Testing

/// The storage backends the end-to-end suite runs on: every scenario runs on each.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, file, mmap

    var testDescription: String { rawValue }
}

/// One embedded broker on a backend, reached in-process, with a cluster client for the tests.
/// Stop it with `stop()` (it removes its temporary directory).
struct ClusterHarness: Sendable {
    let backend: Backend
    let cluster: EmbeddedCluster
    let client: ClusterClient
    let directory: String?

    static func start(_ backend: Backend, customize: @escaping @Sendable (inout BrokerConfig) -> Void = { _ in }) async throws
        -> ClusterHarness {
        var directory: String?
        let url: String
        switch backend {
        case .memory:
            url = "memory://"
        case .file, .mmap:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("rivulet-client-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            directory = path
            url = "\(backend.rawValue)://\(path)"
        }
        let cluster = try EmbeddedCluster(EmbeddedCluster.Configuration(
            storageURL: url, randomSeed: 42,
            customize: { config in
                config.logRetentionCheckIntervalMs = 3_600_000
                customize(&config)
            }))
        try await cluster.start()
        var config = ClientConfig(bootstrapServers: cluster.bootstrapAddresses)
        config.retryBackoffMs = 5
        config.retryBackoffMaxMs = 50
        config.reconnectBackoffMs = 5
        config.reconnectBackoffMaxMs = 50
        return ClusterHarness(backend: backend, cluster: cluster, client: ClusterClient(config: config, transport: cluster.transport),
                              directory: directory)
    }

    var admin: Admin { Admin(cluster: client) }

    func producer(_ configure: (inout ProducerConfig) -> Void = { _ in }) throws -> Producer {
        var config = ProducerConfig()
        configure(&config)
        return try Producer(cluster: client, config: config)
    }

    func consumer(_ configure: (inout ConsumerConfig) -> Void = { _ in }) throws -> Consumer {
        var config = ConsumerConfig()
        config.autoOffsetReset = .earliest
        config.fetchMaxWaitMs = 100
        configure(&config)
        return try Consumer(cluster: client, config: config)
    }

    func stop() async {
        await client.close()
        await cluster.shutdown()
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }
}
