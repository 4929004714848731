import Benchmark
import NIOCore
import RivuletCore
import RivuletStorage
import RivuletWire

#if canImport(Glibc)
import Glibc
#endif

// Append and read of 1 MiB batches on each storage backend. Results and the command that produced
// them: results/storage-benchmarks.md.
//
// Appends run in the steady state of a broker: 64 MiB segments and retention.bytes 256 MiB, enforced
// every 64 appends, so memory and disk use stay bounded and freed space is reused. The ".cold" memory
// variant has no retention: every append writes into fresh memory.

/// One benchmark's log, opened in setup and closed in teardown.
private final class StorageBench: @unchecked Sendable {
    // @unchecked Sendable: the benchmark runs its setup, closure and teardown one after another.
    let scheme: String
    let config: LogConfig
    let batch = SyntheticBatch.make(totalBytes: 1 << 20, timestampMs: 1_700_000_000_000)
    private var directory: String?
    private var engine: (any StorageEngine)?
    private(set) var log: (any LogStore)?
    private var appended = 0
    private var readOffset: Int64 = 0
    private let partition = TopicPartition(topic: "bench", partition: 0)
    private let prefilledBatches: Int

    init(scheme: String, retentionBytes: Int64, prefilledBatches: Int = 0) {
        self.scheme = scheme
        config = LogConfig(segmentBytes: 64 << 20, retentionBytes: retentionBytes, retentionMs: -1, maxMessageBytes: 2 << 20)
        self.prefilledBatches = prefilledBatches
    }

    func open() throws {
        var url = "memory://"
        if scheme != "memory" {
            var template = Array("/tmp/rivulet-bench-XXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
                guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
                return String(cString: result)
            }
            guard let made else { throw LogRoundtrip.Failure(description: "mkdtemp failed") }
            directory = made
            url = "\(scheme)://\(made)"
        }
        let engine = try StorageEngines.open(url: url, clock: SystemClock())
        self.engine = engine
        let log = try engine.openLog(partition, config: config)
        self.log = log
        for _ in 0 ..< prefilledBatches { _ = try log.append(batch, assignOffsets: true) }
    }

    func appendOne() throws {
        guard let log else { return }
        blackHole(try log.append(batch, assignOffsets: true))
        appended += 1
        if appended % 64 == 0, config.retentionBytes >= 0 {
            blackHole(try log.enforceRetention(nowMs: 0))
        }
    }

    func readOne() throws {
        guard let log else { return }
        let read = try log.read(from: readOffset, maxBytes: 1 << 20, maxOffset: nil)
        precondition(read.batchCount == 1, "a 1 MiB read returns one 1 MiB batch")
        blackHole(read)
        readOffset = read.nextOffset < log.logEndOffset ? read.nextOffset : log.logStartOffset
    }

    func close() throws {
        try log?.close()
        log = nil
        if let engine {
            try engine.deleteLog(partition)
            try engine.close()
        }
        engine = nil
        if let directory {
            for name in [".lock", ".documents"] { _ = unlink(directory + "/" + name) }
            _ = rmdir(directory)
        }
    }
}

func registerStorageBenchmarks() {
    let metrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]
    let bounded: Int64 = 256 << 20
    for scheme in ["memory", "file", "mmap"] {
        let appender = StorageBench(scheme: scheme, retentionBytes: bounded)
        Benchmark("Storage.append.1MiB.\(scheme)",
                  configuration: .init(metrics: metrics, maxDuration: .seconds(3), maxIterations: 20000),
                  closure: { benchmark in
                      for _ in benchmark.scaledIterations { try appender.appendOne() }
                  },
                  setup: { try appender.open() },
                  teardown: { try appender.close() })

        let reader = StorageBench(scheme: scheme, retentionBytes: -1, prefilledBatches: 192)
        Benchmark("Storage.read.1MiB.\(scheme)",
                  configuration: .init(metrics: metrics, maxDuration: .seconds(3), maxIterations: 20000),
                  closure: { benchmark in
                      for _ in benchmark.scaledIterations { try reader.readOne() }
                  },
                  setup: { try reader.open() },
                  teardown: { try reader.close() })
    }
    // Without retention every append writes into memory never touched before (page faults included).
    let cold = StorageBench(scheme: "memory", retentionBytes: -1)
    Benchmark("Storage.append.1MiB.memory.cold",
              configuration: .init(metrics: metrics, maxDuration: .seconds(3), maxIterations: 1000),
              closure: { benchmark in
                  for _ in benchmark.scaledIterations { try cold.appendOne() }
              },
              setup: { try cold.open() },
              teardown: { try cold.close() })
}
