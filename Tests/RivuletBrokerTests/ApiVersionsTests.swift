import NIOCore
import RivuletBroker
import RivuletCore
import RivuletTransport
import RivuletWire
import Testing

/// What a request looks like after the TCP transport decoded it at `version`: fields the version
/// lacks are at their defaults.
func asReceived<Request: KafkaRequest>(_ request: Request, version: Int16) throws -> Request {
    var buffer = ByteBuffer()
    request.encode(into: &buffer, version: version)
    let decoded = try Request(from: &buffer, version: version)
    #expect(buffer.readableBytes == 0)
    return decoded
}

/// Encodes and decodes a response at `version`, as a client on TCP would read it.
func asSent<Response: KafkaResponse>(_ response: Response, version: Int16) throws -> Response {
    var buffer = ByteBuffer()
    response.encode(into: &buffer, version: version)
    let decoded = try Response(from: &buffer, version: version)
    #expect(buffer.readableBytes == 0)
    return decoded
}

@Suite("ApiVersions and every advertised version")
struct ApiVersionsTests {
    @Test("ApiVersions advertises exactly what the broker implements")
    func apiVersions_table() async throws {
        try await withBroker(.memory) { fixture in
            for version in Int16(0) ... 4 {
                let request = ApiVersionsRequest(clientSoftwareName: "rivulet-tests", clientSoftwareVersion: "1.0")
                let response = try asSent(try await fixture.send(try asReceived(request, version: version), version: version), version: version)
                #expect(response.errorCode == 0)
                let table = Dictionary(uniqueKeysWithValues: response.apiKeys.map { ($0.apiKey, $0.minVersion ... $0.maxVersion) })
                #expect(table[ApiKey.produce.rawValue] == 0 ... 11)
                #expect(table[ApiKey.fetch.rawValue] == 0 ... 17)
                #expect(table[ApiKey.listOffsets.rawValue] == 0 ... 10)
                #expect(table[ApiKey.metadata.rawValue] == 0 ... 12)
                #expect(table[ApiKey.initProducerId.rawValue] == 0 ... 5)
                #expect(table[ApiKey.findCoordinator.rawValue] == 0 ... 6)
                #expect(table[ApiKey.joinGroup.rawValue] == 0 ... 9, "the group coordinator's APIs")
                #expect(table[ApiKey.deleteGroups.rawValue] == 0 ... 3)
                #expect(response.supportedFeatures.isEmpty && response.finalizedFeaturesEpoch == -1 && !response.zkMigrationReady)
            }
            // A newer ApiVersions than the broker knows: UNSUPPORTED_VERSION with the table.
            let newer = try await fixture.connection.enqueue(ApiVersionsRequest(), version: 9, expectResponse: true).value
            let answer = try #require(newer.flatMap { ApiVersionsResponse(body: $0) })
            #expect(answer.errorCode == KafkaErrorCode.unsupportedVersion.code16)
            #expect(!answer.apiKeys.isEmpty)
            // v3+ software names must match Kafka's pattern.
            let bad = try await fixture.send(ApiVersionsRequest(clientSoftwareName: "-bad", clientSoftwareVersion: "1"), version: 3)
            #expect(bad.errorCode == KafkaErrorCode.invalidRequest.code16)
        }
    }

    @Test("requests for versions outside the table get UNSUPPORTED_VERSION in every partition")
    func unsupportedVersions() async throws {
        try await withBroker(.memory) { fixture in
            try await fixture.createTopic("t")
            let produce = try await fixture.connection.enqueue(ProduceRequest(acks: 1, timeoutMs: 100, topicData: [
                .init(name: "t", partitionData: [.init(index: 0, records: try makeBatch(count: 1))]),
            ]), version: 12, expectResponse: true).value
            let response = try #require(produce.flatMap { ProduceResponse(body: $0) })
            #expect(response.responses[0].partitionResponses[0].errorCode == KafkaErrorCode.unsupportedVersion.code16)
            let join = try await fixture.connection.enqueue(JoinGroupRequest(groupId: "g"), version: 10, expectResponse: true).value
            #expect(join.flatMap { JoinGroupResponse(body: $0) }?.errorCode == KafkaErrorCode.unsupportedVersion.code16)
            #expect(try fixture.partition("t").logEndOffset == 0)
        }
    }

    @Test("every version of every advertised API is answered as received over the wire")
    func everyVersion_isAnswered() async throws {
        try await withBroker(.memory) { fixture in
            let created = try await fixture.createTopic("all", partitions: 2)
            let broker = try fixture.broker
            func check<Request: KafkaRequest>(_ request: Request, _ versions: ClosedRange<Int16>? = nil,
                                              _ verify: (Request.Response, Int16) throws -> Void = { _, _ in }) async throws {
                let range = try #require(SupportedApiVersions.broker[Request.apiKey])
                if let versions { #expect(versions == range, "\(Request.apiKey)") }
                for version in range {
                    let received = try asReceived(request, version: version)
                    let response = try await fixture.send(received, version: version)
                    try verify(try asSent(response, version: version), version)
                }
            }
            var sequence: Int32 = 0
            for version in SupportedApiVersions.broker[.produce] ?? 0 ... 0 {
                let received = try asReceived(ProduceRequest(acks: -1, timeoutMs: 1000, topicData: [
                    .init(name: "all", partitionData: [.init(index: 0, records: try makeBatch(count: 1, prefix: "p\(version)"))]),
                ]), version: version)
                let response = try asSent(try await fixture.send(received, version: version), version: version)
                #expect(response.responses[0].partitionResponses[0].errorCode == 0, "Produce v\(version)")
                #expect(response.responses[0].partitionResponses[0].baseOffset == Int64(sequence))
                sequence += 1
            }
            try await check(FetchRequest(maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, topics: [
                .init(topic: "all", topicId: created.topicId, partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)]),
            ])) { response, version in
                #expect(response.responses[0].partitions[0].errorCode == 0, "Fetch v\(version)")
                let count = response.responses[0].partitions[0].records.map { RecordBatchSequence($0).reduce(0) { $0 + Int($1.header.recordCount) } }
                #expect(count == Int(sequence), "Fetch v\(version)")
            }
            try await check(ListOffsetsRequest(replicaId: -1, topics: [
                .init(name: "all", partitions: [.init(partitionIndex: 0, timestamp: -1, maxNumOffsets: 1)]),
            ])) { response, version in
                let partition = response.topics[0].partitions[0]
                #expect(partition.errorCode == 0)
                #expect(version == 0 ? partition.oldStyleOffsets == [Int64(sequence)] : partition.offset == Int64(sequence), "ListOffsets v\(version)")
            }
            try await check(MetadataRequest(topics: [.init(topicId: .zero, name: "all")], allowAutoTopicCreation: false)) { response, version in
                #expect(response.topics.first?.partitions.count == 2, "Metadata v\(version)")
                #expect(response.brokers.count == 1)
            }
            try await check(FindCoordinatorRequest(key: "group", keyType: 0, coordinatorKeys: ["group"])) { response, version in
                let code = version >= 4 ? response.coordinators.first?.errorCode : response.errorCode
                #expect(code == 0, "FindCoordinator v\(version): the broker coordinates every group")
            }
            var topicNumber = 0
            for version in SupportedApiVersions.broker[.createTopics] ?? 0 ... 0 {
                topicNumber += 1
                let received = try asReceived(CreateTopicsRequest(topics: [.init(name: "c\(topicNumber)", numPartitions: 1, replicationFactor: 1)]),
                                              version: version)
                let response = try asSent(try await fixture.send(received, version: version), version: version)
                #expect(response.topics[0].errorCode == 0, "CreateTopics v\(version)")
            }
            var deleted = 0
            for version in SupportedApiVersions.broker[.deleteTopics] ?? 0 ... 0 {
                deleted += 1
                let request = DeleteTopicsRequest(topics: [.init(name: "c\(deleted)", topicId: .zero)], topicNames: ["c\(deleted)"], timeoutMs: 100)
                let response = try asSent(try await fixture.send(try asReceived(request, version: version), version: version), version: version)
                #expect(response.responses.map(\.errorCode) == [0], "DeleteTopics v\(version)")
            }
            try await check(DeleteRecordsRequest(topics: [.init(name: "all", partitions: [.init(partitionIndex: 1, offset: 0)])])) { response, version in
                #expect(response.topics[0].partitions[0].errorCode == 0, "DeleteRecords v\(version)")
            }
            try await check(InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 1000)) { response, version in
                #expect(response.errorCode == 0 && response.producerId >= 0, "InitProducerId v\(version)")
            }
            try await check(OffsetForLeaderEpochRequest(replicaId: -1, topics: [
                .init(topic: "all", partitions: [.init(partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0)]),
            ])) { response, version in
                let partition = response.topics[0].partitions[0]
                #expect(partition.errorCode == 0, "OffsetForLeaderEpoch v\(version)")
                #expect(partition.endOffset == Int64(sequence), "OffsetForLeaderEpoch v\(version)")
            }
            try await check(DescribeConfigsRequest(resources: [.init(resourceType: 2, resourceName: "all", configurationKeys: nil)])) { response, version in
                #expect(response.results[0].errorCode == 0 && !response.results[0].configs.isEmpty, "DescribeConfigs v\(version)")
            }
            try await check(AlterConfigsRequest(resources: [.init(resourceType: 2, resourceName: "all", configs: [.init(name: "retention.ms", value: "-1")])],
                                                validateOnly: true)) { response, version in
                #expect(response.responses[0].errorCode == 0, "AlterConfigs v\(version)")
            }
            try await check(CreatePartitionsRequest(topics: [.init(name: "all", count: 3)], validateOnly: true)) { response, version in
                #expect(response.results[0].errorCode == 0, "CreatePartitions v\(version)")
            }
            try await check(DescribeClusterRequest()) { response, version in
                #expect(response.errorCode == 0 && response.brokers.count == 1, "DescribeCluster v\(version)")
                #expect(response.clusterId == broker.metadataCache.image.clusterId)
            }
        }
    }
}
