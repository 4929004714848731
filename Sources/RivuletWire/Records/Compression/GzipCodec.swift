import CompressNIO
import NIOCore

/// gzip through compress-nio (zlib).
///
/// Kafka's Java client writes one gzip member through `GZIPOutputStream`; the decoder also reads
/// several concatenated members (as `GZIPInputStream` does) and, like it, ignores trailing bytes
/// that do not start another member.
enum GzipCodec {
    /// zlib's default level (6), which `GZIPOutputStream` uses.
    static let defaultLevel = 6

    static func compress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer, level: Int?) {
        let clamped = Int32(min(max(level ?? defaultLevel, 1), 9))
        do {
            let compressor = try ZlibCompressor(
                algorithm: .gzip,
                configuration: ZlibConfiguration(windowSize: 15, compressionLevel: clamped, memoryLevel: 8, strategy: .default))
            // compress-nio reads from a ByteBuffer: one copy of the input per batch.
            var source = ByteBufferAllocator().buffer(capacity: input.count)
            source.writeBytes(input)
            output.reserveCapacity(minimumWritableBytes: compressor.maxSize(from: source))
            try compressor.deflate(from: &source, to: &output, flush: .finish)
        } catch {
            // The output is reserved at deflateBound, so only a failed allocation gets here.
            preconditionFailure("gzip compression failed: \(error)")
        }
    }

    static func decompress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer,
                           maxBytes: Int) throws(RecordBatchError) {
        guard input.count > 0 else { throw failure("empty input") }
        let decompressor: ZlibDecompressor
        do {
            decompressor = try ZlibDecompressor(algorithm: .gzip, windowSize: 15)
        } catch {
            throw failure("cannot create an inflate stream: \(error)")
        }
        var source = ByteBufferAllocator().buffer(capacity: input.count)
        source.writeBytes(input)
        let start = output.writerIndex
        var chunk = max(input.count * 4, 64 * 1024)
        var memberCount = 0

        while true {
            memberCount += 1
            // Inflate one member.
            while true {
                let produced = output.writerIndex - start
                guard produced <= maxBytes else { throw .tooLarge(size: produced, limit: maxBytes) }
                output.reserveCapacity(minimumWritableBytes: min(chunk, maxBytes - produced + 1))
                do {
                    try decompressor.inflate(from: &source, to: &output)
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    chunk = max(chunk, output.writerIndex - start)
                    continue
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                    throw failure("input ends inside member \(memberCount)")
                } catch {
                    throw failure("member \(memberCount): \(error)")
                }
                // A normal return is either the end of the member or (Z_OK) all input consumed
                // mid-member. Only the second can leave the input empty without ending, so an
                // empty input is probed once more: an ended stream returns normally again.
                if source.readableBytes == 0 {
                    do {
                        try decompressor.inflate(from: &source, to: &output)
                    } catch {
                        throw failure("input ends inside member \(memberCount)")
                    }
                }
                break
            }
            let produced = output.writerIndex - start
            guard produced <= maxBytes else { throw .tooLarge(size: produced, limit: maxBytes) }
            // Another member follows only if the next bytes are gzip's magic 1f 8b.
            guard source.readableBytes >= 2,
                  source.getInteger(at: source.readerIndex, as: UInt16.self) == 0x1F8B
            else { return }
            do {
                try decompressor.reset()
            } catch {
                throw failure("cannot reset the inflate stream: \(error)")
            }
        }
    }

    static func failure(_ reason: String) -> RecordBatchError {
        .decompressionFailed(codec: .gzip, reason: reason)
    }
}
