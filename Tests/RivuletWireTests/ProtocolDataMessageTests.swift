import NIOCore
import Testing
@testable import RivuletWire

/// The data schemas from scripts/kafka-messages-extra (consumer protocol, `__consumer_offsets` keys
/// and values): round trips at every version, Kafka's byte layout, version prefixes, bad input.
@Suite struct ProtocolDataMessageTests {
    @Test func everyDataSchema_atEveryVersion_roundTripsRandomValues() throws {
        var random = ProtocolRandom(seed: 0xDA7A)
        #expect(allProtocolDataTypes.count == 6)
        for type in allProtocolDataTypes {
            try roundTripAll(type, random: &random)
        }
    }

    private func roundTripAll<M: ProtocolRandomData>(_: M.Type, random: inout ProtocolRandom) throws {
        for version in M.validVersions {
            for iteration in 0 ..< 25 {
                let value = iteration == 0 ? M.defaultValue : M.random(version: version, using: &random)
                var bytes = ByteBuffer()
                value.encode(into: &bytes, version: version)
                var reader = bytes
                let decoded = try M(from: &reader, version: version)
                #expect(reader.readableBytes == 0, "\(M.self) v\(version) left bytes")
                #expect(decoded == value, "\(M.self) v\(version) iteration \(iteration)")
                var again = ByteBuffer()
                decoded.encode(into: &again, version: version)
                #expect(again == bytes)
                // Every strict prefix fails with a typed error, never a trap.
                for cut in 0 ..< bytes.readableBytes {
                    var truncated = bytes.getSlice(at: bytes.readerIndex, length: cut) ?? ByteBuffer()
                    #expect(throws: WireError.self) { _ = try M(from: &truncated, version: version) }
                }
            }
        }
    }

    /// Kafka writes an offset commit key as record type 1, then group, topic, partition.
    @Test func offsetCommitKey_matchesKafkaLayout() throws {
        let key = OffsetCommitKey(group: "g", topic: "t", partition: 3)
        var bytes = ByteBuffer()
        bytes.writeInteger(OffsetCommitKey.coordinatorRecordType)
        key.encode(into: &bytes, version: 0)
        #expect(Array(bytes.readableBytesView) == Hex.bytes("0001 0001 67 0001 74 00000003"))
    }

    /// OffsetCommitValue v3: offset, leaderEpoch, metadata, commitTimestamp (no expire timestamp).
    @Test func offsetCommitValue_version3_matchesKafkaLayout() throws {
        let value = OffsetCommitValue(offset: 42, leaderEpoch: 7, metadata: "m", commitTimestamp: 1000, expireTimestamp: -1)
        let bytes = value.versionPrefixed(version: 3)
        #expect(Array(bytes.readableBytesView) == Hex.bytes("0003 000000000000002a 00000007 0001 6d 00000000000003e8"))
        var reader = bytes
        let (decoded, version) = try OffsetCommitValue.decodeVersionPrefixed(&reader)
        #expect(version == 3 && decoded == value && reader.readableBytes == 0)
    }

    /// The consumer protocol subscription v0 for topic "foo" without user data, as Java writes it.
    @Test func consumerProtocolSubscription_version0_matchesJavaBytes() throws {
        let subscription = ConsumerProtocolSubscription(topics: ["foo"], userData: nil)
        let bytes = subscription.versionPrefixed(version: 0)
        #expect(Array(bytes.readableBytesView) == Hex.bytes("0000 00000001 0003 666f6f ffffffff"))
    }

    /// A newer consumer protocol version is read with the latest layout (trailing fields ignored),
    /// as Kafka's ConsumerProtocol does; other data schemas refuse unknown versions.
    @Test func versionPrefixed_newerVersion_readsAsLatestOnlyWhenAsked() throws {
        var bytes = ConsumerProtocolAssignment(assignedPartitions: [.init(topic: "t", partitions: [0, 2])])
            .versionPrefixed(version: 2)
        bytes.setInteger(Int16(9), at: bytes.readerIndex)
        bytes.writeInteger(UInt32(0xDEAD_BEEF))  // A field a future version appended.
        var lenient = bytes
        let (value, version) = try ConsumerProtocolAssignment.decodeVersionPrefixed(&lenient, readingNewerAsLatest: true)
        #expect(version == 9)
        #expect(value.assignedPartitions == [.init(topic: "t", partitions: [0, 2])])
        var strict = bytes
        #expect(throws: WireError.self) { _ = try ConsumerProtocolAssignment.decodeVersionPrefixed(&strict) }
        var negative = ByteBuffer(bytes: Hex.bytes("ffff 00000000 ffffffff"))
        #expect(throws: WireError.self) {
            _ = try ConsumerProtocolAssignment.decodeVersionPrefixed(&negative, readingNewerAsLatest: true)
        }
        var empty = ByteBuffer()
        #expect(throws: WireError.self) { _ = try GroupMetadataValue.decodeVersionPrefixed(&empty) }
    }

    /// A forged array count larger than the bytes that remain is refused before reserving memory.
    @Test func forgedArrayCount_throwsInsteadOfAllocating() {
        var bytes = ByteBuffer(bytes: Hex.bytes("0000 7fffffff 0001 61"))
        #expect(throws: WireError.self) { _ = try ConsumerProtocolSubscription.decodeVersionPrefixed(&bytes) }
    }

    /// DeleteGroups (API 42) comes from the extra folder and joins the API table.
    @Test func deleteGroups_isAnApi() {
        #expect(ApiKey.deleteGroups.rawValue == 42)
        #expect(ApiKey.deleteGroups.validVersions == 0 ... 3)
        #expect(ApiKey.deleteGroups.firstFlexibleVersion == 2)
    }
}
