import NIOCore
@testable import RivuletClient
import RivuletCore
import Testing

@Suite struct PartitionerTests {
    /// Kafka's `UtilsTest.testMurmur2` vectors.
    @Test(arguments: [
        ("21", Int32(-973_932_308)),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
    ])
    func murmur2_matchesKafkaUtilsTest(input: String, expected: Int32) {
        #expect(Partitioner.murmur2(Array(input.utf8)) == expected)
        #expect(Partitioner.murmur2(ByteBuffer(string: input)) == expected)
    }

    /// More vectors, from the Akka and librdkafka suites that check against Kafka's murmur2.
    @Test(arguments: [("1", Int32(-1_993_445_489)), ("12", 126_087_238), ("123", -267_702_483), ("1234", -1_614_185_708),
                      ("12345", -1_188_365_604), ("", 275_646_681)])
    func murmur2_moreVectors(input: String, expected: Int32) {
        #expect(Partitioner.murmur2(Array(input.utf8)) == expected)
    }

    @Test func partitionForKey_isToPositiveModuloCount() {
        // Java: Utils.toPositive(-790332482) % 8 == 1357151166 % 8 == 6
        let key = Array("foobar".utf8)
        let partition = key.withUnsafeBytes { Partitioner.partition(forKey: $0, partitionCount: 8) }
        #expect(partition == 6)
        for count in 1 ... 50 {
            let expected = Int32((Int(Partitioner.murmur2(key)) & 0x7FFF_FFFF) % count)
            #expect(key.withUnsafeBytes { Partitioner.partition(forKey: $0, partitionCount: count) } == expected)
        }
    }

    @Test func nextStickyPartition_neverRepeatsThePreviousAndCoversAll() {
        var random = SeededGenerator(seed: 42)
        var seen = Set<Int32>()
        var previous: Int32 = -1
        for _ in 0 ..< 2000 {
            let next = Partitioner.nextStickyPartition(previous: previous, partitionCount: 6, available: nil, random: &random)
            #expect(next != previous)
            #expect((0 ..< 6).contains(next))
            seen.insert(next)
            previous = next
        }
        #expect(seen.count == 6)
        #expect(Partitioner.nextStickyPartition(previous: 0, partitionCount: 1, available: nil, random: &random) == 0)
    }

    @Test func nextStickyPartition_prefersPartitionsWithALeader() {
        var random = SeededGenerator(seed: 7)
        let available = [false, true, false, true]
        for _ in 0 ..< 200 {
            let next = Partitioner.nextStickyPartition(previous: 1, partitionCount: 4, available: available, random: &random)
            #expect(next == 3)
        }
    }
}
