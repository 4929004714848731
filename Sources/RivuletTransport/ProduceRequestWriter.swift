import NIOCore
import RivuletWire

/// Writes a whole Produce request frame without copying its record batches: everything but the
/// records goes into one small buffer, and each partition's records (the producer's batch buffers)
/// go to the socket as their own buffers, interleaved with slices of the small one.
///
/// The bytes on the wire are exactly those of `KafkaRequestEncoder.frame` (the generated encoder),
/// for every Produce version; the tests compare both on random requests of every version.
public enum ProduceRequestWriter {
    /// Records smaller than this are copied into the frame (a separate buffer costs more than a copy).
    public static let separateRecordsBytesMin = 4_096

    /// The frame of `request` at `version` as buffers to write in order. The first buffer holds the
    /// whole request header, so the correlation id sits at `KafkaRequestEncoder.correlationIdOffset`
    /// of it.
    public static func frame(_ request: ProduceRequest, version: Int16, correlationId: Int32, clientId: String?,
                             allocator: ByteBufferAllocator = ByteBufferAllocator()) -> [ByteBuffer] {
        let flexible = ProduceRequest.isFlexible(version: version)
        var cuts: [(end: Int, records: ByteBuffer)] = []
        var separateBytes = 0
        var meta = allocator.buffer(capacity: metaCapacityHint(request, clientId: clientId))
        meta.writeInteger(Int32(0))  // size, patched below
        RequestHeader(apiKey: .produce, apiVersion: version, correlationId: correlationId, clientId: clientId).encode(into: &meta)
        if version >= 3 { meta.writeKafkaString(request.transactionalId, compact: flexible) }
        meta.writeInteger(request.acks)
        meta.writeInteger(request.timeoutMs)
        meta.writeArrayCount(request.topicData.count, compact: flexible)
        for topic in request.topicData {
            meta.writeKafkaString(topic.name, compact: flexible)
            meta.writeArrayCount(topic.partitionData.count, compact: flexible)
            for partition in topic.partitionData {
                meta.writeInteger(partition.index)
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
                if flexible { meta.writeEmptyTaggedFields() }
            }
            if flexible { meta.writeEmptyTaggedFields() }
        }
        if flexible { meta.writeEmptyTaggedFields() }
        meta.setInteger(Int32(truncatingIfNeeded: meta.readableBytes - 4 + separateBytes), at: meta.readerIndex)
        return interleave(meta, cuts)
    }

    /// Slices `meta` at the cut points and puts each cut's records after its slice.
    static func interleave(_ meta: ByteBuffer, _ cuts: [(end: Int, records: ByteBuffer)]) -> [ByteBuffer] {
        guard !cuts.isEmpty else { return [meta] }
        var buffers: [ByteBuffer] = []
        buffers.reserveCapacity(cuts.count * 2 + 1)
        var start = meta.readerIndex
        for cut in cuts {
            if let slice = meta.getSlice(at: start, length: cut.end - start), slice.readableBytes > 0 { buffers.append(slice) }
            buffers.append(cut.records)
            start = cut.end
        }
        if let tail = meta.getSlice(at: start, length: meta.writerIndex - start), tail.readableBytes > 0 { buffers.append(tail) }
        return buffers
    }

    private static func metaCapacityHint(_ request: ProduceRequest, clientId: String?) -> Int {
        var bytes = 64 + (clientId?.utf8.count ?? 0) + (request.transactionalId?.utf8.count ?? 0)
        for topic in request.topicData {
            bytes += 16 + topic.name.utf8.count
            for partition in topic.partitionData {
                bytes += 16
                if let records = partition.records, records.readableBytes < separateRecordsBytesMin { bytes += records.readableBytes }
            }
        }
        return bytes
    }
}
