import Foundation
import Logging
import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport
import Synchronization

/// Failover safety (issue 8): a 3-broker cluster (500 ms coordination sessions, replication factor 3,
/// `min.insync.replicas=2`) whose brokers are killed and restarted on a seeded, bounded schedule
/// while producers send to three partitions; afterwards every partition is read back and the
/// history checker judges the history.
///
/// - `acks=all` (idempotent producers): no acknowledged record may be lost and the checker must
///   find no anomaly (`failover.acks-all.*`).
/// - `acks=1`: an acknowledged record the dead leader had not replicated can be lost; the suite
///   measures and reports that loss (`failover.acks-1.loss-measured` always passes once the run
///   completed) and still requires reads in offset order.
///
/// The cluster is the suite's own (not the environment's single broker): in process, or behind
/// TCP listeners when the target is, on the target's storage (`file`/`mmap`: a subdirectory).
public enum FailoverSuite {
    /// One schedule's settings.
    public struct Settings: Sendable {
        /// Seeds the victims and the pauses.
        public var seed: UInt64 = 0xFA11
        /// Kill/restart cycles (each: kill a broker, wait 300...700 ms, restart it, wait for a full ISR).
        public var cycles: Int = 3
        /// Producer tasks, each sending at most `sendsMaxPerProducer` records one at a time.
        public var producers: Int = 4
        /// The bound on each producer's sends.
        public var sendsMaxPerProducer: Int = 20_000
        /// Partitions of the topic.
        public var partitions: Int32 = 3

        public init(seed: UInt64 = 0xFA11, cycles: Int = 3, producers: Int = 4, sendsMaxPerProducer: Int = 20_000, partitions: Int32 = 3) {
            self.seed = seed
            self.cycles = cycles
            self.producers = producers
            self.sendsMaxPerProducer = sendsMaxPerProducer
            self.partitions = partitions
        }
    }

    /// What one schedule produced.
    public struct Outcome: Sendable {
        /// The checker's report over sends and the read-back.
        public var report: CheckReport
        /// Sends acknowledged.
        public var acknowledged: Int
        /// Acknowledged records missing from the read-back: the checker's lost writes plus those at
        /// or beyond the final log end.
        public var lostAcknowledged: Int
        /// The brokers killed, in order.
        public var victims: [Int32]
        /// Whether the read-back reached every log end.
        public var readBackComplete: Bool
        /// Whether the producers were still sending when the last broker came back (their send bound
        /// was not reached before the schedule ended).
        public var loadCoveredSchedule: Bool
    }

    static let sessionTimeoutMs = 500

    /// The suite `rivulet conform --suite failover` runs.
    public static let suite = ConformanceSuite(
        name: "failover",
        summary: "3 brokers, RF 3, min.insync.replicas 2: seeded kill/restart schedule; acks=all loses nothing, acks=1 loss measured",
        needsEmbeddedBroker: true
    ) { environment in
        try await checks(environment.target, prefix: environment.topicPrefix, settings: Settings())
    }

    /// Runs the `acks=all` and `acks=1` schedules on `target` and returns the checks.
    public static func checks(_ target: ConformanceTarget, prefix: String, settings: Settings) async throws -> [ConformanceCheck] {
        let all = try await run(target, topic: prefix + "-all", acks: .all, settings: settings)
        var acksOne = settings
        acksOne.seed &+= 1
        let one = try await run(target, topic: prefix + "-one", acks: .leader, settings: acksOne)
        let counts = one.report.counts.filter { $0.value > 0 }.map { "\($0.key.rawValue) \($0.value)" }.sorted().joined(separator: ", ")
        return [
            .check("failover.acks-all.progress", all.acknowledged >= 100 && all.readBackComplete && all.loadCoveredSchedule,
                   "\(all.acknowledged) acknowledged across kills of brokers \(all.victims)"
                   + (all.loadCoveredSchedule ? "" : " (the load ENDED before the schedule)")
                   + "; read-back \(all.readBackComplete ? "complete" : "INCOMPLETE")"),
            .check("failover.acks-all.no-acknowledged-loss", all.lostAcknowledged == 0,
                   "\(all.lostAcknowledged) of \(all.acknowledged) acknowledged records lost"),
            SuiteSupport.historyCheck("failover.acks-all.history", all.report),
            .check("failover.acks-1.loss-measured", one.acknowledged >= 100 && one.readBackComplete,
                   "acks=1: \(one.lostAcknowledged) of \(one.acknowledged) acknowledged records lost (allowed, measured); "
                   + "kills of brokers \(one.victims); anomalies: \(counts.isEmpty ? "none" : counts)"),
            .check("failover.acks-1.reads-in-order",
                   (one.report.counts[.internalNonmonotonicPoll] ?? 0) + (one.report.counts[.nonmonotonicPoll] ?? 0) == 0,
                   "no consumer read offsets out of order"),
        ]
    }

    /// One schedule: start the cluster, load it, kill and restart brokers, read back, check.
    public static func run(_ target: ConformanceTarget, topic: String, acks: Acks, settings: Settings) async throws -> Outcome {
        let cluster = try await FailoverCluster.start(target, name: topic, seed: settings.seed)
        do {
            let outcome = try await run(cluster, topic: topic, acks: acks, settings: settings)
            await cluster.stop()
            return outcome
        } catch {
            await cluster.stop()
            throw error
        }
    }

    private static func run(_ cluster: FailoverCluster, topic: String, acks: Acks, settings: Settings) async throws -> Outcome {
        let admin = Admin(cluster: cluster.client())
        let created = try await admin.createTopic(NewTopic(name: topic, partitions: settings.partitions, replicationFactor: 3,
                                                           configs: ["min.insync.replicas": "2"]))
        if let error = created.error { throw ConformanceEnvironment.SetupError(message: "creating \(topic): \(error)") }
        for partition in 0 ..< settings.partitions { _ = await cluster.cluster.waitForLeader(of: topic, partition: partition) }
        _ = await cluster.cluster.waitForFullIsr(of: topic, timeoutMs: 10_000)

        let history = HistoryRecorder()
        let stop = StopSignal()
        var tasks: [Task<Int, Never>] = []
        for process in 0 ..< settings.producers {
            var config = ProducerConfig()
            config.acks = acks
            config.lingerMs = 0
            config.enableIdempotence = acks == .all
            config.deliveryTimeoutMs = 8000
            let producer = try Producer(cluster: cluster.client(), config: config)
            let partitions = settings.partitions
            let sendsMax = settings.sendsMaxPerProducer
            tasks.append(Task {
                var acknowledged = 0
                // Bounded in count (sendsMax) and time (until `stop`).
                for sequence in 0 ..< sendsMax where !stop.isSet {
                    let value = SuiteSupport.value(process: process, sequence: sequence)
                    let partition = Int32(sequence % Int(partitions))
                    do {
                        let metadata = try await producer.send(topic: topic, partition: partition, key: nil, value: SuiteSupport.encode(value))
                        history.recordSend(process: process, partition: HistoryPartition(topic, partition), value: value,
                                           outcome: .acknowledged(offset: metadata.offset))
                        acknowledged += 1
                    } catch {
                        history.recordSend(process: process, partition: HistoryPartition(topic, partition), value: value, outcome: .indeterminate)
                    }
                }
                await producer.close()
                return acknowledged
            })
        }

        var generator = SeededGenerator(seed: settings.seed)
        var victims: [Int32] = []
        try await Task.sleep(for: .milliseconds(300))
        for _ in 0 ..< settings.cycles {
            let victim = Int32(generator.next() % 3)
            victims.append(victim)
            // A process death: over TCP the broker's port closes too, and reopens with the restart.
            await cluster.cluster.kill(broker: victim, listeners: cluster.listeners)
            try await Task.sleep(for: .milliseconds(300 + Int(generator.next() % 400)))
            try await cluster.cluster.restart(broker: victim, listeners: cluster.listeners)
            // Back to a full ISR before the next kill, so two replicas are never gone at once.
            _ = await cluster.cluster.waitForFullIsr(of: topic, timeoutMs: 10_000)
            try await Task.sleep(for: .milliseconds(100 + Int(generator.next() % 200)))
        }
        // Whether the load still ran when the schedule ended (the send bound was not reached first).
        let coveredSchedule = !tasks.isEmpty && history.history.count < settings.producers * settings.sendsMaxPerProducer
        stop.set()
        var acknowledged = 0
        for task in tasks { acknowledged += await task.value }

        let (read, ends, complete) = try await readAll(cluster, topic: topic, partitions: settings.partitions)
        for poll in read { history.recordPoll(process: 1000, records: poll) }
        let events = history.history
        let report = HistoryChecker().check(events)
        var seen = Set<Int64>()
        for poll in read { for record in poll { seen.insert(record.value) } }
        // Acknowledged, unread, at or past the last offset read: lost though no later read shows it.
        var lostAtEnd = 0
        for case let .send(_, partition, value, .acknowledged(offset)) in events where !seen.contains(value) {
            if let end = ends[partition.partition], offset >= end - 1 { lostAtEnd += 1 }
        }
        return Outcome(report: report, acknowledged: acknowledged, lostAcknowledged: report.lostCount + lostAtEnd, victims: victims,
                       readBackComplete: complete, loadCoveredSchedule: coveredSchedule)
    }

    /// Reads every partition from its start to its end offset (bounded: 20 s).
    private static func readAll(_ cluster: FailoverCluster, topic: String, partitions: Int32) async throws
    -> ([[PolledRecord]], [Int32: Int64], Bool) {
        var config = ConsumerConfig()
        config.autoOffsetReset = .earliest
        config.fetchMaxWaitMs = 50
        let consumer = try Consumer(cluster: cluster.client(), config: config)
        let all = (0 ..< partitions).map { TopicAndPartition(topic: topic, partition: $0) }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(20)
        var ends: [TopicAndPartition: Int64] = [:]
        while ends.count < all.count, clock.now < deadline {
            do { ends = try await consumer.endOffsets(all) } catch { try await Task.sleep(for: .milliseconds(100)) }
        }
        consumer.assign(all)
        try consumer.seekToBeginning(all)
        var next: [TopicAndPartition: Int64] = [:]
        var polls: [[PolledRecord]] = []
        func done() -> Bool { ends.count == all.count && all.allSatisfy { (next[$0] ?? 0) >= (ends[$0] ?? 0) } }
        while !done(), clock.now < deadline {
            do {
                let records = try await consumer.poll(timeoutMs: 200)
                var polled: [PolledRecord] = []
                try records.forEach { record in
                    polled.append(PolledRecord(partition: HistoryPartition(record.topic, record.partition), offset: record.offset,
                                               value: SuiteSupport.decode(record.value) ?? -1))
                }
                for chunk in records.partitions { next[chunk.partition] = max(next[chunk.partition] ?? 0, chunk.nextOffset) }
                if !polled.isEmpty { polls.append(polled) }
            } catch {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        await consumer.close()
        return (polls, Dictionary(uniqueKeysWithValues: ends.map { ($0.key.partition, $0.value) }), done())
    }
}

/// The suite's own 3-broker cluster and its clients.
final class FailoverCluster: Sendable {
    let cluster: EmbeddedCluster
    let listeners: EmbeddedTCPListeners?
    let bootstrap: [BrokerAddress]
    let transport: any Transport
    let directory: String?
    private let clients = Mutex<[ClusterClient]>([])

    private init(cluster: EmbeddedCluster, listeners: EmbeddedTCPListeners?, bootstrap: [BrokerAddress], transport: any Transport,
                 directory: String?) {
        self.cluster = cluster
        self.listeners = listeners
        self.bootstrap = bootstrap
        self.transport = transport
        self.directory = directory
    }

    static func start(_ target: ConformanceTarget, name: String, seed: UInt64) async throws -> FailoverCluster {
        guard case let .embedded(storageURL, tcp) = target else {
            throw ConformanceEnvironment.SetupError(message: "the failover suite needs an embedded cluster")
        }
        var url = "memory://"
        var directory: String?
        for scheme in ["file://", "mmap://"] where storageURL.hasPrefix(scheme) {
            let base = String(storageURL.dropFirst(scheme.count))
            let path = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/\(name)"
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw ConformanceEnvironment.SetupError(message: "cannot create \(path): \(error.localizedDescription)")
            }
            url = scheme + path
            directory = path
        }
        var logger = Logger(label: "rivulet.conform.failover")
        logger.logLevel = .critical
        var configuration = EmbeddedCluster.Configuration(
            brokerCount: 3, storageURL: url, randomSeed: seed,
            customize: { config in
                config.logRetentionCheckIntervalMs = 3_600_000
                config.replicaLagTimeMaxMs = 1000
                config.replicaFetchBackoffMs = 20
                config.replicaFetchWaitMaxMs = 100
                config.metadataRefreshIntervalMs = 1000
            },
            logger: logger, groupCoordinator: { _ in nil })
        configuration.sessionTimeoutMs = FailoverSuite.sessionTimeoutMs
        do {
            if tcp {
                let (cluster, listeners) = try await EmbeddedCluster.startWithTCP(configuration, logger: logger)
                return FailoverCluster(cluster: cluster, listeners: listeners, bootstrap: listeners.bootstrapAddresses,
                                       transport: TCPTransport(), directory: directory)
            }
            let cluster = try EmbeddedCluster(configuration)
            try await cluster.start()
            return FailoverCluster(cluster: cluster, listeners: nil, bootstrap: cluster.bootstrapAddresses, transport: cluster.transport,
                                   directory: directory)
        } catch {
            if let directory { try? FileManager.default.removeItem(atPath: directory) }
            throw ConformanceEnvironment.SetupError(message: "cannot start a 3-broker cluster on \(url): \(error)")
        }
    }

    /// A client with short backoffs, closed by `stop()`.
    func client() -> ClusterClient {
        var config = ClientConfig(bootstrapServers: bootstrap, clientId: "rivulet-conform-failover")
        config.retryBackoffMs = 10
        config.retryBackoffMaxMs = 50
        config.reconnectBackoffMs = 10
        config.reconnectBackoffMaxMs = 50
        config.requestTimeoutMs = 3000
        config.defaultApiTimeoutMs = 20_000
        let client = ClusterClient(config: config, transport: transport)
        clients.withLock { $0.append(client) }
        return client
    }

    func stop() async {
        for client in clients.withLock({ $0 }) { await client.close() }
        await listeners?.close()
        await cluster.shutdown()
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }
}

/// A flag the load tasks poll to stop (thread-safe).
final class StopSignal: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}
