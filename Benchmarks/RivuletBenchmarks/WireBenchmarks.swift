import Benchmark

func registerWireBenchmarks() {}
