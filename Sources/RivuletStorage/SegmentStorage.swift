import NIOCore
import RivuletWire

/// The bytes of one segment, as a backend keeps them (memory chunks, a file, a mapped file).
///
/// Everything above this seam (offsets, indexes, rolling, retention, recovery) is shared by all
/// backends in `SegmentedLog`, so they behave identically; a backend only stores and returns bytes.
/// Positions are byte positions from the segment's first byte. Not thread-safe (owned by one log).
protocol SegmentStorage: AnyObject {
    /// Bytes of data (for a just-opened file: the file's size, preallocated tail included, until
    /// recovery truncates it to the valid data).
    var sizeBytes: Int { get }

    /// Whether files are preallocated, so that a zero-filled tail after the data is expected rather
    /// than a sign of a torn write (mmap).
    var preallocates: Bool { get }

    /// When the segment was last written, in milliseconds since the epoch (file modification time, or
    /// the creation time for memory). The log tracks later appends itself.
    var lastModifiedMs: Int64 { get }

    /// Appends `batch` (exactly one batch) with its first 8 bytes replaced by `baseOffset` (big-endian)
    /// and, when `partitionLeaderEpoch` is given, its partition leader epoch (bytes 12..<16, outside the
    /// CRC) replaced too. The caller's buffer is not modified: the stamps go into the stored copy, so the
    /// producer's bytes are copied exactly once.
    func append(_ batch: ByteBuffer, stampingBaseOffset baseOffset: Int64, partitionLeaderEpoch: Int32?) throws(StorageError)

    /// The 61-byte batch header at `position`, or nil when fewer than 61 bytes remain there.
    func header(at position: Int) throws(StorageError) -> RecordBatchHeader?

    /// Bytes `[position, position + count)`; the caller stays within `sizeBytes`. May share storage with
    /// the segment, but never with a region that will be written again.
    func read(at position: Int, count: Int) throws(StorageError) -> ByteBuffer

    /// CRC-32C of bytes `[position, position + count)`.
    func checksum(at position: Int, count: Int) throws(StorageError) -> UInt32

    /// Whether bytes `[position, sizeBytes)` are all zero (a preallocated tail never written).
    func isZeroFilled(from position: Int) throws(StorageError) -> Bool

    /// Where written data ends at or after `position`: just past the last non-zero byte for storage
    /// that preallocates, `sizeBytes` otherwise. Splits a cut tail into lost data and preallocation.
    func dataEnd(from position: Int) throws(StorageError) -> Int

    /// Drops bytes at and after `size`. Bytes dropped read as zero if the file is later extended.
    func truncate(toSizeBytes size: Int) throws(StorageError)

    /// Makes `[0, sizeBytes)` durable.
    func sync(_ syscall: FlushSyscall) throws(StorageError)

    /// The segment stops taking appends: preallocated space is trimmed, mappings become read-only.
    func seal() throws(StorageError)

    /// The segment takes appends again (it became the active segment after a truncation or at open),
    /// with room for at least `capacityBytes` in total where the backend preallocates.
    func reactivate(capacityBytes: Int) throws(StorageError)

    /// Writes the index entries the files lack (durable backends) and records them as persisted.
    func persistIndexes(offsetIndex: inout OffsetIndex, timeIndex: inout TimeIndex) throws(StorageError)

    /// Makes the index files durable (durable backends).
    func syncIndexes(_ syscall: FlushSyscall) throws(StorageError)

    /// The index files' bytes, nil for a missing file (durable backends; memory returns nils).
    func loadIndexes() throws(StorageError) -> (offsetIndex: [UInt8]?, timeIndex: [UInt8]?)

    /// Releases files and mappings; memory keeps its bytes for a later reopen.
    func close() throws(StorageError)

    /// Releases files and mappings at once, with no trimming or syncing: what a crash leaves behind.
    func abandon()

    /// Releases everything and removes the segment's files.
    func delete() throws(StorageError)
}
