import NIOCore

// Reading the records inside a batch. Uncompressed batches are read in place; compressed ones
// are first decompressed (into the context's reusable scratch buffer when a context is given),
// with a cap against decompression bombs.
extension RecordBatch {
    /// An iterator over the batch's records.
    ///
    /// - Parameters:
    ///   - verifyChecksum: check the CRC-32C first (what a consumer with `check.crcs=true` does).
    ///   - decompressedBytesMax: the cap on the decompressed records of a compressed batch.
    ///   - context: reusable decompression state and scratch memory; nil allocates per call.
    /// - Throws: `RecordBatchError` (checksum, header, decompression, size) before any record is
    ///   read; per-record errors come from the iterator's `next()`.
    public func makeRecordIterator(verifyChecksum: Bool = true,
                                   decompressedBytesMax: Int = RecordBatchLimits.decompressedBytesMax,
                                   context: CompressionContext? = nil) throws(RecordBatchError) -> RecordIterator {
        let position = buffer.readerIndex
        if verifyChecksum {
            try validate()
        } else {
            guard header.attributes.compression != nil else {
                throw .invalidHeader(position: position, reason: "reserved compression codec \(header.attributes.rawValue & 7)")
            }
            guard header.recordCount >= 0, header.lastOffsetDelta >= 0 else {
                throw .invalidHeader(position: position, reason: "negative record count or last offset delta")
            }
        }
        guard Int64(header.recordCount) - 1 <= Int64(header.lastOffsetDelta) else {
            throw .invalidHeader(position: position,
                                 reason: "recordCount \(header.recordCount) does not fit lastOffsetDelta \(header.lastOffsetDelta)")
        }
        let storage = try recordBytes(decompressedBytesMax: decompressedBytesMax, context: context)
        // The smallest record takes 7 bytes (length varint and a 6-byte body).
        guard Int(header.recordCount) <= storage.readableBytes / 7 else {
            throw .invalidRecord(position: position,
                                 reason: "recordCount \(header.recordCount) cannot fit in \(storage.readableBytes) bytes of records")
        }
        return RecordIterator(storage: storage, header: header, batchPosition: position)
    }

    /// Calls `body` with every record in order, validating each (see `RecordIterator`). `body` owns
    /// the record it gets, so it can keep it (or wrap it) without a copy.
    ///
    /// Allocates nothing per record; a compressed batch allocates only when its decompressed
    /// records outgrow the context's scratch buffer (or, without a context, once per batch).
    /// `body` may throw to stop early.
    public func forEachRecord(verifyChecksum: Bool = true,
                              decompressedBytesMax: Int = RecordBatchLimits.decompressedBytesMax,
                              context: CompressionContext? = nil,
                              _ body: (consuming Record) throws(RecordBatchError) -> Void) throws(RecordBatchError) {
        let start = try makeRecordIterator(verifyChecksum: verifyChecksum,
                                           decompressedBytesMax: decompressedBytesMax, context: context)
        try start.storage.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) throws(RecordBatchError) in
            // The iterator that moves is local to the closure: a captured `var` would be boxed, with
            // an exclusivity check and a copy of the whole iterator for every record.
            var iterator = start
            while let record = try iterator.next(in: raw) {
                try body(record)
            }
        }
    }

    /// Every record, in an array (allocates; for tests and tools).
    public func records(verifyChecksum: Bool = true,
                        decompressedBytesMax: Int = RecordBatchLimits.decompressedBytesMax,
                        context: CompressionContext? = nil) throws(RecordBatchError) -> [Record] {
        var iterator = try makeRecordIterator(verifyChecksum: verifyChecksum,
                                              decompressedBytesMax: decompressedBytesMax, context: context)
        // The count is known to fit the bytes by now, so a forged count cannot reserve much.
        var result: [Record] = []
        result.reserveCapacity(iterator.count)
        while let record = try iterator.next() { result.append(record) }
        return result
    }

    /// The batch's records as uncompressed bytes: a slice of the batch, or the decompressed
    /// block. An empty compressed batch is not decompressed (as in Kafka).
    public func recordBytes(decompressedBytesMax: Int = RecordBatchLimits.decompressedBytesMax,
                            context: CompressionContext? = nil) throws(RecordBatchError) -> ByteBuffer {
        let position = buffer.readerIndex
        let start = position + RecordBatchLayout.headerSize
        let length = buffer.readableBytes - RecordBatchLayout.headerSize
        guard let codec = header.attributes.compression else {
            throw .invalidHeader(position: position, reason: "reserved compression codec \(header.attributes.rawValue & 7)")
        }
        guard let block = buffer.getSlice(at: start, length: max(length, 0)) else {
            throw .truncated(position: position, needed: RecordBatchLayout.headerSize, available: buffer.readableBytes)
        }
        guard codec != .none, header.recordCount > 0 else {
            return codec == .none ? block : ByteBuffer()
        }
        let limit = min(max(decompressedBytesMax, 0), Int(Int32.max))
        return try block.withUnsafeReadableBytes { (input: UnsafeRawBufferPointer) throws(RecordBatchError) -> ByteBuffer in
            let guess = min(max(input.count * 4, 4096), limit + 1)
            guard let context else {
                var state = CodecState()
                var output = ByteBufferAllocator().buffer(capacity: guess)
                try codec.decompress(input, into: &output, maxBytes: limit, state: &state)
                return output
            }
            return try context.withState { (state: inout CodecState) throws(RecordBatchError) -> ByteBuffer in
                var output = state.takeScratch(minimumCapacity: guess)
                defer { state.scratch = output }
                try codec.decompress(input, into: &output, maxBytes: limit, state: &state)
                return output
            }
        }
    }
}
