import Benchmark

func registerEngineBenchmarks() {}
