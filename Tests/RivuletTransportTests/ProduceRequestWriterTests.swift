import NIOCore
import RivuletCore
import RivuletWire
import Synchronization
import Testing
@testable import RivuletTransport

/// The zero-copy Produce writer produces the generated encoder's bytes, for every version, and the
/// client sends large batches through it intact.
@Suite struct ProduceRequestWriterTests {
    static func randomRequest(random: inout SeededGenerator) -> ProduceRequest {
        func records() -> ByteBuffer? {
            switch Int.random(in: 0 ..< 4, using: &random) {
            case 0: return nil
            case 1: return ByteBuffer(bytes: (0 ..< Int.random(in: 0 ..< 200, using: &random)).map { UInt8(truncatingIfNeeded: $0) })
            default:
                let size = Int.random(in: ProduceRequestWriter.separateRecordsBytesMin ..< 3 * ProduceRequestWriter.separateRecordsBytesMin,
                                      using: &random)
                return ByteBuffer(bytes: (0 ..< size).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            }
        }
        var request = ProduceRequest(transactionalId: Bool.random(using: &random) ? nil : "tx-\(Int.random(in: 0 ..< 9, using: &random))",
                                     acks: [0, 1, -1][Int.random(in: 0 ..< 3, using: &random)],
                                     timeoutMs: Int32.random(in: 0 ... 60_000, using: &random))
        for topic in 0 ..< Int.random(in: 0 ... 3, using: &random) {
            request.topicData.append(.init(name: "topic-\(topic)", partitionData: (0 ..< Int.random(in: 0 ... 3, using: &random)).map {
                .init(index: Int32($0), records: records())
            }))
        }
        return request
    }

    @Test func frame_matchesTheGeneratedEncoder_atEveryVersion() {
        var random = SeededGenerator(seed: 99)
        var segmented = 0
        for version in ProduceRequest.validVersions {
            for _ in 0 ..< 40 {
                let request = Self.randomRequest(random: &random)
                let clientId: String? = Bool.random(using: &random) ? nil : "client"
                let correlationId = Int32.random(in: .min ... .max, using: &random)
                let buffers = ProduceRequestWriter.frame(request, version: version, correlationId: correlationId, clientId: clientId)
                var joined = ByteBuffer()
                for var buffer in buffers { joined.writeBuffer(&buffer) }
                let expected = KafkaRequestEncoder.frame(.produce(request), version: version, correlationId: correlationId, clientId: clientId)
                #expect(joined == expected, "Produce v\(version)")
                #expect(buffers[0].getInteger(at: buffers[0].readerIndex + KafkaRequestEncoder.correlationIdOffset, as: Int32.self) == correlationId)
                if buffers.count > 1 { segmented += 1 }
            }
        }
        #expect(segmented > 100)
    }

    @Test func tcpTransport_sendsLargeBatchesIntact() async throws {
        let recorder = RecordingBroker()
        let server = try await TestServer.start(recorder)
        let connection = try await TCPTransport().connect(to: server.localAddress, clientId: "big-producer")
        let records = ByteBuffer(bytes: (0 ..< 1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let request = ProduceRequest(acks: 1, timeoutMs: 1_000,
                                     topicData: [.init(name: "t", partitionData: [.init(index: 0, records: records), .init(index: 1, records: records)])])
        for _ in 0 ..< 3 { _ = try await connection.send(request, version: 9) }
        #expect(recorder.produced.count == 3)
        #expect(recorder.produced.allSatisfy { $0 == request })
        await connection.close()
        await server.close()
    }
}

/// Keeps every Produce request it receives.
final class RecordingBroker: KafkaRequestHandler {
    private let requests = Mutex<[ProduceRequest]>([])
    var produced: [ProduceRequest] { requests.withLock { $0 } }

    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        guard case let .produce(produce) = request else {
            return KafkaResponseEncoder.errorBody(for: request.apiKey, errorCode: 0)
        }
        requests.withLock { $0.append(produce) }
        return .produce(ProduceResponse())
    }
}
