// swift-tools-version: 5.4
// libFuzzer targets for Rivulet's decoders. Not part of the normal build: they need
// `-sanitize=fuzzer` and `-parse-as-library` (libFuzzer supplies `main`). Build and run them with
// `scripts/fuzz.sh`.
// Tools version 5.4 on purpose: from 5.5 SwiftPM links executables with `--defsym main=<module>_main`
// (testable executables), which clashes with libFuzzer's own `main`.
import PackageDescription

let package = Package(
    name: "RivuletFuzz",
    dependencies: [
        // The identity of a path dependency is its directory name unless `name:` is given (recipes P2).
        .package(name: "Rivulet", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", .exact("2.101.2")),
    ],
    targets: [
        // RivuletTransport and RivuletWire are reached through the RivuletBroker product.
        .executableTarget(name: "FuzzRequestDecoder", dependencies: [
            .product(name: "RivuletBroker", package: "Rivulet"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
    ]
)
