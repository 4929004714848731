import NIOCore
import RivuletWire

/// The durable form of a single node's cluster metadata: cluster id, topics with their ids,
/// partitions (replicas, ISR, leader epoch) and config overrides, and the next free producer id.
///
/// Stored in the storage's document store as `cluster-metadata`, replaced atomically on every change.
/// Layout: magic "RVMD", version int16, CRC-32C (of everything after it), then the fields with Kafka's
/// classic encodings (int16-length strings, int32 counts). Decoding checks the CRC and every length,
/// and throws `BrokerError.corruptMetadata` naming what was wrong.
struct ClusterMetadataDocument: Sendable, Hashable {
    static let name = "cluster-metadata"
    static let magic: UInt32 = 0x5256_4D44 // "RVMD"
    static let version: Int16 = 1

    var clusterId: String
    var nextProducerId: Int64
    var topics: [TopicMetadata]

    func encode() -> [UInt8] {
        var body = ByteBuffer()
        body.writeKafkaString(clusterId, compact: false)
        body.writeInteger(nextProducerId)
        body.writeInteger(Int32(topics.count))
        for topic in topics {
            body.writeKafkaString(topic.name, compact: false)
            body.writeKafkaUUID(topic.topicId)
            body.writeKafkaBool(topic.isInternal)
            let overrides = topic.config.overrides.sorted { $0.key < $1.key }
            body.writeInteger(Int32(overrides.count))
            for (name, value) in overrides {
                body.writeKafkaString(name, compact: false)
                body.writeKafkaString(value, compact: false)
            }
            body.writeInteger(Int32(topic.partitions.count))
            for partition in topic.partitions {
                body.writeInteger(partition.partition)
                body.writeInteger(partition.leader)
                body.writeInteger(partition.leaderEpoch)
                Self.write(partition.replicas, to: &body)
                Self.write(partition.isr, to: &body)
            }
        }
        var out = ByteBuffer()
        out.writeInteger(Self.magic)
        out.writeInteger(Self.version)
        out.writeInteger(CRC32C.checksum(body, at: body.readerIndex, length: body.readableBytes))
        out.writeBuffer(&body)
        return Array(out.readableBytesView)
    }

    private static func write(_ ids: [Int32], to buffer: inout ByteBuffer) {
        buffer.writeInteger(Int32(ids.count))
        for id in ids { buffer.writeInteger(id) }
    }

    private static func readIds(_ buffer: inout ByteBuffer, field: String) throws -> [Int32] {
        let count = try readCount(&buffer, elementBytes: 4, field: field)
        var ids: [Int32] = []
        ids.reserveCapacity(count)
        for _ in 0 ..< count { ids.append(try buffer.readKafkaInteger(Int32.self, field: field)) }
        return ids
    }

    private static func readCount(_ buffer: inout ByteBuffer, elementBytes: Int, field: String) throws -> Int {
        let count = try buffer.readKafkaInteger(Int32.self, field: field)
        guard count >= 0, Int(count) <= buffer.readableBytes / elementBytes else {
            throw WireError.invalidLength(field: field, length: Int(count))
        }
        return Int(count)
    }

    static func decode(_ bytes: [UInt8]) throws(BrokerError) -> ClusterMetadataDocument {
        do {
            return try decodeUnchecked(bytes)
        } catch let error as BrokerError {
            throw error
        } catch {
            throw .corruptMetadata(document: name, reason: "\(error)")
        }
    }

    private static func decodeUnchecked(_ bytes: [UInt8]) throws -> ClusterMetadataDocument {
        var buffer = ByteBuffer(bytes: bytes)
        guard try buffer.readKafkaInteger(UInt32.self, field: "magic") == magic else {
            throw BrokerError.corruptMetadata(document: name, reason: "not a cluster metadata document (bad magic)")
        }
        let version = try buffer.readKafkaInteger(Int16.self, field: "version")
        guard version == Self.version else {
            throw BrokerError.corruptMetadata(document: name, reason: "unknown version \(version); this build reads version \(Self.version)")
        }
        let crc = try buffer.readKafkaInteger(UInt32.self, field: "crc")
        let computed = CRC32C.checksum(buffer, at: buffer.readerIndex, length: buffer.readableBytes)
        guard computed == crc else {
            throw BrokerError.corruptMetadata(document: name, reason: "checksum mismatch (stored \(crc), computed \(computed))")
        }
        let clusterId = try buffer.readKafkaString(compact: false, field: "clusterId")
        let nextProducerId = try buffer.readKafkaInteger(Int64.self, field: "nextProducerId")
        let topicCount = try readCount(&buffer, elementBytes: 31, field: "topic count")
        var topics: [TopicMetadata] = []
        var names = Set<String>()
        for _ in 0 ..< topicCount {
            let topicName = try buffer.readKafkaString(compact: false, field: "topic name")
            let topicId = try buffer.readKafkaUUID(field: "topic id")
            let isInternal = try buffer.readKafkaBool(field: "isInternal")
            let overrideCount = try readCount(&buffer, elementBytes: 4, field: "config count")
            var overrides: [ConfigOverride] = []
            for _ in 0 ..< overrideCount {
                overrides.append(ConfigOverride(name: try buffer.readKafkaString(compact: false, field: "config name"),
                                                value: try buffer.readKafkaString(compact: false, field: "config value")))
            }
            let config: TopicConfig
            do {
                config = try TopicConfig(validating: overrides.map { ($0.name, $0.value) })
            } catch {
                throw BrokerError.corruptMetadata(document: name, reason: "topic \(topicName): \(error)")
            }
            let partitionCount = try readCount(&buffer, elementBytes: 20, field: "partition count")
            var partitions: [PartitionMetadata] = []
            partitions.reserveCapacity(partitionCount)
            for index in 0 ..< partitionCount {
                let number = try buffer.readKafkaInteger(Int32.self, field: "partition")
                guard number == Int32(index) else {
                    throw BrokerError.corruptMetadata(document: name, reason: "topic \(topicName): partition \(number) at position \(index)")
                }
                let leader = try buffer.readKafkaInteger(Int32.self, field: "leader")
                let leaderEpoch = try buffer.readKafkaInteger(Int32.self, field: "leader epoch")
                let replicas = try readIds(&buffer, field: "replicas")
                let isr = try readIds(&buffer, field: "isr")
                partitions.append(PartitionMetadata(partition: number, leader: leader, leaderEpoch: leaderEpoch,
                                                    replicas: replicas, isr: isr))
            }
            guard names.insert(topicName).inserted else {
                throw BrokerError.corruptMetadata(document: name, reason: "topic \(topicName) appears twice")
            }
            topics.append(TopicMetadata(name: topicName, topicId: topicId, isInternal: isInternal,
                                        partitions: partitions, config: config))
        }
        guard buffer.readableBytes == 0 else {
            throw BrokerError.corruptMetadata(document: name, reason: "\(buffer.readableBytes) unexpected bytes at the end")
        }
        return ClusterMetadataDocument(clusterId: clusterId, nextProducerId: nextProducerId, topics: topics)
    }
}
