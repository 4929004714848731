import NIOCore
import Testing
@testable import RivuletWire

/// Frames captured from kcat (librdkafka 2.0.2) and kafka-python 3.0.12 (see Fixtures/CapturedFrames.swift):
/// every request and response decodes completely and re-encodes to the same bytes.
@Suite struct ProtocolCapturedFrameTests {
    /// Splits a frame into its size-checked payload.
    static func payload(_ frame: CapturedFrame) throws -> ByteBuffer {
        var buffer = Hex.buffer(frame.hex)
        let size = try buffer.readKafkaInteger(Int32.self, field: "size")
        #expect(Int(size) == buffer.readableBytes, "\(frame.scenario) size prefix")
        return buffer
    }

    @Test(arguments: CapturedFrames.all.filter(\.isRequest).indices)
    func capturedRequest_decodesAndReencodesByteForByte(index: Int) throws {
        let frame = CapturedFrames.all.filter(\.isRequest)[index]
        var buffer = try Self.payload(frame)
        let original = buffer
        let header = try RequestHeader.decode(from: &buffer)
        #expect(header.apiKey == frame.apiKey)
        #expect(header.apiVersion == frame.apiVersion)
        #expect(header.clientId == "rivulet-fixture")
        let body = try KafkaRequestBody.decode(apiKey: header.apiKey, version: header.apiVersion, from: &buffer)
        #expect(buffer.readableBytes == 0, "\(frame.scenario) \(body.apiKey) v\(frame.apiVersion) left bytes")
        var again = ByteBuffer()
        header.encode(into: &again)
        body.encode(into: &again, version: header.apiVersion)
        #expect(Hex.string(again) == Hex.string(original), "\(frame.scenario) \(body.apiKey) v\(frame.apiVersion)")
    }

    @Test(arguments: CapturedFrames.all.filter { !$0.isRequest }.indices)
    func capturedResponse_decodesAndReencodesByteForByte(index: Int) throws {
        let frame = CapturedFrames.all.filter { !$0.isRequest }[index]
        let api = try #require(ApiKey(rawValue: frame.apiKey))
        var buffer = try Self.payload(frame)
        let original = buffer
        let header = try ResponseHeader(from: &buffer, apiKey: api, apiVersion: frame.apiVersion)
        let body = try KafkaResponseBody.decode(apiKey: frame.apiKey, version: frame.apiVersion, from: &buffer)
        #expect(buffer.readableBytes == 0, "\(frame.scenario) \(api) v\(frame.apiVersion) left bytes")
        var again = ByteBuffer()
        header.encode(into: &again, apiKey: api, apiVersion: frame.apiVersion)
        body.encode(into: &again, version: frame.apiVersion)
        #expect(Hex.string(again) == Hex.string(original), "\(frame.scenario) \(api) v\(frame.apiVersion)")
    }

    @Test func capturedRequests_cutAtEveryOffset_failWithTypedErrors() throws {
        // Every byte of a request is needed, so every proper prefix must be refused, never decoded
        // into a wrong value and never trap.
        for frame in CapturedFrames.all where frame.isRequest {
            let payload = try Self.payload(frame)
            for length in 0 ..< payload.readableBytes {
                var prefix = try #require(payload.getSlice(at: payload.readerIndex, length: length))
                do {
                    let header = try RequestHeader.decode(from: &prefix)
                    _ = try KafkaRequestBody.decode(apiKey: header.apiKey, version: header.apiVersion, from: &prefix)
                    Issue.record("\(frame.scenario) \(frame.apiKey) v\(frame.apiVersion): \(length)-byte prefix decoded")
                } catch is WireError {
                    continue
                }
            }
        }
    }
}
