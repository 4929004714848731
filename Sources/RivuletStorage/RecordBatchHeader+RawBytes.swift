import RivuletWire

extension RecordBatchHeader {
    /// Decodes a header from the first 61 bytes of `bytes` (a mapped file or a read buffer).
    /// Returns nil when fewer than 61 bytes are given. Field checks are the caller's.
    @inlinable
    init?(rawBytes bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= RecordBatchLayout.headerSize else { return nil }
        @inline(__always) func load<T: FixedWidthInteger>(_ offset: Int, as _: T.Type) -> T {
            T(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        self.init(baseOffset: load(RecordBatchLayout.baseOffset, as: Int64.self),
                  batchLength: load(RecordBatchLayout.batchLength, as: Int32.self),
                  partitionLeaderEpoch: load(RecordBatchLayout.partitionLeaderEpoch, as: Int32.self),
                  magic: load(RecordBatchLayout.magic, as: Int8.self),
                  crc: load(RecordBatchLayout.crc, as: UInt32.self),
                  attributes: RecordBatchAttributes(rawValue: load(RecordBatchLayout.attributes, as: Int16.self)),
                  lastOffsetDelta: load(RecordBatchLayout.lastOffsetDelta, as: Int32.self),
                  baseTimestamp: load(RecordBatchLayout.baseTimestamp, as: Int64.self),
                  maxTimestamp: load(RecordBatchLayout.maxTimestamp, as: Int64.self),
                  producerId: load(RecordBatchLayout.producerId, as: Int64.self),
                  producerEpoch: load(RecordBatchLayout.producerEpoch, as: Int16.self),
                  baseSequence: load(RecordBatchLayout.baseSequence, as: Int32.self),
                  recordCount: load(RecordBatchLayout.recordCount, as: Int32.self))
    }

    /// Whether every byte of the header is zero: the start of a preallocated, never written region.
    var isAllZero: Bool {
        baseOffset == 0 && batchLength == 0 && partitionLeaderEpoch == 0 && magic == 0 && crc == 0
            && attributes.rawValue == 0 && lastOffsetDelta == 0 && baseTimestamp == 0 && maxTimestamp == 0
            && producerId == 0 && producerEpoch == 0 && baseSequence == 0 && recordCount == 0
    }

    /// The smallest legal `batchLength` (a header and no records).
    static let batchLengthMin = Int32(RecordBatchLayout.headerSize - RecordBatchLayout.logOverhead)

    /// Why this header cannot start a stored batch, or nil when it can: magic 2, a sane length and
    /// non-negative offset deltas. The CRC is checked separately, over the whole batch.
    var storageProblem: RecoveryReason? {
        if magic != RecordBatchLayout.currentMagic { return .unsupportedMagic(magic: magic) }
        if batchLength < Self.batchLengthMin { return .invalidLength(batchLength: batchLength) }
        if lastOffsetDelta < 0 || recordCount < 0 {
            return .invalidHeader(reason: "negative lastOffsetDelta \(lastOffsetDelta) or recordCount \(recordCount)")
        }
        if baseOffset < 0 || baseOffset > Int64.max - Int64(lastOffsetDelta) - 1 {
            return .invalidHeader(reason: "base offset \(baseOffset) out of range")
        }
        return nil
    }
}
