import CLZ4
import CZstd
import NIOCore
import Synchronization

/// Reusable state for compressing and decompressing record batches: the zstd and LZ4 frame
/// contexts and the scratch buffer that decompressed records are written into.
///
/// Creating codec contexts costs allocations (zstd's are hundreds of KiB), so an owner that
/// handles many batches (a producer's partition, a consumer's fetch loop) keeps one context and
/// passes it to every call. The context is `Sendable`: its state sits behind a `Mutex`, so
/// sharing one across threads is safe but serializes their codec work; give each thread or
/// partition owner its own.
///
/// The scratch buffer is handed out as a `ByteBuffer` copy; record views decoded from it keep
/// it alive. When a caller still holds such views, the next decompression allocates a fresh
/// buffer (copy-on-write) instead of overwriting them.
public final class CompressionContext: Sendable {
    let state: Mutex<CodecState>

    /// Creates an empty context; codec contexts are created on first use.
    public init() {
        state = Mutex(CodecState())
    }

    /// Runs `body` with exclusive access to the codec state.
    func withState<Result: Sendable, Failure: Error>(
        _ body: (inout CodecState) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try state.withLock { (state: inout sending CodecState) throws(Failure) -> Result in try body(&state) }
    }
}

/// The native codec contexts and scratch memory of one `CompressionContext`.
///
/// `@unchecked Sendable` because of the raw C context pointers: the state is only ever touched
/// by one thread at a time, inside the context's mutex or as a local of one call.
struct CodecState: ~Copyable, @unchecked Sendable {
    var zstdDecompression: OpaquePointer?
    var zstdCompression: OpaquePointer?
    var lz4Decompression: OpaquePointer?
    var lz4Compression: OpaquePointer?
    /// Where decompressed records are written; cleared (not reallocated) between batches.
    var scratch: ByteBuffer?

    init() {}

    deinit {
        if let zstdDecompression { ZSTD_freeDCtx(zstdDecompression) }
        if let zstdCompression { ZSTD_freeCCtx(zstdCompression) }
        if let lz4Decompression { LZ4F_freeDecompressionContext(lz4Decompression) }
        if let lz4Compression { LZ4F_freeCompressionContext(lz4Compression) }
    }

    /// The scratch buffer, emptied, with at least `minimumCapacity` bytes.
    mutating func takeScratch(minimumCapacity: Int) -> ByteBuffer {
        if var buffer = scratch {
            scratch = nil
            buffer.clear(minimumCapacity: minimumCapacity)
            return buffer
        }
        return ByteBufferAllocator().buffer(capacity: minimumCapacity)
    }
}
