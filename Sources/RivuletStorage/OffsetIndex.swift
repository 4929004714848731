/// One offset index entry: the last offset of a batch (relative to the segment's base offset) and
/// the byte position where that batch starts. Kafka's `.index` entry: int32 + int32, big-endian.
struct OffsetIndexEntry: Hashable, Sendable {
    var relativeOffset: Int32
    var position: Int32
}

/// A segment's sparse offset index (Kafka's `OffsetIndex`): one entry every `index.interval.bytes`,
/// so a read finds the batch holding an offset by a binary search and a short forward scan.
///
/// Entries live in memory; durable backends also keep them in the segment's `.index` file, written
/// at flush time (`persistedCount` tracks what the file holds).
struct OffsetIndex: Sendable {
    static let entrySize = 8

    private(set) var entries: [OffsetIndexEntry] = []
    /// How many leading entries the index file holds as they are in memory.
    var persistedCount = 0
    /// The file holds entries past `persistedCount` that must be cut before the next write.
    var fileNeedsTruncation = false

    init() {}

    init(loaded entries: [OffsetIndexEntry]) {
        self.entries = entries
        persistedCount = entries.count
    }

    var count: Int { entries.count }
    var last: OffsetIndexEntry? { entries.last }
    var unpersistedCount: Int { entries.count - persistedCount }

    /// Adds an entry. Offsets and positions only grow; an entry that would not (only possible when
    /// bytes read back from disk changed under the log) is left out: entries only speed lookups up,
    /// and every lookup checks the entry it uses against the bytes.
    mutating func append(relativeOffset: Int32, position: Int32) {
        if let last = entries.last, relativeOffset <= last.relativeOffset || position <= last.position { return }
        entries.append(OffsetIndexEntry(relativeOffset: relativeOffset, position: position))
    }

    /// The index of the last entry whose relative offset is at most `target`, or nil.
    func lastIndex(atMostRelativeOffset target: Int64) -> Int? {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if Int64(entries[middle].relativeOffset) <= target { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : low - 1
    }

    /// The last entry whose relative offset is at most `target`, or nil (start at position 0).
    func lookup(relativeOffset target: Int64) -> OffsetIndexEntry? {
        lastIndex(atMostRelativeOffset: target).map { entries[$0] }
    }

    /// Keeps the first `count` entries.
    mutating func truncate(toCount count: Int) {
        guard count < entries.count else { return }
        entries.removeLast(entries.count - count)
        if persistedCount > count {
            persistedCount = count
            fileNeedsTruncation = true
        }
    }

    /// Drops the entries of batches starting at or after `position`.
    mutating func truncate(toPosition position: Int) {
        var keep = entries.count
        while keep > 0, Int(entries[keep - 1].position) >= position { keep -= 1 }
        truncate(toCount: keep)
    }

    /// Drops everything; the file is cut to zero at the next write.
    mutating func removeAll() {
        truncate(toCount: 0)
        fileNeedsTruncation = true
    }

    /// The big-endian bytes of entries `[from, count)`.
    func encode(from start: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity((entries.count - start) * Self.entrySize)
        for entry in entries[start...] {
            appendBigEndian(UInt32(bitPattern: entry.relativeOffset), to: &bytes)
            appendBigEndian(UInt32(bitPattern: entry.position), to: &bytes)
        }
        return bytes
    }

    /// Decodes an index file, keeping the longest prefix that makes sense for a segment of
    /// `segmentSizeBytes`: offsets and positions strictly growing, positions inside the segment.
    /// `problem` says why decoding stopped early (nil when every byte was used).
    static func decode(_ bytes: [UInt8], segmentSizeBytes: Int) -> (entries: [OffsetIndexEntry], problem: String?) {
        var entries: [OffsetIndexEntry] = []
        let whole = bytes.count / entrySize
        entries.reserveCapacity(whole)
        for index in 0 ..< whole {
            let base = index * entrySize
            let relative = Int32(bitPattern: readBigEndianUInt32(bytes, at: base))
            let position = Int32(bitPattern: readBigEndianUInt32(bytes, at: base + 4))
            if relative < 0 || position < 0 || Int(position) >= segmentSizeBytes {
                return (entries, "entry \(index) (\(relative), \(position)) is outside the segment of \(segmentSizeBytes) bytes")
            }
            if let last = entries.last, relative <= last.relativeOffset || position <= last.position {
                return (entries, "entry \(index) (\(relative), \(position)) does not follow (\(last.relativeOffset), \(last.position))")
            }
            entries.append(OffsetIndexEntry(relativeOffset: relative, position: position))
        }
        if bytes.count % entrySize != 0 {
            return (entries, "\(bytes.count) bytes is not a whole number of \(entrySize)-byte entries")
        }
        return (entries, nil)
    }
}

@inline(__always)
func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes.append(UInt8(truncatingIfNeeded: value >> 24))
    bytes.append(UInt8(truncatingIfNeeded: value >> 16))
    bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    bytes.append(UInt8(truncatingIfNeeded: value))
}

@inline(__always)
func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
    appendBigEndian(UInt32(truncatingIfNeeded: value >> 32), to: &bytes)
    appendBigEndian(UInt32(truncatingIfNeeded: value), to: &bytes)
}

/// Reads 4 big-endian bytes at `offset`; the caller has checked the bounds.
@inline(__always)
func readBigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

@inline(__always)
func readBigEndianUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
    UInt64(readBigEndianUInt32(bytes, at: offset)) << 32 | UInt64(readBigEndianUInt32(bytes, at: offset + 4))
}
