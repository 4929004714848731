import NIOCore
import Testing
@testable import RivuletWire

/// Headers, header-version rules, body enums, error wrapping, error responses, tagged-field edge
/// cases and the error-code table.
@Suite struct ProtocolMessageTests {
    // MARK: Header versions

    @Test(arguments: ApiKey.allCases)
    func requestHeaderVersion_isTwoExactlyWhenFlexible(api: ApiKey) {
        for version in api.validVersions {
            let flexible = api.firstFlexibleVersion.map { version >= $0 } ?? false
            #expect(api.requestHeaderVersion(apiVersion: version) == (flexible ? 2 : 1))
            #expect(RequestHeader.headerVersion(apiKey: api.rawValue, apiVersion: version) == (flexible ? 2 : 1))
            let responseVersion: Int16 = api == .apiVersions ? 0 : (flexible ? 1 : 0)
            #expect(api.responseHeaderVersion(apiVersion: version) == responseVersion)
        }
    }

    @Test func apiVersionsResponseHeader_isAlwaysVersionZero() {
        #expect(ApiVersionsResponse.responseHeaderVersion(apiVersion: 3) == 0)
        #expect(ApiVersionsResponse.responseHeaderVersion(apiVersion: 4) == 0)
        #expect(ApiVersionsRequest.requestHeaderVersion(apiVersion: 3) == 2)
        #expect(MetadataResponse.responseHeaderVersion(apiVersion: 9) == 1)
        #expect(ProduceRequest.requestHeaderVersion(apiVersion: 8) == 1)
        var buffer = ByteBuffer()
        ResponseHeader(correlationId: 7).encode(into: &buffer, apiKey: .apiVersions, apiVersion: 4)
        #expect(Hex.string(buffer) == "00000007")
        buffer.clear()
        ResponseHeader(correlationId: 7).encode(into: &buffer, apiKey: .fetch, apiVersion: 12)
        #expect(Hex.string(buffer) == "0000000700")
    }

    @Test func requestHeaderV2_keepsClientIdAsClassicString() throws {
        let header = RequestHeader(apiKey: .metadata, apiVersion: 12, correlationId: 7, clientId: "abc")
        var buffer = ByteBuffer()
        header.encode(into: &buffer)
        // key 3, version 12, correlation 7, int16-length "abc", empty tagged section.
        #expect(Hex.string(buffer) == "0003000c00000007000361626300")
        #expect(try RequestHeader.decode(from: &buffer) == header)
        #expect(buffer.readableBytes == 0)

        let v1 = RequestHeader(apiKey: .metadata, apiVersion: 8, correlationId: 7, clientId: nil)
        buffer.clear()
        v1.encode(into: &buffer)
        #expect(Hex.string(buffer) == "0003000800000007ffff")
        #expect(try RequestHeader.decode(from: &buffer) == v1)
    }

    @Test func requestHeader_newerApiVersionsVersion_isReadAsFlexibleHeader() throws {
        // A newer client's ApiVersions v5 still has a v2 header; the body is then unsupported.
        var buffer = Hex.buffer("0012 0005 00000001 0003 616263 00")
        let header = try RequestHeader.decode(from: &buffer)
        #expect(header.apiVersion == 5 && header.clientId == "abc" && header.headerVersion == 2)
        #expect(buffer.readableBytes == 0)
        #expect(throws: WireError.unsupportedVersion(apiKey: 18, version: 5)) {
            try KafkaRequestBody.decode(apiKey: header.apiKey, version: header.apiVersion, from: &buffer)
        }
    }

    @Test func requestHeader_unknownApiKey_isReadAsVersionOne() throws {
        var buffer = Hex.buffer("03e8 0007 00000009 ffff 00")
        let header = try RequestHeader.decode(from: &buffer)
        #expect(header == RequestHeader(apiKey: 1000, apiVersion: 7, correlationId: 9, clientId: nil))
        #expect(header.api == nil)
        #expect(buffer.readableBytes == 1)  // No tagged section read for an unknown API.
        #expect(throws: WireError.unsupportedVersion(apiKey: 1000, version: 7)) {
            try KafkaRequestBody.decode(apiKey: header.apiKey, version: header.apiVersion, from: &buffer)
        }
    }

    @Test func requestHeader_truncatedOrUnknownTags() throws {
        var short = Hex.buffer("0012 00")
        #expect(throws: WireError.truncated(field: "RequestHeader.apiKey", needed: 4, available: 3)) {
            try RequestHeader.decode(from: &short)
        }
        var noClientId = Hex.buffer("0003 0001 00000001 00")
        #expect(throws: WireError.self) { try RequestHeader.decode(from: &noClientId) }
        // Unknown header tags are skipped.
        var tagged = Hex.buffer("0003 000c 00000001 ffff 01 05 02 abcd")
        let header = try RequestHeader.decode(from: &tagged)
        #expect(header.clientId == nil && tagged.readableBytes == 0)
    }

    // MARK: Body enums and errors

    @Test func bodyDecode_rejectsVersionsOutsideTheValidRange() {
        for api in ApiKey.allCases {
            for version in [api.validVersions.lowerBound - 1, api.validVersions.upperBound + 1] {
                var empty = ByteBuffer()
                #expect(throws: WireError.unsupportedVersion(apiKey: api.rawValue, version: version)) {
                    try KafkaRequestBody.decode(apiKey: api.rawValue, version: version, from: &empty)
                }
                #expect(throws: WireError.unsupportedVersion(apiKey: api.rawValue, version: version)) {
                    try KafkaResponseBody.decode(apiKey: api.rawValue, version: version, from: &empty)
                }
            }
        }
    }

    @Test func decodeErrors_nameTheApiVersionAndField() throws {
        let request = ProduceRequest(acks: 1, timeoutMs: 100, topicData: [
            .init(name: "t", partitionData: [.init(index: 0, records: ByteBuffer(bytes: [1, 2, 3, 4]))]),
        ])
        var truncated = encoded(request, version: 9)
        truncated.moveWriterIndex(to: truncated.writerIndex - 5)
        #expect(throws: WireError.inMessage(apiKey: 0, version: 9, underlying: .truncated(
            field: "PartitionProduceData.records", needed: 4, available: 2))) {
            try ProduceRequest(from: &truncated, version: 9)
        }

        // A forged topic count larger than the remaining bytes is refused before reserving.
        var forged = Hex.buffer("ffff 0001 00000064 7fffffff")
        #expect(throws: WireError.inMessage(apiKey: 0, version: 3, underlying: .invalidLength(
            field: "ProduceRequest.topicData", length: Int(Int32.max)))) {
            try ProduceRequest(from: &forged, version: 3)
        }

        // Null where the version has no null: Metadata v0 topics, DeleteTopics v5 names.
        var nullTopics = Hex.buffer("ffffffff")
        #expect(throws: WireError.inMessage(apiKey: 3, version: 0, underlying: .unexpectedNull(field: "MetadataRequest.topics"))) {
            try MetadataRequest(from: &nullTopics, version: 0)
        }
        var nullName = Hex.buffer("00000000 02 00 0000 00 00")
        #expect(throws: WireError.inMessage(apiKey: 20, version: 5, underlying: .unexpectedNull(field: "DeletableTopicResult.name"))) {
            try DeleteTopicsResponse(from: &nullName, version: 5)
        }
        var nullNameV6 = Hex.buffer("00000000 02 00 00000000000000000000000000000000 0000 00 00 00")
        #expect(try DeleteTopicsResponse(from: &nullNameV6, version: 6).responses.first?.name == nil)
    }

    @Test func encoding_nullInAVersionWithoutNull_writesTheEmptyForm() {
        // Metadata v0 has no null topic list; an empty list means "all topics" there.
        #expect(Hex.string(encoded(MetadataRequest(topics: nil), version: 0)) == "00000000")
        #expect(Hex.string(encoded(MetadataRequest(topics: nil), version: 1)) == "ffffffff")
    }

    @Test func errorResponse_setsTopLevelErrorCodesOnly() {
        let apiVersions = ApiVersionsResponse.errorResponse(errorCode: 35)
        #expect(apiVersions == ApiVersionsResponse(errorCode: 35))
        #expect(FetchResponse.errorResponse(.unknownServerError) == FetchResponse(errorCode: -1))
        #expect(JoinGroupResponse.errorResponse(errorCode: 25).errorCode == 25)
        #expect(MetadataResponse.errorResponse(errorCode: 42) == MetadataResponse())
        #expect(ProduceResponse.errorResponse(errorCode: 42) == ProduceResponse())
        // Every response type builds one that encodes and decodes at every version.
        for pair in allProtocolMessageTypes {
            for version in pair.response.validVersions { checkErrorResponse(pair.response, version: version) }
        }
    }

    private func checkErrorResponse<M: KafkaResponse>(_: M.Type, version: Int16) {
        // Versions without the top-level ErrorCode field (Fetch before v7, ...) cannot carry it, so
        // check that the answer is well-formed rather than equal after a round trip.
        let response = M.errorResponse(errorCode: KafkaErrorCode.invalidRequest.rawValue)
        let bytes = encoded(response, version: version)
        var reader = bytes
        let decoded = try? M(from: &reader, version: version)
        #expect(decoded.map { encoded($0, version: version) } == bytes, "\(M.self) v\(version)")
        #expect(reader.readableBytes == 0)
    }

    // MARK: Tagged fields and nullable structs

    @Test func taggedFieldLongerThan127Bytes_writesATwoByteSize() throws {
        let host = String(repeating: "h", count: 300)
        let response = ProduceResponse(responses: [], throttleTimeMs: 0,
                                       nodeEndpoints: [.init(nodeId: 1, host: host, port: 9092, rack: nil)])
        let bytes = encoded(response, version: 10)
        var endpoints = ByteBuffer()
        endpoints.writeArrayCount(1, compact: true)
        response.nodeEndpoints[0].encode(into: &endpoints, version: 10)
        let size = endpoints.readableBytes
        #expect(size > 300)
        // responses [] | throttle | 1 tag | tag 0 | size as a 2-byte varint | the endpoints array
        let sizeVarint = Hex.string(ByteBuffer(bytes: [UInt8(size & 0x7F) | 0x80, UInt8(size >> 7)]))
        let expected: String = ["01", "00000000", "01", "00", sizeVarint, Hex.string(endpoints)].joined()
        #expect(Hex.string(bytes) == expected)
        var reader = bytes
        #expect(try ProduceResponse(from: &reader, version: 10) == response)
        #expect(reader.readableBytes == 0)
    }

    @Test func unknownTags_areSkipped() throws {
        // ApiVersions v3 with an unknown tag 99 (3 bytes) before a known tag 3.
        var buffer = Hex.buffer("0000 01 00000000 02 63 03 aabbcc 03 01 01")
        let response = try ApiVersionsResponse(from: &buffer, version: 3)
        #expect(response == ApiVersionsResponse(errorCode: 0, apiKeys: [], throttleTimeMs: 0, zkMigrationReady: true))
        #expect(buffer.readableBytes == 0)
        // A tag whose size runs past the end is an error, not a crash.
        var broken = Hex.buffer("0000 01 00000000 01 63 7f aa")
        #expect(throws: WireError.self) { try ApiVersionsResponse(from: &broken, version: 3) }
    }

    @Test func nullableStruct_writesMarkerByte() throws {
        let absent = ConsumerGroupHeartbeatResponse(memberEpoch: 1, heartbeatIntervalMs: 5000)
        let bytes = encoded(absent, version: 0)
        // throttle | error | null message | null member id | epoch | interval | assignment null (-1) | tags
        let expected: String = ["00000000", "0000", "00", "00", "00000001", "00001388", "ff", "00"].joined()
        #expect(Hex.string(bytes) == expected)
        let present = ConsumerGroupHeartbeatResponse(memberEpoch: 1, heartbeatIntervalMs: 5000, assignment: .init(
            topicPartitions: [.init(topicId: KafkaUUID(mostSignificantBits: 1, leastSignificantBits: 2), partitions: [0, 1])]))
        var reader = encoded(present, version: 1)
        // marker 1 | 1 topic: id, partitions [0, 1], tags | assignment tags | body tags
        let suffix: String = ["01", "02", "00000000000000010000000000000002", "03", "0000000000000001", "00", "00", "00"].joined()
        #expect(Hex.string(reader).hasSuffix(suffix))
        #expect(try ConsumerGroupHeartbeatResponse(from: &reader, version: 1) == present)
    }

    @Test func taggedStructs_areWrittenOnlyWhenNotDefault() throws {
        var partition = FetchResponse.PartitionData(partitionIndex: 0, records: ByteBuffer())
        var plain = ByteBuffer()
        partition.encode(into: &plain, version: 12)
        #expect(plain.getInteger(at: plain.writerIndex - 1, as: UInt8.self) == 0)  // no tags
        partition.currentLeader = .init(leaderId: 3, leaderEpoch: 7)
        var tagged = ByteBuffer()
        partition.encode(into: &tagged, version: 12)
        // ... | 1 tag | tag 1 | 9 bytes: leader 3, epoch 7, empty tags
        #expect(Hex.string(tagged).hasSuffix(["01", "01", "09", "00000003", "00000007", "00"].joined()))
        #expect(try FetchResponse.PartitionData(from: &tagged, version: 12) == partition)
    }

    // MARK: ApiVersions helpers

    @Test func supportedApiKeys_advertiseFullRangesWithoutUnstableLatestVersions() {
        let table = ApiVersionsResponse.supportedApiKeys()
        #expect(table.count == 32)
        #expect(table.first { $0.apiKey == 0 } == .init(apiKey: 0, minVersion: 0, maxVersion: 11))
        #expect(table.first { $0.apiKey == 1 } == .init(apiKey: 1, minVersion: 0, maxVersion: 17))
        #expect(table.first { $0.apiKey == 26 } == .init(apiKey: 26, minVersion: 0, maxVersion: 4))  // EndTxn 5 unstable
        #expect(table.first { $0.apiKey == 68 } == .init(apiKey: 68, minVersion: 0, maxVersion: 0))
        let all = ApiVersionsResponse.supportedApiKeys(includingUnstable: true)
        #expect(all.map(\.maxVersion) == ApiKey.allCases.map(\.validVersions.upperBound))
    }

    @Test func unsupportedVersionAnswer_isTheV0ErrorBodyClientsExpect() throws {
        let answer = ApiVersionsResponse.unsupportedVersionAnswer()
        #expect(answer.errorCode == 35)
        var bytes = encoded(answer, version: 0)
        #expect(bytes.getInteger(at: 0, as: Int16.self) == 35)
        #expect(bytes.getInteger(at: 2, as: Int32.self) == 32)
        #expect(try ApiVersionsResponse(from: &bytes, version: 0) == answer)
    }

    // MARK: ApiKey and error codes

    @Test func apiKey_listsTheThirtyTwoApisWithKafkaNames() {
        #expect(ApiKey.allCases.count == 32)
        #expect(ApiKey.produce.rawValue == 0 && ApiKey.produce.name == "Produce")
        #expect(ApiKey.apiVersions.rawValue == 18 && ApiKey.apiVersions.validVersions == 0 ... 4)
        #expect(ApiKey.consumerGroupHeartbeat.rawValue == 68 && ApiKey.consumerGroupHeartbeat.firstFlexibleVersion == 0)
        #expect(ApiKey.saslHandshake.firstFlexibleVersion == nil && !ApiKey.saslHandshake.isFlexible(version: 1))
        #expect(ApiKey.allCases.filter(\.latestVersionUnstable) == [.endTxn, .consumerGroupHeartbeat])
        #expect(Set(ApiKey.allCases.map(\.name)).count == 32)
        for pair in allProtocolMessageTypes {
            #expect(pair.request.firstFlexibleVersion == pair.request.apiKey.firstFlexibleVersion)
            #expect(pair.response.firstFlexibleVersion == pair.request.firstFlexibleVersion)
        }
    }

    @Test func errorCodes_matchKafkasTable() {
        let all = KafkaErrorCode.allCases
        #expect(all.count == 135)
        #expect(all.map(\.rawValue) == Array(-1 ... 133))
        #expect(Set(all.map(\.name)).count == all.count)
        #expect(KafkaErrorCode.unknownServerError.name == "UNKNOWN_SERVER_ERROR" && KafkaErrorCode.unknownServerError.code == -1)
        #expect(KafkaErrorCode.noError.name == "NONE" && KafkaErrorCode.noError.rawValue == 0)
        #expect(KafkaErrorCode(rawValue: 6) == .notLeaderOrFollower)
        #expect(KafkaErrorCode(rawValue: 35)?.name == "UNSUPPORTED_VERSION")
        #expect(KafkaErrorCode(rawValue: 134) == nil)
        #expect(KafkaErrorCode.notLeaderOrFollower.isRetriable)
        #expect(KafkaErrorCode.coordinatorLoadInProgress.isRetriable)
        #expect(!KafkaErrorCode.unsupportedVersion.isRetriable)
        #expect(!KafkaErrorCode.unknownServerError.isRetriable)
        #expect(KafkaErrorCode.corruptMessage.message.hasPrefix("This message has failed its CRC checksum"))
        #expect(all.allSatisfy { !$0.message.isEmpty && $0.name == $0.name.uppercased() })
        #expect(KafkaErrorCode.unsupportedVersion.description == "UNSUPPORTED_VERSION (35): The version of API is not supported.")
    }
}
