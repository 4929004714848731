import Benchmark

// One file per area registers its benchmarks; results and budgets are recorded in results/.
let benchmarks: @Sendable () -> Void = {
    registerWireBenchmarks()
    registerStorageBenchmarks()
    registerEngineBenchmarks()
}
