import Foundation
import NIOCore
import RivuletBroker
import RivuletCore
import Testing
@testable import RivuletWorkload

/// The failover harness: spec keys, the recovery arithmetic, and one short failover run on a
/// 3-broker in-process cluster with the history checked.
@Suite("Failover tracking", .serialized)
struct FailoverTrackingTests {
    // MARK: Spec keys

    @Test func failoverSpecs_loadWithTheirClusterSettings() throws {
        for name in ["failover-kill-leader", "failover-acks1", "failover-pause-leader", "failover-partition-leader", "failover-kill-broker"] {
            let spec = try WorkloadSpec.load(path: TestSupport.workloadsDirectory + "/\(name).spec", environment: [:])
            #expect(spec.brokers == 3 && spec.replicationFactor == 3 && spec.minInsyncReplicas == 2, "\(name)")
            #expect(spec.brokerSessionTimeoutMs == 500, "\(name)")
            #expect(spec.checkHistory, "\(name)")
            #expect(spec.faults.count == 1 && spec.faults[0].losesBrokers, "\(name)")
            #expect((spec.warmupDuration + spec.testDuration) < .seconds(60), "\(name) must run well under a minute")
        }
        #expect(try WorkloadSpec.load(path: TestSupport.workloadsDirectory + "/failover-acks1.spec", environment: [:]).acks == .leader)
    }

    @Test func checkHistory_defaultsOnWithBrokerLossFaults() throws {
        #expect(try !WorkloadSpec.parse(text: TestSupport.specText()).checkHistory)
        #expect(try !WorkloadSpec.parse(text: TestSupport.specText("fault: at 0.5s delay broker 0 by 5ms")).checkHistory)
        #expect(try WorkloadSpec.parse(text: TestSupport.specText("fault: at 0.5s kill broker 0 for 1s")).checkHistory)
        #expect(try !WorkloadSpec.parse(text: TestSupport.specText("fault: at 0.5s kill broker 0 for 1s\ncheckHistory: false")).checkHistory)
    }

    @Test func clusterKeys_roundTripThroughSpecText() throws {
        let spec = try WorkloadSpec.parse(text: TestSupport.specText("""
            brokers: 3
            replicationFactor: 3
            minInsyncReplicas: 2
            coordinator: zk://127.0.0.1:2181/rivulet
            brokerSessionTimeoutMs: 750
            replicaLagTimeMaxMs: 2000
            replicaFetchBackoffMs: 25
            replicaFetchWaitMaxMs: 100
            requestTimeoutMs: 1500
            retryBackoffMaxMs: 100
            checkHistory: true
            """))
        #expect(spec.coordinator == .url("zk://127.0.0.1:2181/rivulet"))
        #expect(spec.brokerSessionTimeoutMs == 750 && spec.replicaLagTimeMaxMs == 2000 && spec.replicaFetchBackoffMs == 25)
        #expect(spec.replicaFetchWaitMaxMs == 100 && spec.requestTimeoutMs == 1500 && spec.retryBackoffMaxMs == 100)
        var again = try WorkloadSpec.parse(text: spec.specText)
        again.sourcePath = spec.sourcePath
        #expect(again == spec)
    }

    @Test(arguments: [
        ("brokerSessionTimeoutMs: 50", "brokerSessionTimeoutMs"),
        ("brokerSessionTimeoutMs: soon", "brokerSessionTimeoutMs"),
        ("replicaLagTimeMaxMs: 0", "replicaLagTimeMaxMs"),
        ("requestTimeoutMs: 0", "requestTimeoutMs"),
        ("retryBackoffMaxMs: 0", "retryBackoffMaxMs"),
        ("coordinator: zk://nohost", "coordinator"),
        ("coordinator: etcd://x:1", "coordinator"),
        ("checkHistory: maybe", "checkHistory"),
        ("messageSize: 8\ncheckHistory: true", "checkHistory"),
    ])
    func badClusterValues_areRefusedNamingTheKey(line: String, key: String) {
        var text = TestSupport.specText(line)
        if line.hasPrefix("messageSize") { text = text.replacingOccurrences(of: "messageSize: 64\n", with: "") }
        do {
            _ = try WorkloadSpec.parse(text: text, source: "bad.spec")
            Issue.record("accepted \(line)")
        } catch {
            #expect(error.key == key, "\(line): \(error)")
        }
    }

    // MARK: Recovery arithmetic

    @Test func tracker_firstAckCountsOnlyRecordsHandedAfterTheFault_andKeepsTheEarliest() {
        let tracker = RecoveryTracker(originNanoseconds: 0)
        let ms: UInt64 = 1_000_000
        tracker.acknowledged(topic: "t", partition: 0, count: 10, handedAtNanoseconds: 900 * ms, completedAtNanoseconds: 950 * ms)
        let snapshot = [FailoverPartitionState(topic: "t", partition: 0, replicas: [0, 1, 2], leader: 0),
                        FailoverPartitionState(topic: "t", partition: 1, replicas: [0, 1, 2], leader: 1),
                        FailoverPartitionState(topic: "t", partition: 2, replicas: [1, 2], leader: 1)]
        let (_, led) = tracker.faultApplied(method: "kill", brokerId: 0, atNanoseconds: 1000 * ms, snapshot: snapshot)
        #expect(led == [RecoveryTracker.PartitionKey(topic: "t", partition: 0)])
        // Sent before the fault, answered after it: not recovery.
        tracker.acknowledged(topic: "t", partition: 0, count: 5, handedAtNanoseconds: 990 * ms, completedAtNanoseconds: 1001 * ms)
        // Reported out of order: the later completion first, then the earlier one.
        tracker.acknowledged(topic: "t", partition: 0, count: 5, handedAtNanoseconds: 1100 * ms, completedAtNanoseconds: 1800 * ms)
        tracker.acknowledged(topic: "t", partition: 0, count: 5, handedAtNanoseconds: 1100 * ms, completedAtNanoseconds: 1600 * ms)
        tracker.acknowledged(topic: "t", partition: 1, count: 5, handedAtNanoseconds: 1001 * ms, completedAtNanoseconds: 1020 * ms)
        tracker.leaderElected(fault: 0, key: RecoveryTracker.PartitionKey(topic: "t", partition: 0), leader: 1, atNanoseconds: 1500 * ms)
        guard let (broker, recovery) = tracker.claimRecovery(method: "kill", near: 1000 * ms + 3 * ms) else {
            Issue.record("no recovery for the kill")
            return
        }
        #expect(broker == 0)
        #expect(recovery.partitions.map(\.partition) == [0, 1], "partition 2 has no replica on broker 0")
        #expect(recovery.partitions[0].role == "leader" && recovery.partitions[1].role == "follower")
        #expect(recovery.partitions[0].firstAckMs == 600)
        #expect(recovery.partitions[0].unavailableMs == 650, "from the last acknowledgement before the fault (950 ms)")
        #expect(recovery.partitions[0].newLeader == 1 && recovery.partitions[0].leaderElectedMs == 500)
        #expect(recovery.partitions[1].firstAckMs == 20)
        #expect(recovery.firstAckMsMax == 600 && recovery.leaderFirstAckMsMax == 600 && recovery.unrecoveredPartitions == 0)
        #expect(tracker.claimRecovery(method: "kill", near: 1000 * ms) == nil, "a record is claimed once")
    }

    @Test func throughputRecovery_isTheEndOfTheFirstWindowBackAt90Percent() {
        // 100 per 100 ms for 6 s, nothing for 1 s after the fault at 6.0 s, then 100 again.
        var buckets = [Int64](repeating: 100, count: 60) + [Int64](repeating: 0, count: 10) + [Int64](repeating: 100, count: 40)
        let recovered = RecoveryTracker.throughputRecoveryMs(buckets: buckets, origin: 0, faultAt: 6_000_000_000)
        // The 500 ms average reaches 90 (5 buckets: at least 5 x 90 = 450) once 5 buckets of 100 follow: at 7.5 s.
        #expect(recovered == 1500)
        buckets = [Int64](repeating: 100, count: 120)
        #expect(RecoveryTracker.throughputRecoveryMs(buckets: buckets, origin: 0, faultAt: 6_000_000_000) == 0)
        #expect(RecoveryTracker.throughputRecoveryMs(buckets: buckets, origin: 0, faultAt: 300_000_000) == nil, "no 500 ms baseline")
        buckets = [Int64](repeating: 100, count: 60) + [Int64](repeating: 0, count: 60)
        #expect(RecoveryTracker.throughputRecoveryMs(buckets: buckets, origin: 0, faultAt: 6_000_000_000) == nil, "never recovered")
    }

    @Test func recordIds_areUniqueAndReadBack() {
        var buffer = ByteBuffer(repeating: 0, count: 32)
        let id = FailoverRecordId.make(producer: 3, sequence: 12345)
        buffer.setInteger(id, at: FailoverRecordId.offset)
        #expect(FailoverRecordId.read(buffer) == id)
        #expect(FailoverRecordId.make(producer: 0, sequence: 1) != FailoverRecordId.make(producer: 1, sequence: 1))
        #expect(FailoverRecordId.read(ByteBuffer(repeating: 0, count: 12)) == nil)
    }

    // MARK: A failover run

    @Test func killingTheLeader_recoversAndLosesNothing() async throws {
        var spec = WorkloadSpec(name: "failover-test")
        spec.partitionsPerTopic = 3
        spec.messageSize = 64
        spec.producerRate = 1000
        spec.testDuration = .seconds(6)
        spec.window = .seconds(1)
        spec.brokers = 3
        spec.replicationFactor = 3
        spec.minInsyncReplicas = 2
        spec.brokerSessionTimeoutMs = 500
        spec.replicaFetchBackoffMs = 20
        spec.replicaFetchWaitMaxMs = 100
        spec.requestTimeoutMs = 2000
        spec.retryBackoffMaxMs = 100
        spec.checkHistory = true
        spec.faults = [try WorkloadFault.parse("at 2s kill leader of partition 0 for 2s")]
        try spec.validate()
        let clock = SystemClock()
        // Partitions assigned by the harness: the subject is the brokers, not consumer-group timing.
        let inner = try await KafkaWorkloadDriver.start(spec: spec, clock: clock, consumerMode: .assigned)
        let driver = FailoverTrackingDriver.wrap(inner, spec: spec, clock: clock)
        #expect(driver.faultInjector != nil)
        let result = try await WorkloadRunner(spec: spec, driver: driver, clock: clock).run()
        #expect(result.stopReason == .completed)
        let event = try #require(result.faults.first)
        #expect(event.error == nil, "\(event.error ?? "")")
        let recovery = try #require(event.recovery, "the kill has recovery figures")
        let led = recovery.partitions.filter { $0.role == "leader" }
        #expect(led.contains { $0.partition == 0 }, "the leader of partition 0 was killed: \(recovery.partitions)")
        #expect(recovery.unrecoveredPartitions == 0)
        let firstAck = try #require(recovery.leaderFirstAckMsMax)
        #expect(firstAck > 0 && firstAck < 5000, "first acknowledged write after \(firstAck) ms")
        #expect(led.allSatisfy { $0.newLeader != nil && $0.newLeader != Int32(event.brokerId ?? -1) })
        let history = try #require(result.history)
        #expect(history.readBackComplete)
        #expect(history.acknowledged > 1000)
        #expect(history.lostAcknowledged == 0 && history.duplicates == 0, "\(history.examples)")
        #expect(history.anomalies == 0, "\(history.anomalyCounts) \(history.examples)")
        // The output shows them.
        #expect(result.textReport.contains("first acked write after"))
        #expect(result.textReport.contains("acknowledged records lost: 0"))
        #expect(result.jsonText.contains("\"leaderFirstAckMsMax\""))
        #expect(result.jsonText.contains("\"lostAcknowledged\" : 0"))
        let csv = try #require(result.recoveryCSVText)
        #expect(csv.split(separator: "\n").count == 1 + recovery.partitions.count + 1)
    }
}
