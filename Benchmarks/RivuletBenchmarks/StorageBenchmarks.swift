import Benchmark

func registerStorageBenchmarks() {}
