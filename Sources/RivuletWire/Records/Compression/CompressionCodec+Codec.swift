import NIOCore

/// Limits that protect decoders from hostile record batches.
public enum RecordBatchLimits {
    /// The default cap on the records of one batch after decompression: 64 MiB.
    ///
    /// A compressed batch can expand a thousandfold (a decompression bomb); decoding stops with
    /// `RecordBatchError.tooLarge` as soon as the output passes the cap. Kafka's default
    /// `message.max.bytes` is about 1 MiB, so the cap leaves ample room for real batches.
    public static let decompressedBytesMax = 64 * 1024 * 1024
}

// One small API over the four codecs. Each codec lives in its own file
// (`GzipCodec`, `SnappyCodec`, `LZ4FrameCodec`, `ZstdCodec`) and speaks the format Kafka's Java
// client writes, so batches interoperate with real clients and brokers.
extension CompressionCodec {
    /// Compresses `input` and appends the result to `output`.
    ///
    /// - Parameters:
    ///   - input: the uncompressed records.
    ///   - output: receives the compressed block (its writer index moves past it).
    ///   - level: a codec-specific level (gzip 1-9, lz4 0-12, zstd 1-22; Kafka's
    ///     `compression.<codec>.level`); nil picks Kafka's default. Snappy ignores it.
    ///   - context: reusable codec state; nil creates and frees it for this call.
    ///
    /// Compression cannot fail on any input: levels are clamped to the codec's range and the
    /// output is reserved at the codec's worst-case bound. The native libraries then fail only
    /// when memory allocation fails, which traps, as a failed Swift allocation does.
    public func compress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer,
                         level: Int? = nil, context: CompressionContext? = nil) {
        if let context {
            context.withState { (state: inout CodecState) in
                compress(input, into: &output, level: level, state: &state)
            }
        } else {
            var state = CodecState()
            compress(input, into: &output, level: level, state: &state)
        }
    }

    /// Decompresses `input` and appends the result to `output`.
    ///
    /// Accepts every encoding Kafka clients produce: multi-member gzip; snappy both
    /// xerial-framed and as a raw block; any valid LZ4 frame (with or without content size and
    /// checksums, linked or independent blocks, concatenated frames); zstd frames with or
    /// without a content size, concatenated frames included.
    ///
    /// - Parameters:
    ///   - maxBytes: the cap on decompressed bytes; more throws `RecordBatchError.tooLarge`.
    ///   - context: reusable codec state; nil creates and frees it for this call.
    /// - Throws: `RecordBatchError.decompressionFailed` for corrupt or truncated input,
    ///   `.tooLarge` past `maxBytes`. Never traps on bad input.
    public func decompress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer,
                           maxBytes: Int = RecordBatchLimits.decompressedBytesMax,
                           context: CompressionContext? = nil) throws(RecordBatchError) {
        if let context {
            try context.withState { (state: inout CodecState) throws(RecordBatchError) in
                try decompress(input, into: &output, maxBytes: maxBytes, state: &state)
            }
        } else {
            var state = CodecState()
            try decompress(input, into: &output, maxBytes: maxBytes, state: &state)
        }
    }

    /// `compress` on the readable bytes of a buffer.
    public func compress(_ input: ByteBuffer, into output: inout ByteBuffer,
                         level: Int? = nil, context: CompressionContext? = nil) {
        input.withUnsafeReadableBytes { raw in
            compress(raw, into: &output, level: level, context: context)
        }
    }

    /// `decompress` of the readable bytes of a buffer.
    public func decompress(_ input: ByteBuffer, into output: inout ByteBuffer,
                           maxBytes: Int = RecordBatchLimits.decompressedBytesMax,
                           context: CompressionContext? = nil) throws(RecordBatchError) {
        try input.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) throws(RecordBatchError) in
            try decompress(raw, into: &output, maxBytes: maxBytes, context: context)
        }
    }

    func compress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer, level: Int?,
                  state: inout CodecState) {
        switch self {
        case .none:
            output.writeBytes(input)
        case .gzip:
            GzipCodec.compress(input, into: &output, level: level)
        case .snappy:
            SnappyCodec.compress(input, into: &output)
        case .lz4:
            LZ4FrameCodec.compress(input, into: &output, level: level, state: &state)
        case .zstd:
            ZstdCodec.compress(input, into: &output, level: level, state: &state)
        }
    }

    func decompress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer, maxBytes: Int,
                    state: inout CodecState) throws(RecordBatchError) {
        switch self {
        case .none:
            guard input.count <= maxBytes else { throw .tooLarge(size: input.count, limit: maxBytes) }
            output.writeBytes(input)
        case .gzip:
            try GzipCodec.decompress(input, into: &output, maxBytes: maxBytes)
        case .snappy:
            try SnappyCodec.decompress(input, into: &output, maxBytes: maxBytes)
        case .lz4:
            try LZ4FrameCodec.decompress(input, into: &output, maxBytes: maxBytes, state: &state)
        case .zstd:
            try ZstdCodec.decompress(input, into: &output, maxBytes: maxBytes, state: &state)
        }
    }
}

/// A growing output region for streaming decompressors, with the decompression-bomb cap.
struct CappedOutput {
    /// Bytes written so far by this decompression (not counting what `output` held before).
    var produced = 0
    let maxBytes: Int

    /// Calls `body` with a writable region of up to `preferred` bytes (never more than the cap
    /// allows plus one byte, so an overrun is detected), and advances the writer index by the
    /// count `body` returns.
    mutating func write(into output: inout ByteBuffer, preferred: Int,
                        _ body: (UnsafeMutableRawBufferPointer) throws(RecordBatchError) -> Int) throws(RecordBatchError) {
        let room = maxBytes - produced + 1
        guard room > 0 else { throw .tooLarge(size: produced, limit: maxBytes) }
        let chunk = min(room, max(preferred, 1))
        let written = try output.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) {
            (region: UnsafeMutableRawBufferPointer) throws(RecordBatchError) -> Int in
            try body(UnsafeMutableRawBufferPointer(rebasing: region.prefix(chunk)))
        }
        produced += written
        guard produced <= maxBytes else { throw .tooLarge(size: produced, limit: maxBytes) }
    }
}
