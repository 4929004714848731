import NIOCore
import RivuletWire

/// Writes a whole Fetch response frame without copying its record bytes: everything but the records
/// goes into one small buffer, and each partition's records (already `ByteBuffer` slices of the log)
/// are handed to the socket as their own buffers, interleaved with slices of the small one. NIO
/// writes them with one `writev`.
///
/// The bytes on the wire are exactly those of `KafkaResponseEncoder.frame` (the generated encoder),
/// for every Fetch version; the tests compare both on random responses of every version.
public enum FetchResponseWriter {
    /// Records smaller than this are copied into the frame (a separate buffer costs more than a
    /// copy of a few KiB).
    public static let separateRecordsBytesMin = 4_096

    /// The frame of `response` at `version` as buffers to write in order. A single buffer when no
    /// partition carries at least `separateRecordsBytesMin` bytes of records.
    public static func frame(_ response: FetchResponse, correlationId: Int32, version: Int16,
                             allocator: ByteBufferAllocator = ByteBufferAllocator()) -> [ByteBuffer] {
        let flexible = FetchResponse.isFlexible(version: version)
        var cuts: [(end: Int, records: ByteBuffer)] = []
        var separateBytes = 0
        var meta = allocator.buffer(capacity: metaCapacityHint(response))
        meta.writeInteger(Int32(0))  // size, patched below
        ResponseHeader(correlationId: correlationId).encode(into: &meta, apiKey: .fetch, apiVersion: version)
        if version >= 1 { meta.writeInteger(response.throttleTimeMs) }
        if version >= 7 {
            meta.writeInteger(response.errorCode)
            meta.writeInteger(response.sessionId)
        }
        meta.writeArrayCount(response.responses.count, compact: flexible)
        for topic in response.responses {
            if version <= 12 { meta.writeKafkaString(topic.topic, compact: flexible) }
            if version >= 13 { meta.writeKafkaUUID(topic.topicId) }
            meta.writeArrayCount(topic.partitions.count, compact: flexible)
            for partition in topic.partitions {
                meta.writeInteger(partition.partitionIndex)
                meta.writeInteger(partition.errorCode)
                meta.writeInteger(partition.highWatermark)
                if version >= 4 { meta.writeInteger(partition.lastStableOffset) }
                if version >= 5 { meta.writeInteger(partition.logStartOffset) }
                if version >= 4 {
                    if let aborted = partition.abortedTransactions {
                        meta.writeArrayCount(aborted.count, compact: flexible)
                        for transaction in aborted { transaction.encode(into: &meta, version: version) }
                    } else {
                        meta.writeArrayCount(nil, compact: flexible)
                    }
                }
                if version >= 11 { meta.writeInteger(partition.preferredReadReplica) }
                if let records = partition.records, records.readableBytes >= separateRecordsBytesMin {
                    if flexible {
                        meta.writeUnsignedVarint(UInt64(records.readableBytes + 1))
                    } else {
                        meta.writeInteger(Int32(truncatingIfNeeded: records.readableBytes))
                    }
                    cuts.append((meta.writerIndex, records))
                    separateBytes += records.readableBytes
                } else {
                    meta.writeKafkaBytes(partition.records, compact: flexible)
                }
                if flexible { writePartitionTaggedFields(partition, into: &meta, version: version) }
            }
            if flexible { meta.writeEmptyTaggedFields() }
        }
        if flexible {
            if version >= 16, !response.nodeEndpoints.isEmpty {
                meta.writeUnsignedVarint(UInt32(1))
                meta.writeTaggedField(tag: 0) { buffer in
                    buffer.writeArrayCount(response.nodeEndpoints.count, compact: true)
                    for endpoint in response.nodeEndpoints { endpoint.encode(into: &buffer, version: version) }
                }
            } else {
                meta.writeEmptyTaggedFields()
            }
        }
        meta.setInteger(Int32(truncatingIfNeeded: meta.readableBytes - 4 + separateBytes), at: meta.readerIndex)
        return ProduceRequestWriter.interleave(meta, cuts)
    }

    /// Mirrors the generated `PartitionData` tagged section: each tagged field only when it differs
    /// from its default, in tag order.
    private static func writePartitionTaggedFields(_ partition: FetchResponse.PartitionData, into buffer: inout ByteBuffer, version: Int16) {
        let writeDivergingEpoch = partition.divergingEpoch != FetchResponse.EpochEndOffset()
        let writeCurrentLeader = partition.currentLeader != FetchResponse.LeaderIdAndEpoch()
        let writeSnapshotId = partition.snapshotId != FetchResponse.SnapshotId()
        var count: UInt32 = 0
        if writeDivergingEpoch { count += 1 }
        if writeCurrentLeader { count += 1 }
        if writeSnapshotId { count += 1 }
        buffer.writeUnsignedVarint(count)
        if writeDivergingEpoch { buffer.writeTaggedField(tag: 0) { partition.divergingEpoch.encode(into: &$0, version: version) } }
        if writeCurrentLeader { buffer.writeTaggedField(tag: 1) { partition.currentLeader.encode(into: &$0, version: version) } }
        if writeSnapshotId { buffer.writeTaggedField(tag: 2) { partition.snapshotId.encode(into: &$0, version: version) } }
    }

    private static func metaCapacityHint(_ response: FetchResponse) -> Int {
        var bytes = 64
        for topic in response.responses {
            bytes += 48 + topic.topic.utf8.count
            for partition in topic.partitions {
                bytes += 80 + 24 * (partition.abortedTransactions?.count ?? 0)
                if let records = partition.records, records.readableBytes < separateRecordsBytesMin { bytes += records.readableBytes }
            }
        }
        return bytes
    }
}
