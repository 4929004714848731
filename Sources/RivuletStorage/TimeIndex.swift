/// One time index entry: the largest timestamp seen in the segment up to some batch, and the last
/// offset (relative) of the batch that first carried it. Kafka's `.timeindex` entry: int64 + int32.
struct TimeIndexEntry: Hashable, Sendable {
    var timestampMs: Int64
    var relativeOffset: Int32
}

/// A segment's sparse time index (Kafka's `TimeIndex`): written next to each offset index entry when
/// the segment's largest timestamp has grown, plus a last entry when the segment stops being active.
/// Timestamps in it strictly grow, so ListOffsets finds where to start scanning by a binary search.
struct TimeIndex: Sendable {
    static let entrySize = 12

    private(set) var entries: [TimeIndexEntry] = []
    /// How many leading entries the index file holds as they are in memory.
    var persistedCount = 0
    /// The file holds entries past `persistedCount` that must be cut before the next write.
    var fileNeedsTruncation = false

    init() {}

    init(loaded entries: [TimeIndexEntry]) {
        self.entries = entries
        persistedCount = entries.count
    }

    var count: Int { entries.count }
    var last: TimeIndexEntry? { entries.last }
    var unpersistedCount: Int { entries.count - persistedCount }

    /// Adds an entry when `timestampMs` is larger than the last one's (and not -1), as Kafka's
    /// `maybeAppend` does. Returns whether it added one.
    @discardableResult
    mutating func maybeAppend(timestampMs: Int64, relativeOffset: Int32) -> Bool {
        guard timestampMs >= 0 else { return false }
        if let last = entries.last {
            // Offsets never go back in a consistent segment; as for the offset index, an entry that
            // would (bytes changed under the log) is left out rather than trusted.
            guard timestampMs > last.timestampMs, relativeOffset >= last.relativeOffset else { return false }
        }
        entries.append(TimeIndexEntry(timestampMs: timestampMs, relativeOffset: relativeOffset))
        return true
    }

    /// The last entry whose timestamp is at most `target`, or nil (start at the segment's beginning).
    func lookup(timestampMs target: Int64) -> TimeIndexEntry? {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].timestampMs <= target { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : entries[low - 1]
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

    /// Drops the entries whose relative offset is above `relativeOffset`.
    mutating func truncate(keepingRelativeOffsetsAtMost relativeOffset: Int64) {
        var keep = entries.count
        while keep > 0, Int64(entries[keep - 1].relativeOffset) > relativeOffset { keep -= 1 }
        truncate(toCount: keep)
    }

    mutating func removeAll() {
        truncate(toCount: 0)
        fileNeedsTruncation = true
    }

    /// The big-endian bytes of entries `[from, count)`.
    func encode(from start: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity((entries.count - start) * Self.entrySize)
        for entry in entries[start...] {
            appendBigEndian(UInt64(bitPattern: entry.timestampMs), to: &bytes)
            appendBigEndian(UInt32(bitPattern: entry.relativeOffset), to: &bytes)
        }
        return bytes
    }

    /// Decodes a time index file, keeping the longest prefix with growing timestamps (not -1) and
    /// non-decreasing relative offsets no larger than `maxRelativeOffset`.
    static func decode(_ bytes: [UInt8], maxRelativeOffset: Int64) -> (entries: [TimeIndexEntry], problem: String?) {
        var entries: [TimeIndexEntry] = []
        let whole = bytes.count / entrySize
        entries.reserveCapacity(whole)
        for index in 0 ..< whole {
            let base = index * entrySize
            let timestamp = Int64(bitPattern: readBigEndianUInt64(bytes, at: base))
            let relative = Int32(bitPattern: readBigEndianUInt32(bytes, at: base + 8))
            if timestamp < 0 || relative < 0 || Int64(relative) > maxRelativeOffset {
                return (entries, "entry \(index) (\(timestamp), \(relative)) is out of range")
            }
            if let last = entries.last, timestamp <= last.timestampMs || relative < last.relativeOffset {
                return (entries, "entry \(index) (\(timestamp), \(relative)) does not follow (\(last.timestampMs), \(last.relativeOffset))")
            }
            entries.append(TimeIndexEntry(timestampMs: timestamp, relativeOffset: relative))
        }
        if bytes.count % entrySize != 0 {
            return (entries, "\(bytes.count) bytes is not a whole number of \(entrySize)-byte entries")
        }
        return (entries, nil)
    }
}
