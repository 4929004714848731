import Foundation
import Synchronization
@testable import RivuletWorkload

/// Paths and helpers shared by the workload tests.
enum TestSupport {
    /// The repository root (three levels above this file).
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0 ..< 3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var workloadsDirectory: String { repositoryRoot + "/workloads" }
    static var sourcesDirectory: String { repositoryRoot + "/Sources/RivuletWorkload" }

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "rivulet-workload-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A minimal valid spec; `extra` lines are appended.
    static func specText(_ extra: String = "") -> String {
        """
        name: test
        topics: 1
        partitionsPerTopic: 2
        messageSize: 64
        useRandomizedPayloads: true
        randomizedPayloadPoolSize: 4
        subscriptionsPerTopic: 1
        consumerPerSubscription: 1
        producersPerTopic: 1
        producerRate: 1000
        testDurationSeconds: 1
        warmupDurationSeconds: 0
        \(extra)
        """
    }

    /// A spec for runner tests, built in code.
    static func runnerSpec(rate: Double = 2000, test: Duration = .milliseconds(800), warmup: Duration = .zero,
                           window: Duration = .milliseconds(200), partitions: Int = 2, producers: Int = 1,
                           subscriptions: Int = 1, consumers: Int = 1, messageSize: Int = 64) -> WorkloadSpec {
        var spec = WorkloadSpec(name: "runner-test")
        spec.partitionsPerTopic = partitions
        spec.producersPerTopic = producers
        spec.subscriptionsPerTopic = subscriptions
        spec.consumerPerSubscription = consumers
        spec.messageSize = messageSize
        spec.producerRate = rate
        spec.testDuration = test
        spec.warmupDuration = warmup
        spec.window = window
        spec.randomizedPayloadPoolSize = 4
        return spec
    }

    static let environment = WorkloadEnvironment(host: "test-host", cores: 2, os: "Linux test", swiftVersion: "6.3", gitCommit: nil)

    /// Runner options for tests: fixed environment, short timeouts.
    static func options(progress: (any WorkloadProgressSink)? = nil, probePeriod: Duration = .milliseconds(200)) -> WorkloadRunner.Options {
        WorkloadRunner.Options(progress: progress, probeControlPeriod: probePeriod, readinessTimeout: .seconds(5),
                               closeTimeout: .seconds(2), environment: environment)
    }
}

/// Collects progress lines.
final class CollectingProgressSink: WorkloadProgressSink {
    private let state = Mutex<(updates: [WorkloadProgress], finished: Bool)>(([], false))
    func update(_ progress: WorkloadProgress) { state.withLock { $0.updates.append(progress) } }
    func finish() { state.withLock { $0.finished = true } }
    var updates: [WorkloadProgress] { state.withLock { $0.updates } }
    var finished: Bool { state.withLock { $0.finished } }
}
