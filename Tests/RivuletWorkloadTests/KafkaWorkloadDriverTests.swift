import RivuletClient
import RivuletCore
import Synchronization
import Testing
@testable import RivuletWorkload

/// The Rivulet driver: completion mapping (unit), and short runs through the runner against the
/// embedded broker on each storage and transport, with faults.
@Suite(.serialized, .timeLimit(.minutes(1))) struct KafkaWorkloadDriverTests {
    final class Collected: Sendable {
        let results = Mutex<[WorkloadSendResult]>([])
        var all: [WorkloadSendResult] { results.withLock { $0 } }
        func completion() -> WorkloadSendCompletion { { result in self.results.withLock { $0.append(result) } } }
    }

    static func metadata(_ partition: Int32, _ offset: Int64) -> Result<RecordMetadata, ClientError> {
        .success(RecordMetadata(topic: "t", partition: partition, offset: offset, timestampMs: 0))
    }

    @Test func sendTracker_mapsPerPartitionCompletions_toRecordIndices_inRuns() {
        // Records 0..5 go to partitions 0, 0, 1, 0, 1, 1.
        let clock = ManualClock()
        let collected = Collected()
        let tracker = SendTracker(partitions: [0, 0, 1, 0, 1, 1], partitionCount: 2, clock: clock, completion: collected.completion())
        tracker.completed(partition: 0, Self.metadata(0, 10)) // record 0
        tracker.completed(partition: 0, Self.metadata(0, 11)) // record 1: extends the run
        tracker.completed(partition: 1, Self.metadata(1, 5))  // record 2: flushes 0..<2
        clock.advance(by: .milliseconds(3))
        tracker.completed(partition: 0, Self.metadata(0, 12)) // record 3: flushes 2..<3
        tracker.completed(partition: 1, .failure(.timedOut(operation: "x", config: "delivery.timeout.ms", afterMs: 1))) // record 4
        tracker.completed(partition: 1, Self.metadata(1, 7))  // record 5: the last one flushes everything
        let results = collected.all
        #expect(results.map(\.records) == [0 ..< 2, 2 ..< 3, 3 ..< 4, 4 ..< 5, 5 ..< 6])
        #expect(results.map(\.baseOffset) == [10, 5, 12, -1, 7])
        #expect(results.map(\.partition) == [0, 1, 0, 1, 1])
        #expect(results[3].error?.code == "TIMEOUT")
        #expect(results[0].completedAtNanoseconds == 0 && results[2].completedAtNanoseconds == 3_000_000)
        // Every index exactly once.
        #expect(results.flatMap { Array($0.records) }.sorted() == Array(0 ..< 6))
    }

    @Test func sendTracker_skipsRecordsRefusedBeforeSending_andIgnoresExtraCompletions() {
        let clock = ManualClock()
        let collected = Collected()
        let tracker = SendTracker(partitions: [0, 0, 0], partitionCount: 1, clock: clock, completion: collected.completion())
        tracker.completed(partition: 0, Self.metadata(0, 0))       // record 0
        tracker.failedBeforeSending(index: 1, partition: 0, error: .closed)
        tracker.completed(partition: 0, Self.metadata(0, 1))       // record 2, not 1
        tracker.completed(partition: 0, Self.metadata(0, 2))       // extra: ignored
        let results = collected.all
        #expect(results.flatMap { Array($0.records) }.sorted() == [0, 1, 2])
        #expect(results.first { $0.records == 1 ..< 2 }?.error?.code == "CLOSED")
        #expect(results.first { $0.records == 2 ..< 3 }?.baseOffset == 1)
    }

    static func spec(storage: WorkloadStorage, transport: WorkloadTransport, faults: [String] = [],
                     keys: KeyDistributorType = .noKey) throws -> WorkloadSpec {
        var spec = WorkloadSpec(name: "driver-test")
        spec.partitionsPerTopic = 3
        spec.producersPerTopic = 2
        spec.subscriptionsPerTopic = 1
        spec.consumerPerSubscription = 2
        spec.messageSize = 100
        spec.producerRate = 2000
        spec.testDuration = .milliseconds(1200)
        spec.warmupDuration = .milliseconds(200)
        spec.window = .milliseconds(400)
        spec.keyDistributor = keys
        spec.storage = storage
        spec.transport = transport
        spec.faults = try faults.map { try WorkloadFault.parse($0) }
        try spec.validate()
        return spec
    }

    static func run(_ spec: WorkloadSpec, consumerMode: KafkaWorkloadDriver.ConsumerMode = .groups) async throws -> WorkloadResult {
        let clock = SystemClock()
        let driver = try await KafkaWorkloadDriver.start(spec: spec, clock: clock, ownsStorageDirectory: true, consumerMode: consumerMode)
        return try await WorkloadRunner(spec: spec, driver: driver, clock: clock, options: TestSupport.options()).run()
    }

    @Test(arguments: [("memory", WorkloadTransport.inproc), ("file", .inproc), ("mmap", .tcp)])
    func run_onEachStorageAndTransport_deliversEveryRecord(storage: String, transport: WorkloadTransport) async throws {
        let directory = try TestSupport.temporaryDirectory()
        let backend: WorkloadStorage = switch storage {
        case "file": .file(directory: directory)
        case "mmap": .mmap(directory: directory)
        default: .memory
        }
        let result = try await Self.run(Self.spec(storage: backend, transport: transport, keys: .keyRoundRobin))
        #expect(result.stopReason == .completed)
        #expect(result.driver == "rivulet")
        #expect(result.publishErrors == 0 && result.unacknowledgedAtEnd == 0)
        #expect(result.recordsSent > 1500, "sent \(result.recordsSent) at 2000/s for 1.2 s")
        #expect(result.finalBacklog <= 300, "backlog \(result.finalBacklog) at the end: consumers fell behind")
        #expect(result.aggregatedEndToEndLatency.count > 1500)
        #expect(result.endToEndUnmeasured == 0)
        #expect(result.aggregatedPublishLatency.p50 < 200)
    }

    @Test func pauseFault_holdsAnswers_andLatencyShowsIt() async throws {
        let result = try await Self.run(Self.spec(storage: .memory, transport: .inproc, faults: ["at 500ms pause broker 0 for 300ms"]))
        #expect(result.stopReason == .completed)
        #expect(result.faults.count == 1 && result.faults.first?.error == nil)
        #expect(result.aggregatedPublishLatency.max >= 250, "max \(result.aggregatedPublishLatency.max) ms during a 300 ms pause")
        #expect(result.publishErrors == 0)
    }

    @Test func killAndConsumerFaults_recover_andDeliverEverything_assignedMode() async throws {
        let result = try await Self.run(Self.spec(storage: .memory, transport: .inproc,
                                                  faults: ["at 400ms kill broker 0 for 200ms", "at 700ms kill consumer 1"]),
                                        consumerMode: .assigned)
        #expect(result.stopReason == .completed)
        #expect(result.faults.count == 2 && result.faults.allSatisfy { $0.error == nil })
        #expect(result.publishErrors == 0)
        // Without a takeover the killed consumer's partition (a third of the traffic) would be
        // about 500 records behind by the end.
        #expect(result.finalBacklog <= 300, "backlog \(result.finalBacklog): the remaining consumer took over the killed one's partition")
    }

    @Test func consumerGroups_shareThePartitions_andRebalanceWhenAConsumerJoins() async throws {
        let result = try await Self.run(Self.spec(storage: .memory, transport: .inproc, faults: ["at 500ms add consumer"]))
        #expect(result.stopReason == .completed)
        #expect(result.faults.count == 1 && result.faults.first?.error == nil)
        #expect(result.publishErrors == 0)
        #expect(result.finalBacklog <= 300, "backlog \(result.finalBacklog) after the rebalance")
        let rebalance = try #require(result.faults.first?.rebalanceTimeMs, "the injector measures the rebalance")
        #expect(rebalance > 0 && rebalance < 15_000)
        #expect(result.aggregatedEndToEndLatency.count > 1500)
    }
}
