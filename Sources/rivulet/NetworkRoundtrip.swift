import ArgumentParser
import NIOCore
import RivuletClient
import RivuletCore

/// `rivulet log roundtrip --bootstrap host:port`: the storage round trip through a broker. Produces
/// numbered records with acks=all into one partition, reads them back from the first offset written,
/// and checks that every record came back once, in order, at consecutive offsets, with its bytes.
struct NetworkRoundtrip {
    let session: ClientSession
    let topic: String
    let partition: Int32
    let records: Int
    let recordBytes: Int
    let keep: Bool

    /// What a round trip measured.
    struct Report {
        var firstOffset: Int64
        var produceNanoseconds: UInt64
        var consumeNanoseconds: UInt64
        var recordsVerified: Int
    }

    func run() async throws -> Report {
        let clock = SystemClock()
        let admin = Admin(cluster: session.cluster)
        let existing = try await admin.listTopics(includeInternal: false)
        var created = false
        if !existing.contains(topic) {
            _ = try await admin.createTopic(NewTopic(name: topic, partitions: partition + 1))
            created = true
        }

        var producerConfig = ProducerConfig()
        producerConfig.acks = .all
        producerConfig.lingerMs = 0
        producerConfig.batchSizeBytes = max(16384, recordBytes + 128)
        producerConfig.maxRequestSizeBytes = max(1_048_576, recordBytes + 1024)
        let producer = try Producer(cluster: session.cluster, config: producerConfig)
        var value = ByteBuffer(repeating: 0x72, count: max(8, recordBytes))
        var firstOffset: Int64?
        let produceStart = clock.monotonicNanoseconds()
        for index in 0..<records {
            value.setInteger(UInt64(index), at: value.readerIndex)
            let metadata = try await producer.send(topic: topic, partition: partition, key: nil, value: value)
            if firstOffset == nil { firstOffset = metadata.offset }
        }
        await producer.close()
        let produceNanoseconds = clock.monotonicNanoseconds() - produceStart
        guard let firstOffset else {
            return Report(firstOffset: -1, produceNanoseconds: produceNanoseconds, consumeNanoseconds: 0, recordsVerified: 0)
        }

        var consumerConfig = ConsumerConfig()
        consumerConfig.autoOffsetReset = .none
        consumerConfig.maxPartitionFetchBytes = max(1_048_576, recordBytes + 1024)
        let consumer = try Consumer(cluster: session.cluster, config: consumerConfig)
        let assigned = TopicAndPartition(topic: topic, partition: partition)
        consumer.assign([assigned])
        try consumer.seek(assigned, to: firstOffset)
        var verified = 0
        var expectedOffset = firstOffset
        let consumeStart = clock.monotonicNanoseconds()
        let deadline = consumeStart + 120 * 1_000_000_000
        while verified < records {
            guard clock.monotonicNanoseconds() < deadline else {
                throw ValidationError("read back \(verified) of \(records) records within 120 s")
            }
            let polled = try await consumer.poll(timeoutMs: 1000)
            var mismatch: String?
            try polled.forEach { record in
                guard mismatch == nil, verified < records else { return }
                guard record.offset == expectedOffset else {
                    mismatch = "expected offset \(expectedOffset), read \(record.offset)"
                    return
                }
                guard let bytes = record.value, bytes.readableBytes == value.readableBytes,
                      bytes.getInteger(at: bytes.readerIndex, as: UInt64.self) == UInt64(verified)
                else {
                    mismatch = "offset \(record.offset) does not hold record \(verified) as written"
                    return
                }
                verified += 1
                expectedOffset += 1
            }
            if let mismatch { throw ValidationError("roundtrip failed: \(mismatch)") }
        }
        let consumeNanoseconds = clock.monotonicNanoseconds() - consumeStart
        await consumer.close()
        if created && !keep { try? await admin.deleteTopic(topic) }
        return Report(firstOffset: firstOffset, produceNanoseconds: produceNanoseconds,
                      consumeNanoseconds: consumeNanoseconds, recordsVerified: verified)
    }
}
