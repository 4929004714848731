import RivuletWire

/// What a backend provides to `SegmentedLog` beyond segment bytes: creating segments, and the
/// partition-wide durable state (directory entries, the recovery checkpoint).
protocol LogBackend {
    /// Whether bytes survive the process (file, mmap) or not (memory).
    var isDurable: Bool { get }

    /// Creates an empty segment starting at `baseOffset` with room for `capacityBytes` where the
    /// backend preallocates. Replaces leftovers of an earlier segment with the same name.
    func createSegment(baseOffset: Int64, capacityBytes: Int, nowMs: Int64) throws(StorageError) -> any SegmentStorage

    /// Makes segment file creations and deletions durable (fsync of the partition directory).
    func syncDirectory() throws(StorageError)

    /// Writes the partition checkpoint atomically.
    func writeCheckpoint(_ checkpoint: PartitionCheckpoint) throws(StorageError)

    /// Called once when the log closes, after its segments are closed: the memory backend keeps
    /// them for a later reopen; durable backends release the partition in their engine.
    func didClose(segments: [LogSegment], logStartOffset: Int64)
}

/// What a log records about itself between runs: the recovery point, the log start offset (which
/// `deleteRecords` can move inside a segment) and whether it was closed cleanly.
struct PartitionCheckpoint: Sendable, Hashable {
    var recoveryPoint: Int64
    var logStartOffset: Int64
    var cleanShutdown: Bool

    static let fileName = "rivulet.checkpoint"
    static let version = 1

    /// Text: `version`, `recoveryPoint`, `logStartOffset`, `clean` (0 or 1), then the CRC-32C of the
    /// lines before it in hex; one value per line.
    func encode() -> [UInt8] {
        let body = "\(Self.version)\n\(recoveryPoint)\n\(logStartOffset)\n\(cleanShutdown ? 1 : 0)\n"
        let bytes = Array(body.utf8)
        return bytes + Array("\(String(Self.crc32c(bytes), radix: 16))\n".utf8)
    }

    /// Decodes a checkpoint; nil with a reason when the bytes are not one.
    static func decode(_ bytes: [UInt8]) -> Result<PartitionCheckpoint, CheckpointError> {
        guard let text = String(validating: bytes, as: UTF8.self) else { return .failure(.init(reason: "not UTF-8")) }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 6, lines[5].isEmpty else { return .failure(.init(reason: "expected 5 lines")) }
        let body = Array(lines[0 ..< 4].joined(separator: "\n").utf8) + [UInt8(ascii: "\n")]
        guard let storedCRC = UInt32(lines[4], radix: 16), storedCRC == crc32c(body) else {
            return .failure(.init(reason: "checksum mismatch"))
        }
        guard let version = Int(lines[0]), version == Self.version else {
            return .failure(.init(reason: "unsupported version \(lines[0])"))
        }
        guard let recoveryPoint = Int64(lines[1]), recoveryPoint >= 0, let logStart = Int64(lines[2]), logStart >= 0,
              let clean = Int(lines[3]), clean == 0 || clean == 1
        else { return .failure(.init(reason: "bad values")) }
        return .success(PartitionCheckpoint(recoveryPoint: recoveryPoint, logStartOffset: logStart, cleanShutdown: clean == 1))
    }

    struct CheckpointError: Error {
        var reason: String
    }

    private static func crc32c(_ bytes: [UInt8]) -> UInt32 { CRC32C.checksum(bytes) }
}
