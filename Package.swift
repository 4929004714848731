// swift-tools-version: 6.1
// 6.1 is the minimum for `traits:` on the benchmark package (see ../shared/swift-recipes.md, P1).
import PackageDescription

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")

let package = Package(
    name: "Rivulet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rivulet", targets: ["rivulet"]),
        .library(name: "RivuletClient", targets: ["RivuletClient"]),
        .library(name: "RivuletBroker", targets: ["RivuletBroker"]),
        .plugin(name: "WorkloadPlugin", targets: ["WorkloadPlugin"]),
        .plugin(name: "ConformancePlugin", targets: ["ConformancePlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", exact: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", exact: "1.3.0"),
        .package(url: "https://github.com/apple/swift-system.git", exact: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", exact: "0.2.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", exact: "1.5.0"),
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // C libraries from Debian (scripts/setup.sh installs the -dev packages).
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CJemalloc", pkgConfig: "jemalloc", providers: [.apt(["libjemalloc-dev"])]),
        // SSE4.2 CRC-32C, enabled per function with __attribute__((target)), so no unsafeFlags.
        .target(name: "CCRC32C"),
        // The CPU's cycle counter (one inline instruction) for the producer's millisecond clock cache.
        .target(name: "CCycleCounter"),

        .target(name: "RivuletCore", dependencies: [
            "CCycleCounter",
            .product(name: "Atomics", package: "swift-atomics"),
        ]),
        .target(name: "RivuletWire", dependencies: [
            "CCRC32C", "CLZ4", "CZstd", "CSnappy", "RivuletCore", nioCore,
            .product(name: "CompressNIO", package: "compress-nio"),
        ]),
        .target(name: "RivuletStorage", dependencies: [
            "RivuletWire", "RivuletCore", nioCore, logging,
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "DequeModule", package: "swift-collections"),
        ]),
        .target(name: "RivuletCoordination", dependencies: [
            "RivuletCore", nioCore, nioPosix, logging,
        ]),
        .target(name: "RivuletTransport", dependencies: [
            "RivuletWire", "RivuletCore", nioCore, nioPosix, logging,
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        .target(name: "RivuletBroker", dependencies: [
            "RivuletWire", "RivuletStorage", "RivuletCoordination", "RivuletTransport", "RivuletCore",
            nioCore, logging,
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Atomics", package: "swift-atomics"),
        ]),
        .target(name: "RivuletClient", dependencies: [
            "RivuletWire", "RivuletTransport", "RivuletCore", nioCore, logging,
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Atomics", package: "swift-atomics"),
        ]),
        .target(name: "RivuletConformance", dependencies: [
            "RivuletClient", "RivuletBroker", "RivuletTransport", "RivuletStorage", "RivuletCoordination",
            "RivuletWire", "RivuletCore", nioCore, logging,
        ]),
        .target(name: "RivuletWorkload", dependencies: [
            "RivuletConformance", "RivuletClient", "RivuletBroker", "RivuletTransport", "RivuletStorage",
            "RivuletWire", "RivuletCore", nioCore, logging,
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "Atomics", package: "swift-atomics"),
        ], exclude: ["SPEC-KEYS.md", "MAX-RATE.md"]),
        .executableTarget(name: "rivulet", dependencies: [
            "RivuletWorkload", "RivuletConformance", "RivuletClient", "RivuletBroker", "RivuletTransport",
            "RivuletStorage", "RivuletCoordination", "RivuletWire", "RivuletCore", "CJemalloc",
            nioCore, nioPosix, logging,
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),

        // Test helpers shared by test targets (a real ZooKeeper server for the coordination and
        // replication suites); linked only into tests.
        .target(name: "RivuletTestSupport", dependencies: [nioCore, nioPosix], path: "Tests/RivuletTestSupport"),
        .testTarget(name: "RivuletCoreTests", dependencies: ["RivuletCore"]),
        .testTarget(name: "RivuletWireTests", dependencies: ["RivuletWire", "RivuletCore", nioCore], exclude: ["Fixtures/records"]),
        .testTarget(name: "RivuletStorageTests", dependencies: ["RivuletStorage", "RivuletWire", "RivuletCore", nioCore]),
        .testTarget(name: "RivuletCoordinationTests", dependencies: ["RivuletCoordination", "RivuletCore", "RivuletTestSupport", nioCore, nioPosix]),
        .testTarget(name: "RivuletTransportTests", dependencies: ["RivuletTransport", "RivuletWire", "RivuletCore", nioCore, nioPosix]),
        .testTarget(name: "RivuletBrokerTests", dependencies: [
            "RivuletBroker", "RivuletClient", "RivuletConformance", "RivuletTransport", "RivuletStorage", "RivuletCoordination",
            "RivuletWire", "RivuletCore", "RivuletTestSupport", nioCore, nioPosix,
        ]),
        .testTarget(name: "RivuletClientTests", dependencies: [
            "RivuletClient", "RivuletBroker", "RivuletTransport", "RivuletStorage", "RivuletWire", "RivuletCore", nioCore,
        ]),
        .testTarget(name: "RivuletConformanceTests", dependencies: ["RivuletConformance", "RivuletClient", "RivuletBroker", "RivuletCore"]),
        .testTarget(name: "RivuletWorkloadTests", dependencies: [
            "RivuletWorkload", "RivuletConformance", "RivuletClient", "RivuletBroker", "RivuletCore", nioCore,
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),

        .executableTarget(
            name: "RivuletBenchmarks",
            dependencies: [
                "RivuletWire", "RivuletStorage", "RivuletBroker", "RivuletClient", "RivuletTransport", "RivuletCore",
                nioCore, .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RivuletBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),

        .plugin(
            name: "WorkloadPlugin",
            capability: .command(
                intent: .custom(verb: "workload", description: "Build rivulet in release and run a workload spec"),
                permissions: []
            ),
            dependencies: ["rivulet"]
        ),
        .plugin(
            name: "ConformancePlugin",
            capability: .command(
                intent: .custom(verb: "conformance", description: "Build rivulet in release and run the conformance suites"),
                permissions: []
            ),
            dependencies: ["rivulet"]
        ),
    ]
)
