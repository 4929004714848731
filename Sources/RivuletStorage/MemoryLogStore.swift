import Dispatch
import NIOCore
import RivuletWire
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The memory backend: the reference implementation. Segments, indexes, rolling, retention and flush
// bookkeeping are the shared `SegmentedLog`; only the bytes live in memory chunks instead of files.

/// Chunk buffers recycled between the memory logs of one engine, so that a log under retention
/// writes into memory that is already faulted in instead of fresh pages.
///
/// With a reserve (`reserveBytes > 0`, `memory://?reserve.bytes=N`) the pool also keeps up to that
/// many bytes of large chunks whose pages are already faulted in: a background task fills it when the
/// engine starts and tops it up after takes, so an append into a new chunk copies into resident
/// memory instead of stopping for the kernel to zero fresh pages (most of a memory broker's produce
/// cost on a VM, where first touches also fault on the host). The faulting work is the same; it moves
/// off the append path and, for the first `reserveBytes`, before the traffic.
///
/// Thread-safe. A recycled chunk may still be shared with a reader's slice: ByteBuffer then copies on
/// the first write, so a reader never sees its bytes change.
final class MemoryChunkPool: Sendable {
    static let chunkBytesMin = 64 * 1024
    static let chunkBytesMax = 16 * 1024 * 1024
    /// With `hugePages`, chunks at least this large are advised onto transparent huge pages.
    static let hugePageAdviceBytesMin = 4 * 1024 * 1024
    /// A chunk is reused for a request only up to this many times its size, so that a small log does
    /// not pin a large chunk.
    static let reuseOversizeFactor = 4

    private struct State {
        var chunks: [ByteBuffer] = []
        var bytes = 0
        var isFilling = false
    }

    private let state = Mutex(State())
    /// The most bytes of idle chunks kept for reuse.
    let idleBytesMax: Int
    /// Bytes of pre-faulted chunks to keep ready (0: none).
    let reserveBytes: Int
    /// Whether large fresh chunks are advised onto transparent huge pages (`memory://?huge.pages=true`).
    ///
    /// Off by default. On bare metal a huge page means one fault per 2 MiB instead of 512, but on a VM
    /// whose host reclaims the guest's free memory (free page reporting works on 2 MiB blocks), a huge
    /// page is usually memory the host must fault in again, while 4 KiB pages come from memory the
    /// guest recently freed. Measured on the 2-vCPU test VM, first touch of 112 MiB: 4 KiB pages
    /// 0.047-0.061 s in 4 tries; huge pages 0.028-0.259 s (median about 0.11 s).
    let hugePages: Bool

    init(idleBytesMax: Int = 256 * 1024 * 1024, reserveBytes: Int = 0, hugePages: Bool = false) {
        self.hugePages = hugePages
        self.reserveBytes = max(0, reserveBytes)
        self.idleBytesMax = max(idleBytesMax, self.reserveBytes)
        refillReserveIfNeeded()
    }

    /// An empty chunk with room for at least `capacity` bytes.
    func take(capacity: Int) -> ByteBuffer {
        let reused = state.withLock { state -> ByteBuffer? in
            // Best fit, so that a small log does not take a large chunk.
            var best: Int?
            for (index, chunk) in state.chunks.enumerated()
                where chunk.capacity >= capacity && chunk.capacity / Self.reuseOversizeFactor <= capacity {
                if best.map({ chunk.capacity < state.chunks[$0].capacity }) ?? true { best = index }
            }
            guard let index = best else { return nil }
            let chunk = state.chunks.remove(at: index)
            state.bytes -= chunk.capacity
            return chunk
        }
        if let reused {
            refillReserveIfNeeded()
            return reused
        }
        var chunk = ByteBufferAllocator().buffer(capacity: capacity)
        if hugePages { Self.adviseHugePages(&chunk) }
        return chunk
    }

    /// Returns a chunk for reuse (dropped when the pool is full or the chunk is small).
    ///
    /// Only the indexes are reset: `clear()` would allocate a new buffer whenever the caller still
    /// holds a reference, defeating the reuse.
    func give(_ chunk: ByteBuffer) {
        guard chunk.capacity >= Self.chunkBytesMin else { return }
        var chunk = chunk
        chunk.moveReaderIndex(to: 0)
        chunk.moveWriterIndex(to: 0)
        state.withLock { state in
            guard state.bytes + chunk.capacity <= idleBytesMax else { return }
            state.bytes += chunk.capacity
            state.chunks.append(chunk)
        }
    }

    /// Bytes of idle chunks held.
    var idleBytes: Int { state.withLock { $0.bytes } }

    /// Starts the background fill when the idle chunks are below the reserve (at most one at a time).
    private func refillReserveIfNeeded() {
        guard reserveBytes > 0 else { return }
        let start = state.withLock { state -> Bool in
            guard !state.isFilling, state.bytes + Self.chunkBytesMax <= reserveBytes else { return false }
            state.isFilling = true
            return true
        }
        guard start else { return }
        DispatchQueue.global(qos: .utility).async { [self] in fillReserve() }
    }

    /// Adds pre-faulted chunks of `chunkBytesMax` until the idle chunks reach the reserve.
    private func fillReserve() {
        while true {
            let more = state.withLock { state -> Bool in
                guard state.bytes + Self.chunkBytesMax <= reserveBytes else {
                    state.isFilling = false
                    return false
                }
                return true
            }
            guard more else { return }
            var chunk = ByteBufferAllocator().buffer(capacity: Self.chunkBytesMax)
            if hugePages { Self.adviseHugePages(&chunk) }
            Self.prefault(&chunk)
            let kept = state.withLock { state -> Bool in
                guard state.bytes + chunk.capacity <= idleBytesMax else {
                    state.isFilling = false
                    return false
                }
                state.bytes += chunk.capacity
                state.chunks.append(chunk)
                return true
            }
            guard kept else { return }
        }
    }

    /// Touches every page of the chunk's writable bytes (with zeros, which is what fresh pages hold),
    /// so that the kernel faults them in now rather than under a later append.
    private static func prefault(_ chunk: inout ByteBuffer) {
        chunk.withUnsafeMutableWritableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            var offset = 0
            while offset < bytes.count {
                base.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
                offset += 4096
            }
        }
    }

    /// Asks Linux to back a large fresh chunk with huge pages: one page fault per 2 MiB instead of
    /// per 4 KiB (see `hugePages` for when that is slower).
    private static func adviseHugePages(_ chunk: inout ByteBuffer) {
        #if os(Linux)
        guard chunk.capacity >= hugePageAdviceBytesMin else { return }
        chunk.withUnsafeMutableWritableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            let hugePage = UInt(2 * 1024 * 1024)
            let start = UInt(bitPattern: base)
            let alignedStart = (start + hugePage - 1) & ~(hugePage - 1)
            let alignedEnd = (start + UInt(bytes.count)) & ~(hugePage - 1)
            guard alignedEnd > alignedStart, let pointer = UnsafeMutableRawPointer(bitPattern: alignedStart) else { return }
            _ = madvise(pointer, Int(alignedEnd - alignedStart), MADV_HUGEPAGE)
        }
        #endif
    }
}

/// One segment's bytes in memory: sealed chunks, which are never written again and are handed to
/// readers as zero-copy slices, and one open chunk, which takes appends and is only ever copied from
/// (a slice of it would make the next append copy the whole chunk). Batches never straddle chunks.
final class MemorySegmentStorage: SegmentStorage, @unchecked Sendable {
    // @unchecked Sendable: a closed memory log hands its segments to its engine, which hands them to
    // the next owner; nobody touches them in between.

    private let pool: MemoryChunkPool
    private let capacityBytes: Int
    private var sealedChunks: [ByteBuffer] = []
    private var sealedStarts: [Int] = []
    private var openChunk = ByteBuffer()
    private var openStart = 0
    private var nextChunkBytes = MemoryChunkPool.chunkBytesMin
    private(set) var sizeBytes = 0
    let lastModifiedMs: Int64
    var preallocates: Bool { false }

    init(pool: MemoryChunkPool, capacityBytes: Int, nowMs: Int64) {
        self.pool = pool
        self.capacityBytes = capacityBytes
        lastModifiedMs = nowMs
    }

    func append(_ batch: ByteBuffer, stampingBaseOffset baseOffset: Int64, partitionLeaderEpoch: Int32?) {
        let count = batch.readableBytes
        if openChunk.writableBytes < count { startChunk(minimumBytes: count) }
        let index = openChunk.writerIndex
        openChunk.writeImmutableBuffer(batch)
        openChunk.setInteger(baseOffset, at: index + RecordBatchLayout.baseOffset)
        if let partitionLeaderEpoch {
            openChunk.setInteger(partitionLeaderEpoch, at: index + RecordBatchLayout.partitionLeaderEpoch)
        }
        sizeBytes += count
    }

    /// Seals the open chunk and takes a new one: doubling from 64 KiB to 16 MiB, never much more than
    /// the segment still has room for.
    private func startChunk(minimumBytes: Int) {
        sealOpenChunk()
        let room = max(capacityBytes - sizeBytes, minimumBytes)
        let capacity = max(minimumBytes, min(nextChunkBytes, room))
        openChunk = pool.take(capacity: capacity)
        openStart = sizeBytes
        nextChunkBytes = min(nextChunkBytes * 2, MemoryChunkPool.chunkBytesMax)
    }

    private func sealOpenChunk() {
        if openChunk.readableBytes > 0 {
            sealedChunks.append(openChunk)
            sealedStarts.append(openStart)
        } else if openChunk.capacity > 0 {
            pool.give(openChunk)
        }
        openChunk = ByteBuffer()
        openStart = sizeBytes
    }

    /// The sealed chunk holding `position`, when `position` is below the open chunk.
    private func sealedIndex(containing position: Int) -> Int? {
        guard position < openStart, !sealedStarts.isEmpty else { return nil }
        var low = 0
        var high = sealedStarts.count
        while low < high {
            let middle = (low + high) / 2
            if sealedStarts[middle] <= position { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : low - 1
    }

    /// Calls `body` with each contiguous piece of `[position, position + count)`, in order.
    private func forEachPiece(at position: Int, count: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        var position = position
        var remaining = count
        while remaining > 0 {
            let chunk: ByteBuffer
            let chunkStart: Int
            if position >= openStart {
                chunk = openChunk
                chunkStart = openStart
            } else if let index = sealedIndex(containing: position) {
                chunk = sealedChunks[index]
                chunkStart = sealedStarts[index]
            } else {
                return
            }
            let offset = position - chunkStart
            let length = min(remaining, chunk.readableBytes - offset)
            guard length > 0 else { return }
            chunk.withUnsafeReadableBytes { bytes in
                body(UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + length]))
            }
            position += length
            remaining -= length
        }
    }

    func header(at position: Int) -> RecordBatchHeader? {
        let size = RecordBatchLayout.headerSize
        guard position >= 0, position + size <= sizeBytes else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { scratch in
            var filled = 0
            forEachPiece(at: position, count: size) { piece in
                UnsafeMutableRawBufferPointer(rebasing: scratch[filled ..< filled + piece.count]).copyMemory(from: piece)
                filled += piece.count
            }
            return filled == size ? RecordBatchHeader(rawBytes: UnsafeRawBufferPointer(scratch)) : nil
        }
    }

    func read(at position: Int, count: Int) -> ByteBuffer {
        guard count > 0 else { return ByteBuffer() }
        if let index = sealedIndex(containing: position) {
            let chunk = sealedChunks[index]
            let offset = position - sealedStarts[index]
            if offset + count <= chunk.readableBytes, let slice = chunk.getSlice(at: chunk.readerIndex + offset, length: count) {
                return slice
            }
        }
        var copy = ByteBufferAllocator().buffer(capacity: count)
        forEachPiece(at: position, count: count) { copy.writeBytes($0) }
        return copy
    }

    func checksum(at position: Int, count: Int) -> UInt32 {
        var crc: UInt32 = 0
        forEachPiece(at: position, count: count) { crc = CRC32C.checksum($0, seed: crc) }
        return crc
    }

    func isZeroFilled(from position: Int) -> Bool {
        var zero = true
        forEachPiece(at: position, count: sizeBytes - position) { piece in
            if zero, piece.contains(where: { $0 != 0 }) { zero = false }
        }
        return zero
    }

    func dataEnd(from _: Int) -> Int { sizeBytes }

    func truncate(toSizeBytes size: Int) {
        guard size < sizeBytes else { return }
        if size >= openStart {
            openChunk.moveWriterIndex(to: openChunk.readerIndex + size - openStart)
        } else {
            if openChunk.capacity > 0 { pool.give(openChunk) }
            openChunk = ByteBuffer()
            while let start = sealedStarts.last, start >= size {
                sealedStarts.removeLast()
                pool.give(sealedChunks.removeLast())
            }
            if let last = sealedChunks.indices.last {
                // Only the index moves, so readers sharing the chunk are unaffected; appends go to a new chunk.
                let keep = size - sealedStarts[last]
                sealedChunks[last].moveWriterIndex(to: sealedChunks[last].readerIndex + keep)
            }
            openStart = size
        }
        sizeBytes = size
    }

    func sync(_: FlushSyscall) {}

    func seal() { sealOpenChunk() }

    func reactivate(capacityBytes _: Int) {}

    func persistIndexes(offsetIndex: inout OffsetIndex, timeIndex: inout TimeIndex) {
        offsetIndex.persistedCount = offsetIndex.count
        offsetIndex.fileNeedsTruncation = false
        timeIndex.persistedCount = timeIndex.count
        timeIndex.fileNeedsTruncation = false
    }

    func syncIndexes(_: FlushSyscall) {}

    func loadIndexes() -> (offsetIndex: [UInt8]?, timeIndex: [UInt8]?) { (nil, nil) }

    func close() {}

    func abandon() {}

    func delete() {
        if openChunk.capacity > 0 { pool.give(openChunk) }
        openChunk = ByteBuffer()
        while let chunk = sealedChunks.popLast() { pool.give(chunk) }
        sealedStarts = []
        openStart = 0
        sizeBytes = 0
    }
}

/// The memory backend of one partition: segments come from the engine's chunk pool, and a closed
/// log's segments go back to the engine's volume so that reopening the partition finds its data
/// (for as long as the engine lives).
struct MemoryBackend: LogBackend {
    let topicPartition: TopicPartition
    let pool: MemoryChunkPool
    let volume: MemoryVolume

    var isDurable: Bool { false }

    func createSegment(baseOffset _: Int64, capacityBytes: Int, nowMs: Int64) -> any SegmentStorage {
        MemorySegmentStorage(pool: pool, capacityBytes: capacityBytes, nowMs: nowMs)
    }

    func syncDirectory() {}

    func writeCheckpoint(_: PartitionCheckpoint) {}

    func didClose(segments: [LogSegment], logStartOffset: Int64) {
        volume.release(topicPartition, log: RetainedMemoryLog(segments: segments, logStartOffset: logStartOffset))
    }
}
