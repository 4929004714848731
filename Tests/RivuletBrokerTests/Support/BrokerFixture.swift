import Foundation
import Logging
import NIOCore
import RivuletBroker
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Testing

/// The storage backends every broker scenario runs on.
enum StorageKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, file, mmap

    var testDescription: String { rawValue }

    /// The backends that survive a process restart.
    static let durable: [StorageKind] = [.file, .mmap]
}

/// A unique empty directory under the system's temporary directory.
func makeTemporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("rivulet-broker-tests-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

/// One broker in an `EmbeddedCluster` on a chosen storage backend, with a client connection.
final class BrokerFixture: @unchecked Sendable {
    let kind: StorageKind
    let cluster: EmbeddedCluster
    let clock: any EngineClock
    let directory: String?
    private(set) var connection: any KafkaConnection

    var broker: Broker {
        get throws {
            guard let broker = cluster.broker(0) else { throw FixtureError(description: "broker 0 is not running") }
            return broker
        }
    }

    var transport: InProcessTransport { cluster.transport }
    var address: BrokerAddress { cluster.bootstrapAddresses[0] }

    private init(kind: StorageKind, cluster: EmbeddedCluster, clock: any EngineClock, directory: String?, connection: any KafkaConnection) {
        self.kind = kind
        self.cluster = cluster
        self.clock = clock
        self.directory = directory
        self.connection = connection
    }

    /// Starts a broker on `kind` storage (in `directory` when given, else a fresh temporary one).
    static func start(_ kind: StorageKind, clock: any EngineClock = SystemClock(), directory: String? = nil,
                      customize: @escaping @Sendable (inout BrokerConfig) -> Void = { _ in }) async throws -> BrokerFixture {
        var directory = directory
        let url: String
        switch kind {
        case .memory:
            url = "memory://"
        case .file, .mmap:
            let path = directory ?? makeTemporaryDirectory()
            directory = path
            url = "\(kind.rawValue)://\(path)"
        }
        var logger = Logger(label: "broker-tests")
        logger.logLevel = .warning
        let cluster = try EmbeddedCluster(EmbeddedCluster.Configuration(
            storageURL: url, clock: clock, randomSeed: 42,
            customize: { config in
                config.logRetentionCheckIntervalMs = 3_600_000
                customize(&config)
            },
            logger: logger))
        try await cluster.start()
        let connection = try await cluster.transport.connect(to: cluster.bootstrapAddresses[0], clientId: "broker-tests")
        return BrokerFixture(kind: kind, cluster: cluster, clock: clock, directory: directory, connection: connection)
    }

    /// A new connection to the broker.
    func connect() async throws -> any KafkaConnection {
        try await transport.connect(to: address, clientId: "broker-tests")
    }

    /// Restarts the broker from the same storage and reconnects; `whileStopped` gets the broker's
    /// storage URL while nothing has it open.
    func restart(whileStopped: (String) throws -> Void = { _ in }) async throws {
        await connection.close()
        await cluster.stopBroker(0)
        try whileStopped(try #require(cluster.storageURL(of: 0)))
        try await cluster.startBroker(0)
        connection = try await connect()
    }

    /// Stops everything and removes the data directory.
    func stop() async {
        await connection.close()
        await cluster.shutdown()
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    func send<Request: KafkaRequest>(_ request: Request, version: Int16) async throws -> Request.Response {
        try await connection.send(request, version: version)
    }

    // MARK: Shortcuts

    @discardableResult
    func createTopic(_ name: String, partitions: Int32 = 1, configs: [String: String] = [:]) async throws -> CreateTopicsResponse.CreatableTopicResult {
        let response = try await send(CreateTopicsRequest(topics: [
            .init(name: name, numPartitions: partitions, replicationFactor: 1,
                  configs: configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) }),
        ]), version: 7)
        let result = try #require(response.topics.first)
        #expect(result.errorCode == 0, "creating \(name): \(String(describing: result.errorMessage))")
        return result
    }

    func produce(_ topic: String, partition: Int32 = 0, records: ByteBuffer?, acks: Int16 = 1,
                 version: Int16 = 9, timeoutMs: Int32 = 30000) async throws -> ProduceResponse.PartitionProduceResponse {
        let response = try await send(ProduceRequest(acks: acks, timeoutMs: timeoutMs, topicData: [
            .init(name: topic, partitionData: [.init(index: partition, records: records)]),
        ]), version: version)
        return try #require(response.responses.first?.partitionResponses.first)
    }

    func fetch(_ topic: String, partition: Int32 = 0, offset: Int64, maxWaitMs: Int32 = 0, minBytes: Int32 = 0,
               maxBytes: Int32 = 50 << 20, partitionMaxBytes: Int32 = 10 << 20, version: Int16 = 12,
               on connection: (any KafkaConnection)? = nil) async throws -> FetchResponse.PartitionData {
        let request = FetchRequest(maxWaitMs: maxWaitMs, minBytes: minBytes, maxBytes: maxBytes, topics: [
            .init(topic: topic, partitions: [.init(partition: partition, fetchOffset: offset, partitionMaxBytes: partitionMaxBytes)]),
        ])
        let response = try await (connection ?? self.connection).send(request, version: version)
        return try #require(response.responses.first?.partitions.first)
    }

    func listOffset(_ topic: String, partition: Int32 = 0, timestamp: Int64, version: Int16 = 7) async throws -> ListOffsetsResponse.ListOffsetsPartitionResponse {
        let response = try await send(ListOffsetsRequest(replicaId: -1, topics: [
            .init(name: topic, partitions: [.init(partitionIndex: partition, timestamp: timestamp)]),
        ]), version: version)
        return try #require(response.topics.first?.partitions.first)
    }

    func partition(_ topic: String, _ partition: Int32 = 0) throws -> Partition {
        try #require(try broker.replicaManager.partition(TopicPartition(topic: topic, partition: partition)))
    }
}

/// Runs `body` with a started broker on `kind`, stopping it afterwards even when `body` throws.
func withBroker(_ kind: StorageKind, clock: any EngineClock = SystemClock(),
                customize: @escaping @Sendable (inout BrokerConfig) -> Void = { _ in },
                _ body: (BrokerFixture) async throws -> Void) async throws {
    let fixture = try await BrokerFixture.start(kind, clock: clock, customize: customize)
    do {
        try await body(fixture)
    } catch {
        await fixture.stop()
        throw error
    }
    await fixture.stop()
}

// MARK: Record batches

/// One record for `makeBatch`.
struct TestRecord {
    var key: String?
    var value: String
    var timestampMs: Int64 = 1_700_000_000_000
}

/// A record batch v2 as a producer sends it (base offset 0, epoch -1).
func makeBatch(_ records: [TestRecord], compression: CompressionCodec = .none, producerId: Int64 = -1,
               producerEpoch: Int16 = -1, baseSequence: Int32 = -1, isTransactional: Bool = false,
               isControl: Bool = false) throws -> ByteBuffer {
    var builder = RecordBatchBuilder(compression: compression, producerId: producerId, producerEpoch: producerEpoch,
                                     baseSequence: baseSequence, isTransactional: isTransactional, isControl: isControl)
    for record in records {
        try builder.append(timestampMs: record.timestampMs, key: record.key.map { Array($0.utf8) }, value: Array(record.value.utf8))
    }
    return try builder.build().buffer
}

/// A batch of `count` records with values `"<prefix>-<i>"`.
func makeBatch(count: Int, prefix: String = "v", valueBytes: Int = 0, timestampMs: Int64 = 1_700_000_000_000,
               producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1) throws -> ByteBuffer {
    let padding = String(repeating: "x", count: valueBytes)
    return try makeBatch((0 ..< count).map { TestRecord(key: "k\($0)", value: "\(prefix)-\($0)\(padding)", timestampMs: timestampMs) },
                         producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence)
}

/// The records of a Fetch answer: (offset, value) pairs, decoded.
func decodeRecords(_ records: ByteBuffer?) throws -> [(offset: Int64, value: String)] {
    guard let records else { return [] }
    var result: [(offset: Int64, value: String)] = []
    for batch in RecordBatchSequence(records, mode: .allowPartialTail) {
        for record in try batch.records() {
            result.append((record.offset, record.value.map { String(buffer: $0) } ?? ""))
        }
    }
    return result
}

/// The batch headers in a Fetch answer.
func batchHeaders(_ records: ByteBuffer?) -> [RecordBatchHeader] {
    guard let records else { return [] }
    return RecordBatchSequence(records, mode: .allowPartialTail).map(\.header)
}

/// Polls `condition` (yielding and sleeping briefly) until it holds or `timeoutMs` of real time passes.
func eventually(timeoutMs: Int = 5000, _ condition: () throws -> Bool) async throws {
    let start = ContinuousClock.now
    while try !condition() {
        if ContinuousClock.now - start > .milliseconds(timeoutMs) { throw FixtureError(description: "condition not met in \(timeoutMs) ms") }
        try await Task.sleep(for: .milliseconds(1))
    }
}

extension KafkaErrorCode {
    /// The code as a response field carries it.
    var code16: Int16 { rawValue }
}
