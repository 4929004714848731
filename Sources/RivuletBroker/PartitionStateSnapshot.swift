import NIOCore
import RivuletStorage
import RivuletWire

/// What a partition writes at a clean shutdown so that reopening does not rescan its log: the idempotent
/// producers' state and the leader epoch cache, valid for exactly the log end offset they were taken at.
///
/// Stored as a storage document named `partition-state-<topicId>-<partition>` (topic ids keep the
/// name short and survive topics being deleted and recreated under the same name). Layout:
/// magic "RVPS", version int16, CRC-32C of the rest, then the log end offset, the epoch entries and
/// the producer state. A snapshot whose end offset differs from the reopened log's is ignored.
struct PartitionStateSnapshot: Sendable, Hashable {
    var logEndOffset: Int64
    var epochCache: LeaderEpochCache
    var producers: ProducerStateManager

    static let magic: UInt32 = 0x5256_5053 // "RVPS"
    static let version: Int16 = 1

    static func documentName(topicId: KafkaUUID, partition: Int32) -> String {
        "partition-state-\(topicId)-\(partition)"
    }

    func encode() -> [UInt8] {
        var body = ByteBuffer()
        body.writeInteger(logEndOffset)
        body.writeInteger(Int32(epochCache.entries.count))
        for entry in epochCache.entries {
            body.writeInteger(entry.epoch)
            body.writeInteger(entry.startOffset)
        }
        producers.encode(into: &body)
        var out = ByteBuffer()
        out.writeInteger(Self.magic)
        out.writeInteger(Self.version)
        out.writeInteger(CRC32C.checksum(body, at: body.readerIndex, length: body.readableBytes))
        out.writeBuffer(&body)
        return Array(out.readableBytesView)
    }

    /// Decodes a snapshot; nil for an empty document (no snapshot). Throws `WireError` when malformed.
    static func decode(_ bytes: [UInt8]) throws -> PartitionStateSnapshot? {
        guard !bytes.isEmpty else { return nil }
        var buffer = ByteBuffer(bytes: bytes)
        guard try buffer.readKafkaInteger(UInt32.self, field: "magic") == magic else {
            throw WireError.invalidValue(field: "magic", reason: "not a partition state snapshot")
        }
        let version = try buffer.readKafkaInteger(Int16.self, field: "version")
        guard version == Self.version else { throw WireError.invalidValue(field: "version", reason: "unknown version \(version)") }
        let crc = try buffer.readKafkaInteger(UInt32.self, field: "crc")
        guard CRC32C.checksum(buffer, at: buffer.readerIndex, length: buffer.readableBytes) == crc else {
            throw WireError.invalidValue(field: "crc", reason: "checksum mismatch")
        }
        let logEndOffset = try buffer.readKafkaInteger(Int64.self, field: "log end offset")
        let entryCount = try buffer.readKafkaInteger(Int32.self, field: "epoch count")
        guard entryCount >= 0, Int(entryCount) <= buffer.readableBytes / 12 else {
            throw WireError.invalidLength(field: "epoch count", length: Int(entryCount))
        }
        var entries: [LeaderEpochCache.Entry] = []
        for _ in 0 ..< entryCount {
            entries.append(LeaderEpochCache.Entry(epoch: try buffer.readKafkaInteger(Int32.self, field: "epoch"),
                                                  startOffset: try buffer.readKafkaInteger(Int64.self, field: "start offset")))
        }
        let producers = try ProducerStateManager(decoding: &buffer)
        return PartitionStateSnapshot(logEndOffset: logEndOffset, epochCache: LeaderEpochCache(entries: entries), producers: producers)
    }
}
