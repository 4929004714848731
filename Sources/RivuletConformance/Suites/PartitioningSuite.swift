import NIOCore
import RivuletClient

/// Per-key partitioning: the client puts a keyed record on Kafka's murmur2 partition
/// (`toPositive(murmur2(key)) % partitions`, Java-compatible: Kafka's own test vectors), and the
/// broker stores and serves it there.
enum PartitioningSuite {
    static let partitions = 7
    static let records = 700

    /// Kafka's `UtilsTest.testMurmur2` vectors.
    static let vectors: [(String, Int32)] = [
        ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
    ]

    static func expectedPartition(_ key: String) -> Int32 {
        Partitioner.partition(forKeyHash: Partitioner.murmur2(Array(key.utf8)), partitionCount: partitions)
    }

    static let suite = ConformanceSuite(
        name: "partitioning",
        summary: "keyed records land on Kafka's murmur2 partition"
    ) { environment in
        let wrongVectors = vectors.filter { Partitioner.murmur2(Array($0.0.utf8)) != $0.1 }
        let topic = environment.topicPrefix
        _ = try await environment.admin().createTopic(NewTopic(name: topic, partitions: Int32(partitions)))
        let producer = try environment.producer { $0.lingerMs = 2 }
        var misplacedAcks = 0
        var keyOf: [Int64: String] = [:]
        for sequence in 0 ..< records {
            let key = "user-\(sequence % 101)"
            let value = SuiteSupport.value(process: 0, sequence: sequence)
            keyOf[value] = key
            let metadata = try await producer.send(topic: topic, key: ByteBuffer(string: key), value: SuiteSupport.encode(value))
            if metadata.partition != expectedPartition(key) { misplacedAcks += 1 }
        }
        await producer.close()
        let consumer = try environment.consumer()
        consumer.assign((0 ..< Int32(partitions)).map { TopicAndPartition(topic: topic, partition: $0) })
        let read = try await SuiteSupport.consume(consumer, process: 100, history: nil, timeout: .seconds(20)) { $0.count >= records }
        await consumer.close()
        let misplacedReads = read.filter { record in keyOf[record.value].map { expectedPartition($0) != record.partition.partition } ?? true }
        return [
            .check("partitioning.murmur2-vectors", wrongVectors.isEmpty,
                   wrongVectors.isEmpty ? "\(vectors.count) Kafka vectors match" : "mismatch for \(wrongVectors.map(\.0))"),
            .check("partitioning.acknowledged-on-key-partition", misplacedAcks == 0,
                   "\(records - misplacedAcks) of \(records) acknowledged on the key's partition"),
            .check("partitioning.stored-on-key-partition", misplacedReads.isEmpty && read.count == records,
                   "\(read.count - misplacedReads.count) of \(records) read from the key's partition"),
        ]
    }
}
