import NIOCore
import NIOPosix
import RivuletWire
import Synchronization
import Testing
@testable import RivuletTransport

/// The client side: TCPTransport against TCPServer and against hand-made misbehaving servers.
@Suite struct TCPTransportTests {
    @Test func send_roundTripsTypedRequests() async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker)
        let connection = try await TCPTransport().connect(to: server.localAddress, clientId: "typed")
        let versions = try await connection.send(SampleRequests.apiVersions, version: 3)
        #expect(versions.errorCode == 0)
        #expect(versions.apiKeys == ApiVersionsResponse.supportedApiKeys())
        let metadata = try await connection.send(SampleRequests.metadata, version: 12)
        #expect(metadata.clusterId == "fake-cluster")
        let produce = try await connection.send(SampleRequests.produce, version: 9)
        #expect(produce.responses.map(\.name) == ["orders", "payments"])
        #expect(broker.seen.map(\.version) == [3, 12, 9])
        #expect(broker.seen.allSatisfy { $0.clientId == "typed" })
        await connection.close()
        await server.close()
    }

    @Test func enqueue_pipelinesFromOneTask_andKeepsTheOrder() async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker)
        let connection = try await TCPTransport().connect(to: server.localAddress, clientId: "pipeline")
        var futures: [ResponseFuture<KafkaResponseBody?>] = []
        for _ in 0 ..< 500 { futures.append(connection.enqueue(SampleRequests.produce, version: 7, expectResponse: true)) }
        for (index, future) in futures.enumerated() {
            guard case let .produce(produce)? = try await future.value else {
                Issue.record("not a produce response")
                return
            }
            #expect(produce.responses.first?.partitionResponses.first?.baseOffset == Int64(index))
        }
        #expect(broker.seen.map(\.correlationId) == Array(1 ... 500))
        await connection.close()
        await server.close()
    }

    @Test func enqueue_fromManyTasksAtOnce_answersEveryRequest() async throws {
        let server = try await TestServer.start(FakeBroker())
        let connection = try await TCPTransport().connect(to: server.localAddress, clientId: "concurrent")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0 ..< 8 {
                group.addTask {
                    for _ in 0 ..< 50 { _ = try await connection.send(SampleRequests.metadata, version: 4) }
                }
            }
            try await group.waitForAll()
        }
        await connection.close()
        await server.close()
    }

    @Test func acksZeroSend_completesWithoutAResponse_andLaterResponsesStillMatch() async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker)
        let connection = try await TCPTransport().connect(to: server.localAddress, clientId: "acks0")
        var acksZero = SampleRequests.produce
        acksZero.acks = 0
        for _ in 0 ..< 10 { try await connection.sendWithoutResponse(acksZero, version: 7) }
        let metadata = try await connection.send(SampleRequests.metadata, version: 4)
        #expect(metadata.topics.count == 2)
        #expect(broker.seen.count == 11)
        await connection.close()
        await server.close()
    }

    @Test func largeFetchResponse_arrivesWhole() async throws {
        let records = ByteBuffer(bytes: (0 ..< 3_000_000).map { UInt8(truncatingIfNeeded: $0) })
        let server = try await TestServer.start(FakeBroker(fetchRecords: records))
        let connection = try await TCPTransport().connect(to: server.localAddress, clientId: "big")
        let fetch = try await connection.send(SampleRequests.fetch, version: 13)
        #expect(fetch.responses.first?.partitions.first?.records == records)
        let fetch4 = try await connection.send(SampleRequests.fetch, version: 4)
        #expect(fetch4.responses.first?.partitions.first?.records == records)
        await connection.close()
        await server.close()
    }

    @Test func connect_whenNothingListens_throwsNotConnected() async throws {
        // Bind and close a server to get a port that is very likely free.
        let server = try await TestServer.start(FakeBroker())
        let address = server.localAddress
        await server.close()
        await #expect {
            _ = try await TCPTransport(config: TCPTransportConfig(connectTimeoutMs: 2_000)).connect(to: address, clientId: nil)
        } throws: { error in
            if case TransportError.notConnected(address, _) = error { true } else { false }
        }
    }

    @Test func requestTimeout_failsTheRequest_closesTheConnection_andFailsTheOthers() async throws {
        let server = try await TestServer.start(FakeBroker())
        let transport = TCPTransport(config: TCPTransportConfig(requestTimeoutMs: 200))
        let connection = try await transport.connectTCP(to: server.localAddress, clientId: "slow-2000")
        let started = ContinuousClock.now
        let first = connection.enqueue(SampleRequests.metadata, version: 4, expectResponse: true)
        let second = connection.enqueue(SampleRequests.metadata, version: 4, expectResponse: true)
        await #expect { _ = try await first.value } throws: { error in
            if case TransportError.timedOut(_, 200) = error { true } else { false }
        }
        #expect(ContinuousClock.now - started < .milliseconds(1500))
        await #expect { _ = try await second.value } throws: { error in
            if case TransportError.connectionClosed = error { true } else { false }
        }
        #expect(connection.isClosed)
        await #expect(throws: TransportError.self) { _ = try await connection.send(SampleRequests.metadata, version: 4) }
        await server.close()
    }

    @Test func serverClosingTheConnection_failsPendingRequestsWithConnectionClosed() async throws {
        let server = try await TestServer.start(FakeBroker(), configure: { $0.shutdownTimeoutMs = 100 })
        let connection = try await TCPTransport().connectTCP(to: server.localAddress, clientId: "slow-3000")
        let pending = connection.enqueue(SampleRequests.metadata, version: 4, expectResponse: true)
        try await Task.sleep(nanoseconds: 50_000_000)
        await server.close()
        await #expect { _ = try await pending.value } throws: { error in
            if case TransportError.connectionClosed = error { true } else { false }
        }
        #expect(connection.isClosed)
    }

    @Test func closingTheConnection_failsPendingRequests_andLaterEnqueues() async throws {
        let server = try await TestServer.start(FakeBroker())
        let connection = try await TCPTransport().connect(to: server.localAddress, clientId: "slow-2000")
        let pending = connection.enqueue(SampleRequests.metadata, version: 4, expectResponse: true)
        await connection.close()
        await #expect(throws: TransportError.self) { _ = try await pending.value }
        await #expect(throws: TransportError.self) {
            _ = try await connection.enqueue(SampleRequests.metadata, version: 4, expectResponse: true).value
        }
        await server.close()
    }

    @Test func responseWithAnUnexpectedCorrelationId_closesTheConnection() async throws {
        // A server that answers every request with correlation id 12345.
        let server = try await StubServer.start { frame in
            var out = ByteBuffer()
            out.writeInteger(Int32(4 + 2 + 4 + 1 + 4))
            out.writeInteger(Int32(12345))
            // A Metadata v4 body would follow; never read.
            out.writeBytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            _ = frame
            return out
        }
        let connection = try await TCPTransport().connectTCP(to: server.address, clientId: "c")
        await #expect { _ = try await connection.send(SampleRequests.metadata, version: 4) } throws: { error in
            if case TransportError.malformedResponse = error { true } else { false }
        }
        #expect(connection.isClosed)
        await server.close()
    }

    @Test func undecodableBody_failsOnlyThatRequest() async throws {
        // Answers the first request with a truncated body and the rest properly.
        let count = Mutex(0)
        let server = try await StubServer.start { frame in
            var request = frame
            guard case let .request(header, body) = try? KafkaRequestDecoder.decode(frame: request) else { return nil }
            request.moveReaderIndex(to: request.writerIndex)
            let n = count.withLock { value -> Int in
                value += 1
                return value
            }
            if n == 1 { return KafkaResponseEncoder.genericErrorFrame(correlationId: header.correlationId) }
            let answer = KafkaResponseEncoder.errorBody(for: body.apiKey, errorCode: 0)
            return KafkaResponseEncoder.frame(answer, correlationId: header.correlationId, apiVersion: header.apiVersion)
        }
        let connection = try await TCPTransport().connectTCP(to: server.address, clientId: "c")
        await #expect { _ = try await connection.send(SampleRequests.metadata, version: 4) } throws: { error in
            if case TransportError.malformedResponse = error { true } else { false }
        }
        _ = try await connection.send(SampleRequests.metadata, version: 4)
        #expect(!connection.isClosed)
        await connection.close()
        await server.close()
    }

    @Test func responseLargerThanResponseMaxBytes_closesTheConnection() async throws {
        let server = try await StubServer.start { _ in ByteBuffer(bytes: [0x01, 0x00, 0x00, 0x00]) }  // 16 MiB announced
        let transport = TCPTransport(config: TCPTransportConfig(responseMaxBytes: 1 << 20))
        let connection = try await transport.connectTCP(to: server.address, clientId: "c")
        await #expect { _ = try await connection.send(SampleRequests.metadata, version: 4) } throws: { error in
            if case TransportError.malformedResponse = error { true } else { false }
        }
        #expect(connection.isClosed)
        await server.close()
    }
}

/// A server that answers each request frame with whatever `answer` returns (nil: nothing).
final class StubServer: Sendable {
    let channel: any Channel
    let address: BrokerAddress

    private init(channel: any Channel, address: BrokerAddress) {
        self.channel = channel
        self.address = address
    }

    private final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answer: @Sendable (ByteBuffer) -> ByteBuffer?
        init(answer: @escaping @Sendable (ByteBuffer) -> ByteBuffer?) { self.answer = answer }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let out = answer(unwrapInboundIn(data)) { context.writeAndFlush(wrapOutboundOut(out), promise: nil) }
        }
    }

    static func start(answer: @escaping @Sendable (ByteBuffer) -> ByteBuffer?) async throws -> StubServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1 << 20)))
                    try channel.pipeline.syncOperations.addHandler(Handler(answer: answer))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return StubServer(channel: channel, address: BrokerAddress(host: "127.0.0.1", port: channel.localAddress?.port ?? 0))
    }

    func close() async {
        try? await channel.close()
    }
}
