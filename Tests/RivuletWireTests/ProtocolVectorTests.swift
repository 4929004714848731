import NIOCore
import Testing
@testable import RivuletWire

/// Known byte vectors: request frames captured from kcat (librdkafka 2.0.2) and kafka-python 3.0.12,
/// and the responses those clients accepted from the capture stub (encoded by kafka-python). Requests
/// must decode to the expected values; responses built here must encode to the captured bytes.
@Suite struct ProtocolVectorTests {
    // MARK: Fixture access

    /// The `nth` captured frame of a scenario, without its size prefix.
    static func capture(_ scenario: String, request: Bool, _ api: ApiKey, version: Int16, nth: Int = 0) throws -> ByteBuffer {
        let frames = CapturedFrames.all.filter {
            $0.scenario == scenario && $0.isRequest == request && $0.apiKey == api.rawValue && $0.apiVersion == version
        }
        let frame = try #require(frames.dropFirst(nth).first, "no \(scenario) \(api) v\(version) frame")
        var buffer = Hex.buffer(frame.hex)
        let size = try buffer.readKafkaInteger(Int32.self, field: "size")
        try #require(Int(size) == buffer.readableBytes)
        return buffer
    }

    /// A captured request: its header and typed body (all bytes consumed).
    static func request<M: KafkaRequest>(_: M.Type, _ scenario: String, version: Int16, nth: Int = 0) throws -> (RequestHeader, M) {
        var buffer = try capture(scenario, request: true, M.apiKey, version: version, nth: nth)
        let header = try RequestHeader.decode(from: &buffer)
        let body = try M(from: &buffer, version: version)
        #expect(buffer.readableBytes == 0)
        return (header, body)
    }

    /// The body bytes of a captured request (after its header).
    static func requestBody(_ scenario: String, _ api: ApiKey, version: Int16) throws -> ByteBuffer {
        var buffer = try capture(scenario, request: true, api, version: version)
        _ = try RequestHeader.decode(from: &buffer)
        return buffer
    }

    /// The body bytes of a captured response (after its header).
    static func responseBody(_ scenario: String, _ api: ApiKey, version: Int16) throws -> ByteBuffer {
        var buffer = try capture(scenario, request: false, api, version: version)
        _ = try ResponseHeader(from: &buffer, apiKey: api, apiVersion: version)
        return buffer
    }

    /// The ApiVersions table the capture stub advertised: every API's full range, capped per scenario.
    static func advertised(caps: [ApiKey: Int16] = [:]) -> [ApiVersionsResponse.ApiVersion] {
        // The fixtures were captured before DeleteGroups (42) joined the table.
        ApiKey.allCases.filter { $0 != .deleteGroups }.map { api in
            ApiVersionsResponse.ApiVersion(apiKey: api.rawValue, minVersion: api.validVersions.lowerBound,
                                           maxVersion: min(api.validVersions.upperBound, caps[api] ?? .max))
        }
    }

    // MARK: ApiVersions

    @Test func apiVersionsV3Request_fromLibrdkafka() throws {
        let (header, body) = try Self.request(ApiVersionsRequest.self, "kcat-L", version: 3)
        #expect(header == RequestHeader(apiKey: .apiVersions, apiVersion: 3, correlationId: 1, clientId: "rivulet-fixture"))
        #expect(header.headerVersion == 2)
        #expect(body == ApiVersionsRequest(clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.0.2"))
        // compact "librdkafka", compact "2.0.2", empty tagged section.
        #expect(Hex.string(encoded(body, version: 3)) == "0b6c696272646b61666b6106322e302e3200")
    }

    @Test func apiVersionsV4Request_fromKafkaPython() throws {
        let (header, body) = try Self.request(ApiVersionsRequest.self, "kpy-metadata-v9", version: 4)
        #expect(header.headerVersion == 2)
        #expect(body == ApiVersionsRequest(clientSoftwareName: "kafka-python", clientSoftwareVersion: "3.0.12"))
    }

    @Test(arguments: ["kcat-apiversions-v0", "kpy-apiversions-v0"])
    func apiVersionsV0Request_afterUnsupportedVersion(scenario: String) throws {
        let (header, body) = try Self.request(ApiVersionsRequest.self, scenario, version: 0)
        #expect(header.headerVersion == 1)
        #expect(header.clientId == "rivulet-fixture")
        #expect(body == ApiVersionsRequest())
        #expect(encoded(body, version: 0).readableBytes == 0)
    }

    @Test func apiVersionsV3Response_matchesBytesLibrdkafkaAccepted() throws {
        let response = ApiVersionsResponse(errorCode: 0, apiKeys: Self.advertised(), throttleTimeMs: 0)
        let bytes = encoded(response, version: 3)
        #expect(bytes == (try Self.responseBody("kcat-L", .apiVersions, version: 3)))
        // Default tagged fields are not written: the body ends with an empty tagged section.
        #expect(bytes.getInteger(at: bytes.writerIndex - 1, as: UInt8.self) == 0)
        #expect(bytes.getInteger(at: bytes.writerIndex - 5, as: Int32.self) == 0)  // throttleTimeMs before it
    }

    @Test func apiVersionsV4Response_matchesBytesKafkaPythonAccepted() throws {
        let response = ApiVersionsResponse(errorCode: 0, apiKeys: Self.advertised(caps: [.metadata: 9]), throttleTimeMs: 0)
        #expect(encoded(response, version: 4) == (try Self.responseBody("kpy-metadata-v9", .apiVersions, version: 4)))
    }

    @Test(arguments: ["kcat-apiversions-v0", "kpy-apiversions-v0"])
    func apiVersionsV0ErrorResponse_isTheAnswerToAnUnsupportedVersion(scenario: String) throws {
        // Kafka answers an ApiVersions request above its range with a v0 body (header v0), error 35
        // and its full table; the clients then retry with a version they both know.
        let table = Self.advertised(caps: [.apiVersions: 0])
        let response = ApiVersionsResponse(errorCode: KafkaErrorCode.unsupportedVersion.rawValue, apiKeys: table)
        #expect(encoded(response, version: 0) == (try Self.responseBody(scenario, .apiVersions, version: 0)))
        #expect(ApiKey.apiVersions.responseHeaderVersion(apiVersion: 0) == 0)
    }

    @Test func apiVersionsV3Response_withDefaultTaggedFields_writesEmptyTaggedSection() {
        let response = ApiVersionsResponse(
            errorCode: 0, apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 4)], throttleTimeMs: 0)
        #expect(response.finalizedFeaturesEpoch == -1)
        #expect(response.zkMigrationReady == false)
        // error 0 | 1 element (compact 02): key 18, 0..4, no tags | throttle 0 | empty tagged section
        #expect(Hex.string(encoded(response, version: 3)) == "0000" + "02" + "0012000000040" + "0" + "00000000" + "00")
        #expect(Hex.string(encoded(response, version: 4)) == "0000" + "02" + "00120000000400" + "00000000" + "00")
    }

    @Test func apiVersionsV3Response_writesOnlyNonDefaultTagsInAscendingOrder() throws {
        var response = ApiVersionsResponse(errorCode: 0, apiKeys: [], throttleTimeMs: 0)
        response.zkMigrationReady = true
        response.finalizedFeaturesEpoch = 5
        // 2 tags: tag 1 (8 bytes) epoch 5, then tag 3 (1 byte) true. Features (tags 0, 2) stay empty.
        let bytes = encoded(response, version: 3)
        #expect(Hex.string(bytes) == "0000" + "01" + "00000000" + "02" + "0108" + "0000000000000005" + "030101")
        var reader = bytes
        #expect(try ApiVersionsResponse(from: &reader, version: 3) == response)
    }

    // MARK: Metadata

    @Test func metadataV1Requests_fromLibrdkafka() throws {
        // librdkafka first asks for brokers only (empty topic list), then for all topics (null).
        let (header, brokersOnly) = try Self.request(MetadataRequest.self, "kcat-metadata-v1", version: 1)
        #expect(header.headerVersion == 1)
        #expect(brokersOnly == MetadataRequest(topics: [], allowAutoTopicCreation: true))
        #expect(Hex.string(encoded(brokersOnly, version: 1)) == "00000000")
        let (_, allTopics) = try Self.request(MetadataRequest.self, "kcat-metadata-v1", version: 1, nth: 1)
        #expect(allTopics.topics == nil)
        #expect(Hex.string(encoded(allTopics, version: 1)) == "ffffffff")
    }

    @Test func metadataV9Request_fromKafkaPython() throws {
        let (header, body) = try Self.request(MetadataRequest.self, "kpy-metadata-v9", version: 9)
        #expect(header.headerVersion == 2)
        #expect(body == MetadataRequest(topics: [], allowAutoTopicCreation: true))
        // compact empty array, allow = true, two false flags, empty tagged section.
        #expect(Hex.string(encoded(body, version: 9)) == "0101000000")
    }

    /// The Metadata answer of the capture stub, on the stub's ephemeral `port`.
    static func stubMetadata(port: Int32) -> MetadataResponse {
        MetadataResponse(
            throttleTimeMs: 0,
            brokers: [.init(nodeId: 0, host: "127.0.0.1", port: port, rack: nil)],
            clusterId: "rivulet-fixture",
            controllerId: 0,
            topics: [.init(errorCode: 0, name: "test", isInternal: false, partitions: [
                .init(errorCode: 0, partitionIndex: 0, leaderId: 0, leaderEpoch: 0, replicaNodes: [0], isrNodes: [0]),
            ])])
    }

    @Test(arguments: [("kcat-metadata-v1", Int16(1)), ("kcat-L", 4), ("kpy-metadata-v9", 9), ("kpy-fetch-v12", 12)])
    func metadataResponse_matchesBytesTheClientAccepted(scenario: String, version: Int16) throws {
        let captured = try Self.responseBody(scenario, .metadata, version: version)
        var reader = captured
        let port = try #require(try MetadataResponse(from: &reader, version: version).brokers.first?.port)
        #expect(encoded(Self.stubMetadata(port: port), version: version) == captured)
    }

    // MARK: Produce

    @Test func produceV3Request_fromLibrdkafka_carriesOneRecordBatch() throws {
        let (header, body) = try Self.request(ProduceRequest.self, "kcat-produce-v3", version: 3)
        #expect(header.headerVersion == 1)
        #expect(body.transactionalId == nil)
        #expect(body.acks == -1)
        #expect(body.timeoutMs == 30000)
        let topic = try #require(body.topicData.first)
        #expect(body.topicData.count == 1 && topic.name == "test")
        let partition = try #require(topic.partitionData.first)
        #expect(partition.index == 0)
        let records = try #require(partition.records)
        let batches = try RecordBatchSequence(records).batches()
        let batch = try #require(batches.first)
        #expect(batches.count == 1)
        #expect(batch.header.magic == 2)
        #expect(batch.header.recordCount == 1)
        try batch.validateForProduce()
        // The single record ends with key "key", value "hello" and no headers.
        #expect(Hex.string(records).hasSuffix("066b65790a68656c6c6f00"))
    }

    @Test func produceV9Request_fromKafkaPython_carriesOneRecordBatch() throws {
        let (header, body) = try Self.request(ProduceRequest.self, "kpy-produce-v9", version: 9)
        #expect(header.headerVersion == 2)
        #expect(body.transactionalId == nil)
        #expect(body.acks == 1)
        #expect(body.timeoutMs == 5000)
        let records = try #require(body.topicData.first?.partitionData.first?.records)
        let batch = try #require(try RecordBatchSequence(records).batches().first)
        try batch.validateForProduce()
        #expect(batch.header.baseTimestamp == 1_700_000_000_000)
        #expect(Hex.string(records).hasSuffix("066b65790a76616c756500"))  // key "key", value "value"
    }

    @Test(arguments: [("kcat-produce-v3", Int16(3)), ("kpy-produce-v9", 9)])
    func produceResponse_matchesBytesTheClientAccepted(scenario: String, version: Int16) throws {
        let response = ProduceResponse(
            responses: [.init(name: "test", partitionResponses: [
                .init(index: 0, errorCode: 0, baseOffset: 0, logAppendTimeMs: -1, logStartOffset: 0),
            ])],
            throttleTimeMs: 0)
        #expect(encoded(response, version: version) == (try Self.responseBody(scenario, .produce, version: version)))
    }

    @Test func produceDecode_recordsShareTheFrameStorage() throws {
        let frame = try Self.capture("kpy-produce-v9", request: true, .produce, version: 9)
        var reader = frame
        _ = try RequestHeader.decode(from: &reader)
        let request = try ProduceRequest(from: &reader, version: 9)
        let records = try #require(request.topicData.first?.partitionData.first?.records)
        // The records' bytes lie inside the frame's own bytes: a slice of the request buffer, not a copy.
        let frameBytes = frame.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) ..< UInt(bitPattern: $0.baseAddress) + UInt($0.count) }
        let recordBytes = records.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) ..< UInt(bitPattern: $0.baseAddress) + UInt($0.count) }
        #expect(frameBytes.contains(recordBytes.lowerBound) && recordBytes.upperBound <= frameBytes.upperBound)
        // Only the partition's, the topic's and the request's empty tagged sections follow the records.
        #expect(recordBytes.upperBound == frameBytes.upperBound - 3)
        #expect(records.readableBytes == 76)
    }

    // MARK: Fetch

    @Test func fetchV4Request_fromLibrdkafka() throws {
        let (header, body) = try Self.request(FetchRequest.self, "kcat-fetch-v4", version: 4)
        #expect(header.headerVersion == 1)
        let expected = FetchRequest(
            replicaId: -1, maxWaitMs: 100, minBytes: 1, maxBytes: 52_428_800, isolationLevel: 1,
            topics: [.init(topic: "test", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1_048_576)])])
        #expect(body == expected)
        #expect(encoded(expected, version: 4) == (try Self.requestBody("kcat-fetch-v4", .fetch, version: 4)))
    }

    @Test func fetchV12Request_fromKafkaPython() throws {
        let (header, body) = try Self.request(FetchRequest.self, "kpy-fetch-v12", version: 12)
        #expect(header.headerVersion == 2)
        let expected = FetchRequest(
            replicaId: -1, maxWaitMs: 100, minBytes: 1, maxBytes: 52_428_800, isolationLevel: 0, sessionId: 0,
            sessionEpoch: 0,
            topics: [.init(topic: "test", partitions: [
                .init(partition: 0, currentLeaderEpoch: 0, fetchOffset: 0, lastFetchedEpoch: -1, logStartOffset: -1,
                      partitionMaxBytes: 1_048_576),
            ])],
            forgottenTopicsData: [], rackId: "")
        #expect(body == expected)
        #expect(encoded(expected, version: 12) == (try Self.requestBody("kpy-fetch-v12", .fetch, version: 12)))
    }

    @Test(arguments: [("kcat-fetch-v4", Int16(4)), ("kpy-fetch-v12", 12)])
    func fetchResponse_matchesBytesTheClientAccepted(scenario: String, version: Int16) throws {
        let response = FetchResponse(
            throttleTimeMs: 0, errorCode: 0, sessionId: 0,
            responses: [.init(topic: "test", partitions: [
                .init(partitionIndex: 0, errorCode: 0, highWatermark: 0, lastStableOffset: 0, logStartOffset: 0,
                      abortedTransactions: [], preferredReadReplica: -1, records: ByteBuffer()),
            ])])
        #expect(encoded(response, version: version) == (try Self.responseBody(scenario, .fetch, version: version)))
    }
}
