import NIOCore
import RivuletWire
import Testing
@testable import RivuletTransport

@Suite struct KafkaRequestDecoderTests {
    /// The frame without its size prefix, as the server's decoder receives it.
    static func frameBody(_ body: KafkaRequestBody, version: Int16, correlationId: Int32 = 7, clientId: String? = "client-1") -> ByteBuffer {
        var frame = KafkaRequestEncoder.frame(body, version: version, correlationId: correlationId, clientId: clientId)
        frame.moveReaderIndex(forwardBy: 4)
        return frame
    }

    @Test func decode_everyApiAtEveryVersion_returnsTheRequestAndHeader() throws {
        var checked = 0
        for body in SampleRequests.all {
            for version in body.apiKey.validVersions {
                let frame = Self.frameBody(body, version: version)
                guard case let .request(header, decoded) = try KafkaRequestDecoder.decode(frame: frame) else {
                    Issue.record("\(body.apiKey.name) v\(version) did not decode as a request")
                    continue
                }
                #expect(header == RequestHeader(apiKey: body.apiKey, apiVersion: version, correlationId: 7, clientId: "client-1"))
                #expect(decoded.apiKey == body.apiKey)
                // Encoding what was decoded gives the same bytes (fields a version lacks are dropped
                // the same way on both sides).
                var again = ByteBuffer()
                decoded.encode(into: &again, version: version)
                var original = ByteBuffer()
                body.encode(into: &original, version: version)
                #expect(again == original, "\(body.apiKey.name) v\(version)")
                checked += 1
            }
        }
        #expect(checked == SampleRequests.all.reduce(0) { $0 + $1.apiKey.validVersions.count })
    }

    @Test func decode_fullProduce_keepsRecordsAsSlicesOfTheFrame() throws {
        let frame = Self.frameBody(.produce(SampleRequests.produce), version: 9)
        guard case let .request(_, .produce(produce)) = try KafkaRequestDecoder.decode(frame: frame) else {
            Issue.record("not a produce request")
            return
        }
        #expect(produce == SampleRequests.produce)
    }

    @Test func decode_flexibleHeaderWithUnknownTaggedFields_skipsThem() throws {
        // Header v2 (Metadata v9) with two tagged fields the broker does not know.
        var frame = ByteBuffer()
        frame.writeInteger(Int16(3))  // Metadata
        frame.writeInteger(Int16(9))
        frame.writeInteger(Int32(99))
        frame.writeKafkaString("kcat", compact: false)
        frame.writeInteger(UInt8(2))  // two tags
        frame.writeInteger(UInt8(5)); frame.writeInteger(UInt8(2)); frame.writeBytes([0xAA, 0xBB])
        frame.writeInteger(UInt8(9)); frame.writeInteger(UInt8(0))
        MetadataRequest(topics: nil).encode(into: &frame, version: 9)
        guard case let .request(header, .metadata(metadata)) = try KafkaRequestDecoder.decode(frame: frame) else {
            Issue.record("not a metadata request")
            return
        }
        #expect(header.correlationId == 99)
        #expect(header.clientId == "kcat")
        #expect(metadata.topics == nil)
    }

    @Test func decode_flexibleBodyWithUnknownTaggedFields_skipsThem() throws {
        // Metadata v12 and CreateTopics v7: the body's top-level tag section (its last byte, empty) is
        // replaced by one carrying two tags this broker does not know.
        for body in [KafkaRequestBody.metadata(SampleRequests.metadata), .createTopics(SampleRequests.createTopics)] {
            let version = body.apiKey.validVersions.upperBound
            var frame = ByteBuffer()
            RequestHeader(apiKey: body.apiKey, apiVersion: version, correlationId: 4, clientId: "c").encode(into: &frame)
            body.encode(into: &frame, version: version)
            #expect(frame.getInteger(at: frame.writerIndex - 1, as: UInt8.self) == 0)
            frame.moveWriterIndex(to: frame.writerIndex - 1)
            frame.writeBytes([0x02, 0x1E, 0x03, 0xAA, 0xBB, 0xCC, 0x7F, 0x00])
            guard case let .request(_, decoded) = try KafkaRequestDecoder.decode(frame: frame) else {
                Issue.record("\(body.apiKey.name) v\(version) with unknown tags did not decode")
                continue
            }
            #expect(decoded == body)
        }
    }

    @Test func decode_unknownApiKey_returnsUnknownApiKeyWithTheCorrelationId() throws {
        var frame = ByteBuffer()
        RequestHeader(apiKey: 999, apiVersion: 0, correlationId: 55, clientId: "x").encode(into: &frame, version: 1)
        frame.writeBytes([1, 2, 3])
        guard case let .unknownApiKey(header) = try KafkaRequestDecoder.decode(frame: frame) else {
            Issue.record("expected unknownApiKey")
            return
        }
        #expect(header.correlationId == 55)
        #expect(header.apiKey == 999)
    }

    @Test func decode_versionOutsideRange_returnsUnsupported_andApiVersionsAboveRangeIsSpecial() throws {
        var produce = ByteBuffer()
        RequestHeader(apiKey: .produce, apiVersion: 99, correlationId: 1, clientId: nil).encode(into: &produce)
        guard case let .unsupportedVersion(header, api) = try KafkaRequestDecoder.decode(frame: produce) else {
            Issue.record("expected unsupportedVersion")
            return
        }
        #expect(api == .produce && header.apiVersion == 99)

        // ApiVersions v9 from a future client: header v2, a body we cannot know.
        var apiVersions = ByteBuffer()
        RequestHeader(apiKey: .apiVersions, apiVersion: 9, correlationId: 2, clientId: "future").encode(into: &apiVersions)
        apiVersions.writeBytes([0x05, 0x06, 0x07])
        guard case let .unsupportedApiVersionsVersion(header9) = try KafkaRequestDecoder.decode(frame: apiVersions) else {
            Issue.record("expected unsupportedApiVersionsVersion")
            return
        }
        #expect(header9.correlationId == 2 && header9.clientId == "future")

        var negative = ByteBuffer()
        RequestHeader(apiKey: .apiVersions, apiVersion: -1, correlationId: 3, clientId: nil).encode(into: &negative)
        guard case .unsupportedVersion(_, .apiVersions) = try KafkaRequestDecoder.decode(frame: negative) else {
            Issue.record("expected unsupportedVersion for v-1")
            return
        }
    }

    @Test func decode_headerParsesButBodyDoesNot_returnsMalformedBody() throws {
        var frame = ByteBuffer()
        RequestHeader(apiKey: .metadata, apiVersion: 4, correlationId: 8, clientId: "c").encode(into: &frame)
        frame.writeInteger(Int32(5))  // five topics announced, none follow
        guard case let .malformedBody(header, api, error) = try KafkaRequestDecoder.decode(frame: frame) else {
            Issue.record("expected malformedBody")
            return
        }
        #expect(header.correlationId == 8 && api == .metadata)
        #expect("\(error)".contains("Metadata") || "\(error)".contains("API 3"))
    }

    @Test func decode_unreadableHeader_throws() {
        #expect(throws: WireError.self) { try KafkaRequestDecoder.decode(frame: ByteBuffer(bytes: [0, 3])) }
        #expect(throws: WireError.self) { try KafkaRequestDecoder.decode(frame: ByteBuffer(bytes: [0, 3, 0, 4, 0, 0])) }
        // Client id length runs past the frame.
        #expect(throws: WireError.self) {
            try KafkaRequestDecoder.decode(frame: ByteBuffer(bytes: [0, 3, 0, 4, 0, 0, 0, 1, 0, 50, 0x61]))
        }
    }

    @Test func errorBody_existsForEveryApi_andEncodesAtEveryVersion() {
        for api in ApiKey.allCases {
            let body = KafkaResponseEncoder.errorBody(for: api, errorCode: KafkaErrorCode.invalidRequest.rawValue)
            #expect(body.apiKey == api)
            for version in api.validVersions {
                let frame = KafkaResponseEncoder.frame(body, correlationId: 5, apiVersion: version)
                #expect(frame.getInteger(at: 0, as: Int32.self) == Int32(frame.readableBytes - 4))
                #expect(frame.getInteger(at: 4, as: Int32.self) == 5)
                var rest = frame
                rest.moveReaderIndex(forwardBy: 4)
                _ = try? ResponseHeader(from: &rest, apiKey: api, apiVersion: version)
                #expect((try? KafkaResponseBody.decode(apiKey: api.rawValue, version: version, from: &rest)) != nil,
                        "\(api.name) v\(version) error body does not decode")
            }
        }
    }

    @Test func unsupportedApiVersionsFrame_isAV0BodyBehindAV0Header() throws {
        let keys = ApiVersionsResponse.supportedApiKeys()
        var frame = KafkaResponseEncoder.unsupportedApiVersionsFrame(correlationId: 11, apiKeys: keys)
        #expect(frame.readInteger(as: Int32.self) == Int32(frame.readableBytes))
        #expect(frame.readInteger(as: Int32.self) == 11)
        let body = try ApiVersionsResponse(from: &frame, version: 0)
        #expect(frame.readableBytes == 0)
        #expect(body.errorCode == KafkaErrorCode.unsupportedVersion.rawValue)
        #expect(body.apiKeys == keys)
    }
}
