import CZstd
import NIOCore

/// zstd through libzstd: one frame per batch on the way out; streaming decompression on the way
/// in, so frames without a content size (what zstd-jni's stream writes) and concatenated frames
/// both decode.
enum ZstdCodec {
    /// Kafka's default `compression.zstd.level`.
    static let defaultLevel = 3
    /// libzstd's default window limit (128 MiB), which also covers the ultra levels 20-22.
    static let windowLogMax: Int32 = 27

    static func compress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer, level: Int?,
                         state: inout CodecState) {
        let context = compressionContext(&state)
        let clamped = min(max(Int32(clamping: level ?? defaultLevel), ZSTD_minCLevel()), ZSTD_maxCLevel())
        _ = ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters)
        check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, clamped), "setting the level")
        let bound = ZSTD_compressBound(input.count)
        check(bound, "bounding the output")
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { region in
            let written = ZSTD_compress2(context, region.baseAddress, region.count, input.baseAddress, input.count)
            check(written, "compressing")
            return written
        }
    }

    static func decompress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer, maxBytes: Int,
                           state: inout CodecState) throws(RecordBatchError) {
        var capped = CappedOutput(maxBytes: maxBytes)
        guard let source = input.baseAddress, input.count > 0 else { throw failure("empty input") }
        let context = decompressionContext(&state)
        _ = ZSTD_DCtx_reset(context, ZSTD_reset_session_only)
        _ = ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, windowLogMax)

        let declared = ZSTD_getFrameContentSize(source, input.count)
        var preferred = max(input.count * 4, 64 * 1024)
        if declared < ZSTD_CONTENTSIZE_ERROR, declared <= UInt64(maxBytes) {
            // Trust a declared size only up to a plausible ratio before reserving memory for it:
            // a forged header must not make a few bytes reserve the whole cap.
            preferred = max(min(Int(declared), max(input.count * 64, 1 << 20)), 1)
        }

        var inBuffer = ZSTD_inBuffer(src: source, size: input.count, pos: 0)
        var finished = false
        while !finished {
            try capped.write(into: &output, preferred: preferred) { (region) throws(RecordBatchError) -> Int in
                var outBuffer = ZSTD_outBuffer(dst: region.baseAddress, size: region.count, pos: 0)
                while true {
                    let before = (inBuffer.pos, outBuffer.pos)
                    let hint = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                    if ZSTD_isError(hint) != 0 {
                        throw failure(String(cString: ZSTD_getErrorName(hint)))
                    }
                    // 0 means a frame is complete and flushed; more input may start another frame.
                    if hint == 0, inBuffer.pos == inBuffer.size { finished = true; break }
                    if outBuffer.pos == outBuffer.size { break }
                    if inBuffer.pos == inBuffer.size { throw failure("input ends inside a frame") }
                    if before == (inBuffer.pos, outBuffer.pos) { throw failure("decoder made no progress") }
                }
                return outBuffer.pos
            }
            preferred = max(capped.produced, 64 * 1024)
        }
    }

    private static func compressionContext(_ state: inout CodecState) -> OpaquePointer {
        if let context = state.zstdCompression { return context }
        guard let context = ZSTD_createCCtx() else { preconditionFailure("ZSTD_createCCtx: out of memory") }
        state.zstdCompression = context
        return context
    }

    private static func decompressionContext(_ state: inout CodecState) -> OpaquePointer {
        if let context = state.zstdDecompression { return context }
        guard let context = ZSTD_createDCtx() else { preconditionFailure("ZSTD_createDCtx: out of memory") }
        state.zstdDecompression = context
        return context
    }

    /// Compression fails only when memory runs out (the output is sized at the bound and the
    /// level is clamped), which traps like any failed allocation.
    private static func check(_ code: Int, _ step: String) {
        if ZSTD_isError(code) != 0 {
            preconditionFailure("zstd \(step) failed: \(String(cString: ZSTD_getErrorName(code)))")
        }
    }

    static func failure(_ reason: String) -> RecordBatchError {
        .decompressionFailed(codec: .zstd, reason: reason)
    }
}
