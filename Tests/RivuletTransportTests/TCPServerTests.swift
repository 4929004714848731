import NIOCore
import NIOPosix
import RivuletWire
import Synchronization
import Testing
@testable import RivuletTransport

/// The server over real sockets on 127.0.0.1 (free ports), with a fake broker behind it.
@Suite struct TCPServerTests {
    @Test func request_overRawSocket_getsTheResponseWithItsCorrelationId() async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker)
        let client = try await RawClient.connect(server.localAddress)
        try await client.send(TestServer.requestFrame(SampleRequests.metadata, version: 9, correlationId: 77))
        var frame = try #require(await client.readFrame())
        let header = try ResponseHeader(from: &frame, apiKey: .metadata, apiVersion: 9)
        #expect(header.correlationId == 77)
        let metadata = try MetadataResponse(from: &frame, version: 9)
        #expect(frame.readableBytes == 0)
        #expect(metadata.topics.map(\.name) == ["orders", "payments"])
        #expect(broker.seen.first?.clientId == "raw")
        #expect(broker.seen.first?.version == 9)
        await client.close()
        await server.close()
    }

    static let executions: [RequestExecution] = [.default, .eventLoop(requestBytesMax: 0), .concurrencyPool]

    @Test(arguments: executions)
    func pipelinedRequests_areHandledOneAtATimeInOrder_andAnsweredInOrder(execution: RequestExecution) async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker, configure: { $0.requestExecution = execution })
        let client = try await RawClient.connect(server.localAddress)
        // 200 Produce requests in one write.
        var all = ByteBuffer()
        for id in 1 ... 200 {
            var frame = TestServer.requestFrame(SampleRequests.produce, version: 7, correlationId: Int32(id))
            all.writeBuffer(&frame)
        }
        try await client.send(all)
        for id in 1 ... 200 {
            var frame = try #require(await client.readFrame())
            let header = try ResponseHeader(from: &frame, apiKey: .produce, apiVersion: 7)
            #expect(header.correlationId == Int32(id))
            let produce = try ProduceResponse(from: &frame, version: 7)
            #expect(produce.responses.first?.partitionResponses.first?.baseOffset == Int64(id - 1))
        }
        #expect(broker.maxActivePerConnection == 1)
        #expect(broker.seen.map(\.correlationId) == Array(1 ... 200))
        await client.close()
        await server.close()
    }

    @Test func byteStream_dripFedOneByteAtATime_isStillServed() async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker)
        let client = try await RawClient.connect(server.localAddress)
        var bytes = TestServer.requestFrame(SampleRequests.apiVersions, version: 3, correlationId: 1)
        var second = TestServer.requestFrame(SampleRequests.metadata, version: 1, correlationId: 2)
        bytes.writeBuffer(&second)
        for byte in bytes.readableBytesView { try await client.send([byte]) }
        var first = try #require(await client.readFrame())
        #expect(try ResponseHeader(from: &first, apiKey: .apiVersions, apiVersion: 3).correlationId == 1)
        let versions = try ApiVersionsResponse(from: &first, version: 3)
        #expect(versions.errorCode == 0)
        var next = try #require(await client.readFrame())
        #expect(try ResponseHeader(from: &next, apiKey: .metadata, apiVersion: 1).correlationId == 2)
        await client.close()
        await server.close()
    }

    @Test(arguments: executions)
    func slowConnection_doesNotDelayAnotherConnection(execution: RequestExecution) async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker, configure: { $0.requestExecution = execution })
        let transport = TCPTransport()
        let slow = try await transport.connect(to: server.localAddress, clientId: "slow-1500")
        let fast = try await transport.connect(to: server.localAddress, clientId: "fast")
        let slowAnswer = slow.enqueue(SampleRequests.metadata, version: 4, expectResponse: true)
        try await Task.sleep(nanoseconds: 50_000_000)
        let started = ContinuousClock.now
        for _ in 0 ..< 5 { _ = try await fast.send(SampleRequests.metadata, version: 4) }
        #expect(ContinuousClock.now - started < .milliseconds(1000))
        #expect(!slowAnswer.isComplete)
        _ = try await slowAnswer.value
        await slow.close()
        await fast.close()
        await server.close()
    }

    @Test func largeRequestThatComputes_runsOffTheEventLoop_soTheLoopsOtherConnectionsFlow() async throws {
        // One event loop for every connection: a large request handled on it would hold up the others.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await TestServer.start(FakeBroker(), configure: { $0.requestExecution = .eventLoop(requestBytesMax: 65_536) },
                                                group: group)
        let transport = TCPTransport()
        let heavy = try await transport.connect(to: server.localAddress, clientId: "busy-800")
        let light = try await transport.connect(to: server.localAddress, clientId: "light")
        let records = ByteBuffer(bytes: [UInt8](repeating: 1, count: 200_000))
        let large = ProduceRequest(acks: 1, timeoutMs: 1_000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: records)])])
        let heavyAnswer = heavy.enqueue(large, version: 9, expectResponse: true)
        try await Task.sleep(nanoseconds: 100_000_000)
        let started = ContinuousClock.now
        for _ in 0 ..< 5 { _ = try await light.send(SampleRequests.metadata, version: 4) }
        #expect(ContinuousClock.now - started < .milliseconds(500))
        _ = try await heavyAnswer.value
        await heavy.close()
        await light.close()
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func produceWithAcksZero_getsNoResponse_andTheNextRequestIsAnsweredWithItsOwnId() async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker)
        let client = try await RawClient.connect(server.localAddress)
        var acksZero = SampleRequests.produce
        acksZero.acks = 0
        var bytes = TestServer.requestFrame(acksZero, version: 7, correlationId: 1)
        var metadata = TestServer.requestFrame(SampleRequests.metadata, version: 4, correlationId: 2)
        bytes.writeBuffer(&metadata)
        try await client.send(bytes)
        var frame = try #require(await client.readFrame())
        #expect(try ResponseHeader(from: &frame, apiKey: .metadata, apiVersion: 4).correlationId == 2)
        #expect(broker.seen.map(\.api) == [.produce, .metadata])
        await client.close()
        await server.close()
    }

    @Test func malformedBody_getsInvalidRequest_andTheConnectionStaysUsable() async throws {
        let server = try await TestServer.start(FakeBroker())
        let client = try await RawClient.connect(server.localAddress)
        var body = ByteBuffer()
        RequestHeader(apiKey: .createTopics, apiVersion: 4, correlationId: 31, clientId: "c").encode(into: &body)
        body.writeInteger(Int32(1_000))  // 1000 topics announced, none follow
        var frame = ByteBuffer()
        frame.writeInteger(Int32(body.readableBytes))
        frame.writeBuffer(&body)
        try await client.send(frame)
        var answer = try #require(await client.readFrame())
        #expect(try ResponseHeader(from: &answer, apiKey: .createTopics, apiVersion: 4).correlationId == 31)
        #expect(try CreateTopicsResponse(from: &answer, version: 4) == CreateTopicsResponse.errorResponse(.invalidRequest))
        try await client.send(TestServer.requestFrame(SampleRequests.metadata, version: 4, correlationId: 32))
        var next = try #require(await client.readFrame())
        #expect(try ResponseHeader(from: &next, apiKey: .metadata, apiVersion: 4).correlationId == 32)
        await client.close()
        await server.close()
    }

    @Test func unknownApiKeyAndUnsupportedVersion_getAnErrorFrame_andTheConnectionStaysUsable() async throws {
        let server = try await TestServer.start(FakeBroker())
        let client = try await RawClient.connect(server.localAddress)
        for (key, version, id) in [(Int16(999), Int16(0), Int32(5)), (ApiKey.fetch.rawValue, Int16(42), Int32(6))] {
            var body = ByteBuffer()
            // The header version follows the API's flexible versions (v2 for Fetch v42, v1 for an unknown key).
            RequestHeader(apiKey: key, apiVersion: version, correlationId: id, clientId: "c").encode(into: &body)
            var frame = ByteBuffer()
            frame.writeInteger(Int32(body.readableBytes))
            frame.writeBuffer(&body)
            try await client.send(frame)
            var answer = try #require(await client.readFrame())
            #expect(answer.readInteger(as: Int32.self) == id)
            #expect(answer.readInteger(as: Int16.self) == KafkaErrorCode.unsupportedVersion.rawValue)
        }
        try await client.send(TestServer.requestFrame(SampleRequests.apiVersions, version: 3, correlationId: 7))
        var next = try #require(await client.readFrame())
        #expect(try ResponseHeader(from: &next, apiKey: .apiVersions, apiVersion: 3).correlationId == 7)
        await client.close()
        await server.close()
    }

    @Test func apiVersionsAboveOurRange_getsAV0UnsupportedVersionAnswerWithTheHandlersTable() async throws {
        let server = try await TestServer.start(FakeBroker())
        let client = try await RawClient.connect(server.localAddress)
        var body = ByteBuffer()
        RequestHeader(apiKey: .apiVersions, apiVersion: 127, correlationId: 3, clientId: "future").encode(into: &body)
        body.writeBytes([0x09, 0x08, 0x00])  // a body from the future
        var frame = ByteBuffer()
        frame.writeInteger(Int32(body.readableBytes))
        frame.writeBuffer(&body)
        try await client.send(frame)
        var answer = try #require(await client.readFrame())
        #expect(try ResponseHeader(from: &answer, version: 0).correlationId == 3)
        let versions = try ApiVersionsResponse(from: &answer, version: 0)
        #expect(answer.readableBytes == 0)
        #expect(versions.errorCode == KafkaErrorCode.unsupportedVersion.rawValue)
        #expect(versions.apiKeys == ApiVersionsResponse.supportedApiKeys())
        await client.close()
        await server.close()
    }

    @Test func apiVersionsV3Answer_hasAnEmptyTaggedSection_forLibrdkafka202() async throws {
        let server = try await TestServer.start(FakeBroker())
        let client = try await RawClient.connect(server.localAddress)
        try await client.send(TestServer.requestFrame(SampleRequests.apiVersions, version: 3, correlationId: 1))
        let answer = try #require(await client.readFrame())
        // v0 header (no tags), then the body; the body's last byte is the empty top-level tag section
        // after throttleTimeMs.
        #expect(answer.getInteger(at: answer.writerIndex - 1, as: UInt8.self) == 0)
        #expect(answer.getInteger(at: answer.writerIndex - 5, as: Int32.self) == 0)
        var copy = answer
        _ = try ResponseHeader(from: &copy, version: 0)
        _ = try ApiVersionsResponse(from: &copy, version: 3)
        #expect(copy.readableBytes == 0)
        await client.close()
        await server.close()
    }

    @Test func unreadableHeader_closesTheConnection_andTheServerKeepsServing() async throws {
        let server = try await TestServer.start(FakeBroker())
        let bad = try await RawClient.connect(server.localAddress)
        try await bad.send([0, 0, 0, 3, 0, 1, 2])
        #expect(await bad.waitClosed())
        let good = try await RawClient.connect(server.localAddress)
        try await good.send(TestServer.requestFrame(SampleRequests.metadata, version: 4, correlationId: 1))
        #expect(await good.readFrame() != nil)
        await good.close()
        await server.close()
    }

    @Test func sizePrefixAboveSocketRequestMaxBytes_closesTheConnectionWithoutWaitingForTheBytes() async throws {
        let metrics = TestMetrics()
        let server = try await TestServer.start(FakeBroker(), configure: { $0.socketRequestMaxBytes = 1_000 }, metrics: metrics)
        let client = try await RawClient.connect(server.localAddress)
        try await client.send([0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3])  // 2 GiB announced
        #expect(await client.waitClosed())
        #expect(metrics.value("rivulet_connections_closed_total", [("reason", "frame_too_large")]) == 1)
        // Exactly the limit is fine.
        let ok = try await RawClient.connect(server.localAddress)
        var frame = TestServer.requestFrame(SampleRequests.produce, version: 7, correlationId: 1)
        #expect(frame.readableBytes - 4 < 1_000)
        try await ok.send(frame)
        #expect(await ok.readFrame() != nil)
        frame = ByteBuffer()
        await ok.close()
        await server.close()
    }

    @Test func connectionsBeyondMaxConnections_areClosed() async throws {
        let metrics = TestMetrics()
        let server = try await TestServer.start(FakeBroker(), configure: { $0.connectionsMax = 2 }, metrics: metrics)
        let first = try await RawClient.connect(server.localAddress)
        let second = try await RawClient.connect(server.localAddress)
        try await first.send(TestServer.requestFrame(SampleRequests.metadata, version: 4, correlationId: 1))
        try await second.send(TestServer.requestFrame(SampleRequests.metadata, version: 4, correlationId: 1))
        #expect(await first.readFrame() != nil)
        #expect(await second.readFrame() != nil)
        let third = try await RawClient.connect(server.localAddress)
        #expect(await third.waitClosed())
        #expect(metrics.value("rivulet_connections_rejected_total", [("reason", "connections_max")]) == 1)
        // A slot frees up when a connection closes.
        await first.close()
        for _ in 0 ..< 200 where server.connectionCount > 1 { try await Task.sleep(nanoseconds: 5_000_000) }
        let fourth = try await RawClient.connect(server.localAddress)
        try await fourth.send(TestServer.requestFrame(SampleRequests.metadata, version: 4, correlationId: 1))
        #expect(await fourth.readFrame() != nil)
        await second.close()
        await fourth.close()
        await server.close()
    }

    @Test func idleConnection_isClosedAfterConnectionsMaxIdleMs_butABusyOneIsNot() async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker, configure: { $0.connectionsMaxIdleMs = 300 })
        let started = ContinuousClock.now
        let idle = try await RawClient.connect(server.localAddress)
        #expect(await idle.waitClosed(timeoutMs: 5_000))
        #expect(ContinuousClock.now - started >= .milliseconds(250))
        // A request that takes three idle periods keeps its connection open. On a starved machine the
        // connection can go idle before the first request is even sent; such an attempt is retried.
        var answered = false
        for _ in 0 ..< 3 where !answered {
            let busy = try await RawClient.connect(server.localAddress)
            try await busy.send(TestServer.requestFrame(SampleRequests.metadata, version: 4, correlationId: 1))
            guard await busy.readFrame() != nil else { continue }
            try await busy.send(TestServer.requestFrame(SampleRequests.metadata, version: 4, correlationId: 2, clientId: "slow-900"))
            answered = await busy.readFrame() != nil
            await busy.close()
        }
        #expect(answered)
        await server.close()
        for _ in 0 ..< 200 where broker.closedConnections.count < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
        #expect(broker.closedConnections.count >= 2)
    }

    @Test func close_letsTheRequestInProgressFinishAndFlush_thenClosesConnections() async throws {
        let broker = FakeBroker()
        let server = try await TestServer.start(broker)
        let client = try await RawClient.connect(server.localAddress)
        try await client.send(TestServer.requestFrame(SampleRequests.metadata, version: 4, correlationId: 9, clientId: "slow-300"))
        for _ in 0 ..< 200 where broker.seen.isEmpty { try await Task.sleep(nanoseconds: 5_000_000) }
        await server.close()
        var frame = try #require(await client.readFrame())
        #expect(try ResponseHeader(from: &frame, apiKey: .metadata, apiVersion: 4).correlationId == 9)
        #expect(await client.waitClosed())
        #expect(server.connectionCount == 0)
        await #expect(throws: (any Error).self) { _ = try await RawClient.connect(server.localAddress) }
    }

    @Test func metrics_countRequestsBytesAndLatencyPerApi() async throws {
        let metrics = TestMetrics()
        let server = try await TestServer.start(FakeBroker(), metrics: metrics)
        let connection = try await TCPTransport().connect(to: server.localAddress, clientId: "m")
        for _ in 0 ..< 3 { _ = try await connection.send(SampleRequests.metadata, version: 4) }
        _ = try await connection.send(SampleRequests.produce, version: 7)
        #expect(metrics.value("rivulet_requests_total", [("api", "Metadata")]) == 3)
        #expect(metrics.value("rivulet_requests_total", [("api", "Produce")]) == 1)
        #expect(metrics.sampleCount("rivulet_request_duration_seconds", [("api", "Metadata")]) == 3)
        let produceBytes = TestServer.requestFrame(SampleRequests.produce, version: 7, correlationId: 1, clientId: "m").readableBytes
        #expect(metrics.value("rivulet_bytes_in_total", [("api", "Produce")]) == Int64(produceBytes))
        #expect(metrics.value("rivulet_bytes_out_total", [("api", "Metadata")]) > 0)
        #expect(metrics.value("rivulet_connections") == 1)
        await connection.close()
        await server.close()
    }

    @Test func start_whenPortIsTaken_throwsBindFailed() async throws {
        let server = try await TestServer.start(FakeBroker())
        await #expect(throws: TCPServerError.self) {
            _ = try await TestServer.start(FakeBroker(), configure: { $0.listenAddress = server.localAddress })
        }
        await server.close()
    }
}
