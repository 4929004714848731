import NIOCore
import RivuletCore

/// Kafka's partitioning, bit for bit: records with a key go to
/// `toPositive(murmur2(key)) % partitionCount` (Java's `BuiltInPartitioner.partitionForKey`), so a
/// key lands on the same partition whichever Kafka client produced it; records without a key
/// stick to one partition until its batch is closed (KIP-480), then move to another at random.
public enum Partitioner {
    /// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed 0x9747b28c, little-endian 4-byte
    /// blocks, as a signed Java int.
    @inlinable
    public static func murmur2(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let m: UInt32 = 0x5BD1_E995
        let r: UInt32 = 24
        let length = bytes.count
        var h: UInt32 = 0x9747_B28C ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        var index = 0
        while index < blocks {
            var k = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self))
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
            index &+= 1
        }
        let tail = length & ~3
        switch length & 3 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h = h &* m
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h = h &* m
        case 1:
            h ^= UInt32(bytes[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// `murmur2` of an array's bytes.
    @inlinable
    public static func murmur2(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { murmur2($0) }
    }

    /// `murmur2` of a buffer's readable bytes.
    @inlinable
    public static func murmur2(_ buffer: ByteBuffer) -> Int32 {
        buffer.withUnsafeReadableBytes { murmur2($0) }
    }

    /// Kafka's `Utils.toPositive(murmur2(key)) % partitionCount`. `partitionCount` must be > 0.
    @inlinable
    public static func partition(forKeyHash hash: Int32, partitionCount: Int) -> Int32 {
        precondition(partitionCount > 0, "a topic has at least one partition")
        return Int32(truncatingIfNeeded: Int(hash & 0x7FFF_FFFF) % partitionCount)
    }

    /// The partition of a record with `key` (Kafka's default partitioner).
    @inlinable
    public static func partition(forKey key: UnsafeRawBufferPointer, partitionCount: Int) -> Int32 {
        partition(forKeyHash: murmur2(key), partitionCount: partitionCount)
    }

    /// The next sticky partition for records without a key (KIP-480): uniformly random among the
    /// partitions that have a leader, different from `previous` when there is a choice.
    ///
    /// - Parameters:
    ///   - available: whether partition i currently has a leader (nil: assume all do).
    static func nextStickyPartition(previous: Int32, partitionCount: Int, available: [Bool]?,
                                    random: inout SeededGenerator) -> Int32 {
        precondition(partitionCount > 0, "a topic has at least one partition")
        let previous = previous < Int32(truncatingIfNeeded: partitionCount) ? previous : -1
        var candidates: [Int32] = []
        if let available, available.count == partitionCount {
            for partition in 0 ..< partitionCount where available[partition] && Int32(partition) != previous {
                candidates.append(Int32(partition))
            }
            if candidates.isEmpty, previous >= 0, Int(previous) < partitionCount, available[Int(previous)] { return previous }
        }
        if !candidates.isEmpty { return candidates[Int(random.next() % UInt64(candidates.count))] }
        guard partitionCount > 1 else { return 0 }
        // Pick among all partitions but the previous one.
        var pick = Int32(truncatingIfNeeded: Int(random.next() % UInt64(partitionCount - (previous >= 0 ? 1 : 0))))
        if previous >= 0, pick >= previous { pick += 1 }
        return pick
    }
}
