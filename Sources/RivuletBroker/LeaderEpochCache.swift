/// The first offset written in each leader epoch of one partition (Kafka's `LeaderEpochFileCache`).
///
/// Answers OffsetForLeaderEpoch (a follower or consumer asking where an epoch ended, to find where
/// its log diverges from the leader's) and the leader epoch of an offset for ListOffsets. Entries are
/// sorted by epoch and by start offset; both only grow. Owned by one `Partition`, under its lock.
public struct LeaderEpochCache: Sendable, Hashable {
    /// One epoch and the first offset the leader of that epoch wrote.
    public struct Entry: Sendable, Hashable {
        /// The leader epoch.
        public var epoch: Int32
        /// The first offset written in it.
        public var startOffset: Int64

        public init(epoch: Int32, startOffset: Int64) {
            self.epoch = epoch
            self.startOffset = startOffset
        }
    }

    /// Kafka's "no epoch" (-1).
    public static let undefinedEpoch: Int32 = -1
    /// Kafka's "no offset" answer of OffsetForLeaderEpoch (-1).
    public static let undefinedEpochOffset: Int64 = -1

    /// The entries, oldest epoch first.
    public private(set) var entries: [Entry] = []

    public init(entries: [Entry] = []) {
        self.entries = entries
    }

    /// The newest epoch, nil when the log has never had one.
    public var latestEpoch: Int32? { entries.last?.epoch }

    /// Records that `epoch` starts at `startOffset`. Ignored unless the epoch is newer than every
    /// known one (a batch of an older epoch carries no news); an entry for the same epoch keeps the
    /// earlier start.
    public mutating func assign(epoch: Int32, startOffset: Int64) {
        guard epoch >= 0 else { return }
        if let last = entries.last {
            if epoch <= last.epoch { return }
            if startOffset < last.startOffset {
                // A newer epoch cannot start before an older one; drop the entries it contradicts.
                entries.removeAll { $0.startOffset >= startOffset }
            }
        }
        entries.append(Entry(epoch: epoch, startOffset: startOffset))
    }

    /// The epoch in which `offset` was written, or -1 when it precedes every known epoch.
    public func epoch(forOffset offset: Int64) -> Int32 {
        var found = Self.undefinedEpoch
        for entry in entries {
            if entry.startOffset <= offset { found = entry.epoch } else { break }
        }
        return found
    }

    /// Kafka's `endOffsetFor`: for `requestedEpoch`, the largest known epoch at most that epoch and
    /// the offset where the next epoch starts (or `logEndOffset` for the latest epoch).
    /// Returns (-1, -1) when the epoch is newer than every known one or undefined.
    public func endOffset(for requestedEpoch: Int32, logEndOffset: Int64) -> (epoch: Int32, endOffset: Int64) {
        guard requestedEpoch != Self.undefinedEpoch, !entries.isEmpty else {
            return (Self.undefinedEpoch, Self.undefinedEpochOffset)
        }
        if requestedEpoch == latestEpoch { return (requestedEpoch, logEndOffset) }
        guard let higher = entries.first(where: { $0.epoch > requestedEpoch }) else {
            return (Self.undefinedEpoch, Self.undefinedEpochOffset)
        }
        guard let floor = entries.last(where: { $0.epoch <= requestedEpoch }) else {
            return (requestedEpoch, higher.startOffset)
        }
        return (floor.epoch, higher.startOffset)
    }

    /// Forgets what lies below a new log start offset: entries wholly below it go, and the newest of
    /// them is kept starting at `offset` (its epoch still covers the offsets that remain).
    public mutating func truncateFromStart(_ offset: Int64) {
        guard let firstKept = entries.lastIndex(where: { $0.startOffset <= offset }) else { return }
        entries.removeFirst(firstKept)
        entries[0].startOffset = offset
    }

    /// Forgets the epochs that start at or after `offset` (the log was truncated there).
    public mutating func truncateFromEnd(_ offset: Int64) {
        entries.removeAll { $0.startOffset >= offset }
    }
}
