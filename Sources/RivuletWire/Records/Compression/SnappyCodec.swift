import CSnappy
import NIOCore

/// Snappy through libsnappy's C API, in the xerial framing Kafka's Java client writes
/// (`SnappyOutputStream`):
///
///     82 53 4E 41 50 50 59 00   magic ("\x82SNAPPY\0")
///     int32 version = 1, int32 compatible version = 1   (big-endian)
///     then per 32 KiB of input: int32 compressed length, raw snappy block
///
/// The decoder also takes a bare raw block (what some non-Java clients send) and, like
/// snappy-java, a second header in the middle of the stream (concatenated streams).
enum SnappyCodec {
    static let magic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    static let headerSize = 16
    /// `SnappyOutputStream.DEFAULT_BLOCK_SIZE`.
    static let blockSize = 32 * 1024

    static func compress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer) {
        output.writeBytes(magic)
        output.writeInteger(Int32(1))
        output.writeInteger(Int32(1))
        var position = 0
        while position < input.count {
            let length = min(blockSize, input.count - position)
            let block = UnsafeRawBufferPointer(rebasing: input[position ..< position + length])
            let bound = snappy_max_compressed_length(length)
            let lengthIndex = output.writerIndex
            output.writeInteger(Int32(0))
            let written = output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { region in
                var compressedLength = region.count
                let status = snappy_compress(block.baseAddress?.assumingMemoryBound(to: CChar.self), length,
                                             region.baseAddress?.assumingMemoryBound(to: CChar.self), &compressedLength)
                guard status == SNAPPY_OK else { preconditionFailure("snappy_compress failed with status \(status)") }
                return compressedLength
            }
            output.setInteger(Int32(written), at: lengthIndex)
            position += length
        }
    }

    static func decompress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer,
                           maxBytes: Int) throws(RecordBatchError) {
        var capped = CappedOutput(maxBytes: maxBytes)
        guard hasMagic(input, at: 0), input.count >= headerSize else {
            try decompressBlock(input, into: &output, capped: &capped)
            return
        }
        var position = headerSize
        while position < input.count {
            if hasMagic(input, at: position) {
                guard input.count - position >= headerSize else { throw failure("truncated xerial header") }
                position += headerSize
                continue
            }
            guard input.count - position >= 4 else {
                throw failure("truncated block length at byte \(position)")
            }
            let length = Int(Int32(bitPattern: UInt32(input[position]) << 24 | UInt32(input[position + 1]) << 16
                | UInt32(input[position + 2]) << 8 | UInt32(input[position + 3])))
            position += 4
            guard length >= 0, length <= input.count - position else {
                throw failure("block length \(length) at byte \(position - 4) exceeds the \(input.count - position) bytes left")
            }
            if length > 0 {
                try decompressBlock(UnsafeRawBufferPointer(rebasing: input[position ..< position + length]),
                                    into: &output, capped: &capped)
            }
            position += length
        }
    }

    private static func hasMagic(_ input: UnsafeRawBufferPointer, at position: Int) -> Bool {
        guard input.count - position >= magic.count else { return false }
        for index in 0 ..< magic.count where input[position + index] != magic[index] { return false }
        return true
    }

    private static func decompressBlock(_ block: UnsafeRawBufferPointer, into output: inout ByteBuffer,
                                        capped: inout CappedOutput) throws(RecordBatchError) {
        guard let source = block.baseAddress?.assumingMemoryBound(to: CChar.self), block.count > 0 else {
            throw failure("empty block")
        }
        var length = 0
        guard snappy_uncompressed_length(source, block.count, &length) == SNAPPY_OK else {
            throw failure("block header is not a valid snappy length")
        }
        // Snappy expands at most about 21x (a 3-byte copy yields 64 bytes), so a larger declared
        // length is forged; reject it before reserving memory for it.
        guard length <= block.count * 32 + 64 else {
            throw failure("block declares \(length) bytes from \(block.count), beyond snappy's expansion limit")
        }
        guard length <= capped.maxBytes - capped.produced else {
            throw .tooLarge(size: capped.produced + length, limit: capped.maxBytes)
        }
        guard length > 0 else {
            // A valid empty block is a single zero byte; anything longer is corrupt.
            guard block.count == 1 else { throw failure("empty block with trailing bytes") }
            return
        }
        try capped.write(into: &output, preferred: length) { (region) throws(RecordBatchError) -> Int in
            var written = region.count
            let status = snappy_uncompress(source, block.count, region.baseAddress?.assumingMemoryBound(to: CChar.self), &written)
            guard status == SNAPPY_OK, written == length else {
                throw failure("corrupt block (status \(status.rawValue))")
            }
            return written
        }
    }

    static func failure(_ reason: String) -> RecordBatchError {
        .decompressionFailed(codec: .snappy, reason: reason)
    }
}
