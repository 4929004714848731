import Logging
import NIOCore
import RivuletCore
import RivuletWire
import Testing
@testable import RivuletStorage

/// The store stamps the leader's epoch into its own copy of a batch (as it stamps the base offset),
/// and the memory engine's pre-faulted chunk reserve.
@Suite struct LeaderEpochStampTests {
    @Test(arguments: Backend.allCases)
    func append_stampsTheLeaderEpoch_inTheStoredCopyOnly(backend: Backend) throws {
        let harness = try Harness(backend)
        let log = try harness.open()
        let first = makeBatch(records: 3, timestampMs: 1_700_000_000_000)
        let callerBytes = Array(first.buffer.readableBytesView)
        let builtEpoch = first.header.partitionLeaderEpoch
        _ = try log.append(first, assignOffsets: true, partitionLeaderEpoch: 7)
        // The caller's buffer is untouched.
        #expect(Array(first.buffer.readableBytesView) == callerBytes)
        #expect(first.header.partitionLeaderEpoch == builtEpoch)
        // Without an epoch the batch keeps its own (a follower's append); a later leader stamps its own.
        var second = makeBatch(records: 2, timestampMs: 1_700_000_000_010)
        second.setPartitionLeaderEpoch(3)
        _ = try log.append(second, assignOffsets: true)
        let third = makeBatch(records: 1, timestampMs: 1_700_000_000_020)
        _ = try log.append(third, assignOffsets: true, partitionLeaderEpoch: Int32.max)

        let read = try log.read(from: 0, maxBytes: 1 << 20, maxOffset: nil)
        let stored = try batches(in: read.records)
        try #require(stored.count == 3)
        #expect(stored.map(\.header.partitionLeaderEpoch) == [7, 3, Int32.max])
        #expect(stored.map(\.header.baseOffset) == [0, 3, 5])
        // Everything after the stamped fields is the producer's bytes.
        let storedFirst = Array(stored[0].buffer.readableBytesView)
        #expect(storedFirst[16...] == callerBytes[16...])
        #expect(stored.allSatisfy { $0.isChecksumValid })
        try log.close()
    }

    @Test(arguments: Backend.durable)
    func stampedEpoch_survivesARestart(backend: Backend) throws {
        let harness = try Harness(backend)
        var log = try harness.open()
        _ = try log.append(makeBatch(records: 4, timestampMs: 1_700_000_000_000), assignOffsets: true, partitionLeaderEpoch: 12)
        try log.close()
        try harness.restartEngine()
        log = try harness.openFullRecovery()
        let stored = try batches(in: try log.read(from: 0, maxBytes: 1 << 20, maxOffset: nil).records)
        #expect(stored.map(\.header.partitionLeaderEpoch) == [12])
        try log.close()
    }

    @Test func memoryURL_reserveOption_isParsedAndChecked() throws {
        #expect(try StorageURL("memory://").memoryReserveBytes == 0)
        #expect(try StorageURL("memory://?reserve.bytes=33554432").memoryReserveBytes == 33_554_432)
        #expect(try StorageURL("memory://").memoryHugePages == false)
        let both = try StorageURL("memory://?huge.pages=true&reserve.bytes=1024")
        #expect(both.memoryHugePages && both.memoryReserveBytes == 1024)
        for bad in ["memory://?reserve.bytes=-1", "memory://?reserve.bytes=lots", "memory://?reserve=1",
                    "memory://?huge.pages=yes", "memory://?huge.pages",
                    "memory://?reserve.bytes", "memory://?reserve.bytes=\(StorageURL.memoryReserveBytesMax + 1)"] {
            #expect(throws: StorageError.self, "\(bad)") { _ = try StorageURL(bad) }
        }
    }

    @Test func chunkPool_fillsItsReserve_inTheBackground_andHandsOutResidentChunks() async throws {
        let reserve = 2 * MemoryChunkPool.chunkBytesMax
        let pool = MemoryChunkPool(reserveBytes: reserve)
        // Bounded wait: the fill is two 16 MiB chunks.
        for _ in 0 ..< 500 where pool.idleBytes < reserve {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(pool.idleBytes == reserve)
        // A small request does not take a reserve chunk (it would pin 16 MiB for a small log).
        let small = pool.take(capacity: MemoryChunkPool.chunkBytesMin)
        #expect(small.capacity < MemoryChunkPool.chunkBytesMax)
        #expect(pool.idleBytes == reserve)
        // A large one does, empty, and the pool tops the reserve up again.
        let large = pool.take(capacity: MemoryChunkPool.chunkBytesMax)
        #expect(large.capacity >= MemoryChunkPool.chunkBytesMax && large.readableBytes == 0)
        for _ in 0 ..< 500 where pool.idleBytes < reserve {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(pool.idleBytes == reserve)
    }

    @Test func memoryEngine_withAReserve_storesAndReadsLikeAnyOther() throws {
        let engine = try StorageEngines.open(url: "memory://?reserve.bytes=16777216&huge.pages=true", clock: ManualClock(wallMilliseconds: 1_700_000_000_000),
                                             logger: Logger(label: "test"))
        let log = try engine.openLog(TopicPartition(topic: "reserve", partition: 0), config: LogConfig())
        var appended: [AppendedBatch] = []
        for index in 0 ..< 200 {
            appended.append(try append(log, makeBatch(records: 100, valueBytes: 1000, timestampMs: 1_700_000_000_000 + Int64(index))))
        }
        #expect(try readAll(log) == appended)
        try log.close()
    }
}
