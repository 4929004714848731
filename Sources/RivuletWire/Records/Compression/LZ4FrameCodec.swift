import CLZ4
import NIOCore

/// LZ4 in the LZ4 frame format (what Kafka clients write since KIP-57) through liblz4's
/// `lz4frame.h`.
///
/// The encoder writes what Kafka's `Lz4BlockOutputStream` writes: independent 64 KiB blocks, no
/// content size, no checksums (the batch CRC covers the bytes). The decoder accepts any valid
/// frame: content size or not, block and content checksums (verified), linked or independent
/// blocks, any block size, skippable and concatenated frames.
enum LZ4FrameCodec {
    /// Level 0 is LZ4's fast mode, as `lz4-java`'s `fastCompressor` that Kafka used before
    /// `compression.lz4.level` existed; levels 3-12 select LZ4 HC.
    static let defaultLevel = 0

    static func compress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer, level: Int?,
                         state: inout CodecState) {
        let context = compressionContext(&state)
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum
        preferences.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        preferences.frameInfo.contentSize = 0
        preferences.compressionLevel = min(max(Int32(clamping: level ?? defaultLevel), 0), LZ4F_compressionLevel_max())
        preferences.autoFlush = 1
        let bound = LZ4F_compressFrameBound(input.count, &preferences)
        check(bound, "bounding the output")
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { region in
            guard let destination = region.baseAddress else { preconditionFailure("empty LZ4 output region") }
            var written = LZ4F_compressBegin(context, destination, region.count, &preferences)
            check(written, "writing the frame header")
            if input.count > 0 {
                let update = LZ4F_compressUpdate(context, destination + written, region.count - written,
                                                 input.baseAddress, input.count, nil)
                check(update, "compressing")
                written += update
            }
            let end = LZ4F_compressEnd(context, destination + written, region.count - written, nil)
            check(end, "ending the frame")
            return written + end
        }
    }

    static func decompress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer, maxBytes: Int,
                           state: inout CodecState) throws(RecordBatchError) {
        var capped = CappedOutput(maxBytes: maxBytes)
        guard let source = input.baseAddress, input.count > 0 else { throw failure("empty input") }
        let context = decompressionContext(&state)
        LZ4F_resetDecompressionContext(context)

        var sourcePosition = 0
        var finished = false
        var preferred = max(input.count * 4, 64 * 1024)
        while !finished {
            try capped.write(into: &output, preferred: preferred) { (region) throws(RecordBatchError) -> Int in
                guard let destination = region.baseAddress else { throw failure("no output room") }
                var destinationPosition = 0
                while true {
                    var destinationSize = region.count - destinationPosition
                    var sourceSize = input.count - sourcePosition
                    let hint = LZ4F_decompress(context, destination + destinationPosition, &destinationSize,
                                               source + sourcePosition, &sourceSize, nil)
                    if LZ4F_isError(hint) != 0 {
                        LZ4F_resetDecompressionContext(context)
                        throw failure(String(cString: LZ4F_getErrorName(hint)))
                    }
                    sourcePosition += sourceSize
                    destinationPosition += destinationSize
                    // 0 means a frame ended; remaining input must be another frame.
                    if hint == 0, sourcePosition == input.count { finished = true; break }
                    if destinationPosition == region.count { break }
                    if sourcePosition == input.count { throw failure("input ends inside a frame") }
                    if sourceSize == 0, destinationSize == 0 { throw failure("decoder made no progress") }
                }
                return destinationPosition
            }
            preferred = max(capped.produced, 64 * 1024)
        }
    }

    private static func compressionContext(_ state: inout CodecState) -> OpaquePointer {
        if let context = state.lz4Compression { return context }
        var context: OpaquePointer?
        let code = LZ4F_createCompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(code) == 0, let context else { preconditionFailure("LZ4F_createCompressionContext failed") }
        state.lz4Compression = context
        return context
    }

    private static func decompressionContext(_ state: inout CodecState) -> OpaquePointer {
        if let context = state.lz4Decompression { return context }
        var context: OpaquePointer?
        let code = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(code) == 0, let context else { preconditionFailure("LZ4F_createDecompressionContext failed") }
        state.lz4Decompression = context
        return context
    }

    /// Compression fails only when memory runs out (the output is sized at the frame bound).
    private static func check(_ code: Int, _ step: String) {
        if LZ4F_isError(code) != 0 {
            preconditionFailure("lz4 \(step) failed: \(String(cString: LZ4F_getErrorName(code)))")
        }
    }

    static func failure(_ reason: String) -> RecordBatchError {
        .decompressionFailed(codec: .lz4, reason: reason)
    }
}
