import NIOCore
import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization
import Testing

/// A broker that answers only ApiVersions, with a chosen table, and records the versions asked.
private final class ApiVersionsOnlyBroker: KafkaRequestHandler, Sendable {
    let table: [ApiVersionsResponse.ApiVersion]
    let highestAccepted: Int16
    let seen = Mutex<[Int16]>([])
    let delayNanoseconds: UInt64

    init(table: [ApiVersionsResponse.ApiVersion], highestAccepted: Int16 = 4, delayNanoseconds: UInt64 = 0) {
        self.table = table
        self.highestAccepted = highestAccepted
        self.delayNanoseconds = delayNanoseconds
    }

    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        guard case .apiVersions = request else { return nil }
        seen.withLock { $0.append(context.apiVersion) }
        if delayNanoseconds > 0 { try? await Task.sleep(nanoseconds: delayNanoseconds) }
        if context.apiVersion > highestAccepted { return ApiVersionsResponse.unsupportedVersionAnswer(apiKeys: table).body }
        return ApiVersionsResponse(apiKeys: table).body
    }
}

private func connect(_ broker: ApiVersionsOnlyBroker, maxVersions: [ApiKey: Int16] = [:]) async throws -> NegotiatedConnection {
    let network = InProcessNetwork()
    let address = BrokerAddress(host: "b", port: 1)
    network.register(broker, at: address)
    let raw = try await InProcessTransport(network: network).connect(to: address, clientId: "test")
    return NegotiatedConnection(connection: raw, maxVersions: maxVersions)
}

private func entry(_ api: ApiKey, _ range: ClosedRange<Int16>) -> ApiVersionsResponse.ApiVersion {
    .init(apiKey: api.rawValue, minVersion: range.lowerBound, maxVersion: range.upperBound)
}

@Suite struct NegotiatedConnectionTests {
    @Test func negotiate_picksMinOfOursAndBrokersMax() async throws {
        let broker = ApiVersionsOnlyBroker(table: [entry(.apiVersions, 0 ... 4), entry(.produce, 3 ... 7), entry(.fetch, 4 ... 40)])
        let connection = try await connect(broker)
        let versions = try await connection.negotiate()
        #expect(broker.seen.withLock { $0 } == [3])
        #expect(versions.range(for: .produce) == 3 ... 7)
        #expect(try connection.version(for: ProduceRequest.self) == 7)
        #expect(try connection.version(for: FetchRequest.self) == FetchRequest.validVersions.upperBound)
    }

    @Test func version_whenBrokerLacksApi_throwsUnsupportedVersion() async throws {
        let broker = ApiVersionsOnlyBroker(table: [entry(.apiVersions, 0 ... 3)])
        let connection = try await connect(broker)
        _ = try await connection.negotiate()
        #expect(throws: TransportError.unsupportedVersion(connection.address, apiKey: .metadata)) {
            try connection.version(for: MetadataRequest.self)
        }
    }

    @Test func version_whenRangesDoNotOverlap_throwsUnsupportedVersion() async throws {
        let broker = ApiVersionsOnlyBroker(table: [entry(.apiVersions, 0 ... 3), entry(.produce, 12 ... 14)])
        let connection = try await connect(broker)
        _ = try await connection.negotiate()
        #expect(throws: TransportError.unsupportedVersion(connection.address, apiKey: .produce)) {
            try connection.version(for: ProduceRequest.self)
        }
        // Nothing was sent for the refused request.
        await #expect(throws: TransportError.self) { _ = try await connection.send(ProduceRequest()) }
        #expect(broker.seen.withLock { $0 } == [3])
    }

    @Test func negotiate_whenV3Unsupported_retriesWithBrokersApiVersionsMax() async throws {
        let broker = ApiVersionsOnlyBroker(table: [entry(.apiVersions, 0 ... 2), entry(.metadata, 0 ... 8)], highestAccepted: 2)
        let connection = try await connect(broker)
        let versions = try await connection.negotiate()
        #expect(broker.seen.withLock { $0 } == [3, 2])
        #expect(versions.range(for: .metadata) == 0 ... 8)
        #expect(try connection.version(for: MetadataRequest.self) == 8)
    }

    @Test func negotiate_whenUnsupportedAnswerLacksApiVersions_retriesWithV0() async throws {
        let broker = ApiVersionsOnlyBroker(table: [entry(.metadata, 0 ... 1)], highestAccepted: 0)
        let connection = try await connect(broker)
        _ = try await connection.negotiate()
        #expect(broker.seen.withLock { $0 } == [3, 0])
    }

    @Test func negotiate_whenBrokerKeepsRefusing_throwsNegotiationError() async throws {
        // Advertises ApiVersions up to 3 but refuses everything above 1: the one retry (v3 again
        // would not be lower) is not attempted, and the error names the broker.
        let broker = ApiVersionsOnlyBroker(table: [entry(.apiVersions, 0 ... 3)], highestAccepted: 1)
        let connection = try await connect(broker)
        await #expect(throws: NegotiationError.self) { _ = try await connection.negotiate() }
        #expect(broker.seen.withLock { $0 } == [3])
    }

    @Test func maxVersions_capsTheChosenVersion() async throws {
        let broker = ApiVersionsOnlyBroker(table: [entry(.apiVersions, 0 ... 4), entry(.fetch, 0 ... 17)])
        let connection = try await connect(broker, maxVersions: [.fetch: 12])
        _ = try await connection.negotiate()
        #expect(try connection.version(for: FetchRequest.self) == 12)
    }

    @Test func negotiate_concurrentFirstUses_shareOneExchange() async throws {
        let broker = ApiVersionsOnlyBroker(table: [entry(.apiVersions, 0 ... 4)], delayNanoseconds: 20_000_000)
        let connection = try await connect(broker)
        try await withThrowingTaskGroup(of: BrokerApiVersions.self) { group in
            for _ in 0 ..< 8 { group.addTask { try await connection.negotiate() } }
            for try await versions in group { #expect(versions.range(for: .apiVersions) == 0 ... 4) }
        }
        #expect(broker.seen.withLock { $0 } == [3])
    }

    @Test func brokerApiVersions_ignoresMalformedEntries() {
        let versions = BrokerApiVersions([.init(apiKey: 0, minVersion: 5, maxVersion: 2), .init(apiKey: -3, minVersion: 0, maxVersion: 1),
                                          .init(apiKey: 500, minVersion: 0, maxVersion: 1), entry(.fetch, 0 ... 3)])
        #expect(versions.range(for: .produce) == nil)
        #expect(versions.range(forKey: 500) == 0 ... 1)
        #expect(versions.version(for: .fetch, clientRange: 0 ... 17) == 3)
        #expect(versions.version(for: .fetch, clientRange: 4 ... 17) == nil)
    }
}
