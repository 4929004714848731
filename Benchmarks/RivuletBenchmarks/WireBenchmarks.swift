import Benchmark
import NIOCore
import RivuletWire

// Wire benchmarks: CRC-32C, record batch encode and decode for every codec, decode throughput,
// and allocation counts proving that encode and decode allocate nothing per record.
// Run: swift package benchmark --filter 'Wire.*'   (results and figures: results/wire-benchmarks.md)

/// `count` records of a 100-byte value and no key, the OpenMessaging Benchmark's default message.
/// The bytes cycle through 16 letters with a pseudo-random walk, so they compress moderately.
private func wireBenchmarkValues(count: Int, valueSize: Int = 100) -> [[UInt8]] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    return (0 ..< count).map { _ in
        (0 ..< valueSize).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return 0x61 + UInt8(truncatingIfNeeded: state >> 60)
        }
    }
}

/// A builder that has already grown its buffers, as a producer's per-partition builder has.
private func warmBuilder(_ codec: CompressionCodec, values: [[UInt8]]) -> RecordBatchBuilder {
    var builder = RecordBatchBuilder(compression: codec, initialCapacityBytes: values.count * 128 + 4096,
                                     compressionContext: CompressionContext())
    appendAll(&builder, values)
    _ = try? builder.build()
    builder.reset()
    return builder
}

private func appendAll(_ builder: inout RecordBatchBuilder, _ values: [[UInt8]]) {
    for value in values {
        _ = try? builder.append(timestampMs: 1_700_000_000_000, key: nil, value: value)
    }
}

private func buildBatch(_ codec: CompressionCodec, values: [[UInt8]]) -> RecordBatch? {
    var builder = RecordBatchBuilder(compression: codec)
    appendAll(&builder, values)
    return try? builder.build()
}

/// Decodes every record and touches its value, as a consumer does; returns a checksum of lengths.
private func decodeAll(_ batch: RecordBatch, context: CompressionContext) -> Int {
    var total = 0
    do {
        try batch.forEachRecord(context: context) { record in
            total &+= record.valueLength &+ Int(record.offsetDelta)
        }
    } catch {
        return -1
    }
    return total
}

func registerWireBenchmarks() {
    let oneMiB = wireBenchmarkValues(count: 1, valueSize: 1 << 20)[0]
    let crcConfiguration = Benchmark.Configuration(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                                   maxDuration: .seconds(2), maxIterations: 2_000)
    if CRC32C.hardwareAvailable {
        Benchmark("Wire.CRC32C.hardware.1MiB", configuration: crcConfiguration) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(oneMiB.withUnsafeBytes { CRC32C.hardware($0) }) }
        }
    }
    Benchmark("Wire.CRC32C.software.1MiB", configuration: crcConfiguration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(oneMiB.withUnsafeBytes { CRC32C.software($0) }) }
    }

    // Encode and decode of 1,000 x 100 B records, one batch per iteration.
    let values = wireBenchmarkValues(count: 1_000)
    let batchConfiguration = Benchmark.Configuration(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                                     maxDuration: .seconds(2), maxIterations: 5_000)
    for codec in CompressionCodec.allCases {
        var builder = warmBuilder(codec, values: values)
        Benchmark("Wire.Encode.\(codec).1000x100B", configuration: batchConfiguration) { _ in
            builder.reset()
            appendAll(&builder, values)
            blackHole(try? builder.build())
        }
        guard let batch = buildBatch(codec, values: values) else { continue }
        let context = CompressionContext()
        Benchmark("Wire.Decode.\(codec).1000x100B", configuration: batchConfiguration) { _ in
            blackHole(decodeAll(batch, context: context))
        }
        // The same decode, scaled so that one "iteration" is one record: throughput is records/s.
        Benchmark("Wire.DecodeRecords.\(codec).1000x100B",
                  configuration: .init(metrics: [.throughput, .wallClock], scalingFactor: .kilo,
                                       maxDuration: .seconds(2), maxIterations: 5_000)) { _ in
            blackHole(decodeAll(batch, context: context))
        }
    }

    // Allocation counts per batch for batches of growing size: flat means none per record.
    // No .peakMemoryResident here: its sampler adds mallocs (recipes P6).
    let mallocConfiguration = Benchmark.Configuration(metrics: [.mallocCountTotal, .wallClock],
                                                      warmupIterations: 3, maxDuration: .seconds(1), maxIterations: 200)
    for count in [10, 100, 1_000, 10_000] {
        let countValues = wireBenchmarkValues(count: count)
        var builder = warmBuilder(.none, values: countValues)
        Benchmark("Wire.Allocations.Encode.none.\(count)", configuration: mallocConfiguration) { _ in
            builder.reset()
            appendAll(&builder, countValues)
            blackHole(try? builder.build())
        }
        guard let batch = buildBatch(.none, values: countValues) else { continue }
        let context = CompressionContext()
        Benchmark("Wire.Allocations.Decode.none.\(count)", configuration: mallocConfiguration) { _ in
            blackHole(decodeAll(batch, context: context))
        }
    }
}
