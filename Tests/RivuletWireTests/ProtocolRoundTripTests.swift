import NIOCore
import Testing
@testable import RivuletWire

/// Every API, request and response, at every valid version: random values representable in the
/// version survive encode -> decode -> encode byte for byte. Seeded per API, so a failure replays.
@Suite struct ProtocolRoundTripTests {
    static let iterationsPerVersion = 25

    @Test(arguments: ApiKey.allCases)
    func everyVersion_roundTripsRandomRequestsAndResponses(api: ApiKey) throws {
        let pair = try #require(allProtocolMessageTypes.first { $0.request.apiKey == api })
        #expect(pair.response.apiKey == api)
        #expect(pair.request.validVersions == api.validVersions)
        #expect(pair.response.validVersions == api.validVersions)
        var random = ProtocolRandom(seed: 0x5EED_0000 + UInt64(api.rawValue))
        for version in api.validVersions {
            for iteration in 0 ..< Self.iterationsPerVersion {
                try roundTripRequest(pair.request, version: version, iteration: iteration, random: &random)
                try roundTripResponse(pair.response, version: version, iteration: iteration, random: &random)
            }
        }
    }

    private func roundTripRequest<M: ProtocolRandomRequest>(_: M.Type, version: Int16, iteration: Int,
                                                            random: inout ProtocolRandom) throws {
        let value = M.random(version: version, using: &random)
        let bytes = try roundTrip(value, version: version, iteration: iteration)
        // The same bytes through the body enum the transports use.
        var reader = bytes
        let body = try KafkaRequestBody.decode(apiKey: M.apiKey.rawValue, version: version, from: &reader)
        #expect(body == value.body, "\(M.self) v\(version) iteration \(iteration) via KafkaRequestBody")
        #expect(body.apiKey == M.apiKey)
        #expect(M(body: body) == value)
        var again = ByteBuffer()
        body.encode(into: &again, version: version)
        #expect(again == bytes)
    }

    private func roundTripResponse<M: ProtocolRandomResponse>(_: M.Type, version: Int16, iteration: Int,
                                                              random: inout ProtocolRandom) throws {
        let value = M.random(version: version, using: &random)
        let bytes = try roundTrip(value, version: version, iteration: iteration)
        var reader = bytes
        let body = try KafkaResponseBody.decode(apiKey: M.apiKey.rawValue, version: version, from: &reader)
        #expect(body == value.body, "\(M.self) v\(version) iteration \(iteration) via KafkaResponseBody")
        #expect(M(body: body) == value)
    }

    /// Encodes, decodes and re-encodes; returns the first encoding.
    private func roundTrip<M: KafkaMessage>(_ value: M, version: Int16, iteration: Int) throws -> ByteBuffer {
        let bytes = encoded(value, version: version)
        var reader = bytes
        let decoded: M
        do {
            decoded = try M(from: &reader, version: version)
        } catch {
            Issue.record("\(M.self) v\(version) iteration \(iteration): \(error)\n\(value)\n\(Hex.string(bytes))")
            throw error
        }
        #expect(reader.readableBytes == 0, "\(M.self) v\(version) iteration \(iteration) left bytes unread")
        #expect(decoded == value, "\(M.self) v\(version) iteration \(iteration)\n\(value)\n\(decoded)")
        #expect(encoded(decoded, version: version) == bytes, "\(M.self) v\(version) re-encoding differs")
        return bytes
    }

    @Test func defaultValues_roundTripAtEveryVersion() throws {
        for pair in allProtocolMessageTypes {
            for version in pair.request.validVersions {
                try checkDefault(pair.request, version: version)
                try checkDefault(pair.response, version: version)
            }
        }
    }

    private func checkDefault<M: ProtocolRandomInstance & KafkaMessage>(_: M.Type, version: Int16) throws {
        let bytes = encoded(M.defaultValue, version: version)
        var reader = bytes
        let decoded = try M(from: &reader, version: version)
        #expect(decoded == M.defaultValue, "\(M.self) v\(version)")
        #expect(reader.readableBytes == 0)
    }
}
