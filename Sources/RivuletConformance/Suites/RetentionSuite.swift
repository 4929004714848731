import NIOCore
import RivuletClient

/// The log start offset: after DeleteRecords (any target) and after time-based retention deletes
/// segments (embedded broker, maintenance run on demand), ListOffsets reports the new log start,
/// and a consumer positioned at a deleted offset resets per `auto.offset.reset`: earliest to the
/// log start (reading exactly the retained records), latest to the end, none to an error.
enum RetentionSuite {
    static let records = 60

    static func produce(_ environment: ConformanceEnvironment, topic: String) async throws {
        let producer = try environment.producer { $0.lingerMs = 0 }
        for sequence in 0 ..< records {
            _ = try await producer.send(topic: topic, key: nil,
                                        value: SuiteSupport.encode(SuiteSupport.value(process: 0, sequence: sequence), padding: 80))
        }
        await producer.close()
    }

    /// Checks the three reset policies against `logStart`.
    static func resets(_ environment: ConformanceEnvironment, partition: TopicAndPartition, logStart: Int64,
                       name: String) async throws -> [ConformanceCheck] {
        let earliest = try environment.consumer { $0.autoOffsetReset = .earliest }
        earliest.assign([partition])
        try earliest.seek(partition, to: 0)
        let read = try await SuiteSupport.consume(earliest, process: 1, history: nil, timeout: .seconds(20)) {
            $0.count >= records - Int(logStart)
        }
        await earliest.close()
        let latest = try environment.consumer { $0.autoOffsetReset = .latest }
        latest.assign([partition])
        try latest.seek(partition, to: 0)
        _ = try await latest.poll(timeoutMs: 300)
        let latestPosition = try await latest.position(partition)
        await latest.close()
        let strict = try environment.consumer { $0.autoOffsetReset = .none }
        strict.assign([partition])
        try strict.seek(partition, to: 0)
        var thrown: ClientError?
        for _ in 0 ..< 50 where thrown == nil {
            do throws(ClientError) { _ = try await strict.poll(timeoutMs: 100) } catch { thrown = error }
        }
        await strict.close()
        let offsets = read.map(\.offset)
        return [
            .check("\(name).reset-earliest", offsets == Array(logStart ..< Int64(records)),
                   "a consumer at deleted offset 0 read \(offsets.first.map(String.init) ?? "nothing")..<\((offsets.last ?? -1) + 1) (log start \(logStart))"),
            .check("\(name).reset-latest", latestPosition == Int64(records), "position after reset \(latestPosition)"),
            .check("\(name).reset-none", thrown == .offsetOutOfRange(partition, offset: 0),
                   "poll threw \(thrown.map { "\($0)" } ?? "nothing")"),
        ]
    }

    static let suite = ConformanceSuite(
        name: "retention",
        summary: "log start after DeleteRecords and retention; consumers at deleted offsets reset"
    ) { environment in
        var checks: [ConformanceCheck] = []
        let admin = environment.admin()

        // DeleteRecords: works on every target.
        let deleted = environment.topicPrefix + "-deleted"
        _ = try await admin.createTopic(NewTopic(name: deleted, partitions: 1))
        try await produce(environment, topic: deleted)
        let deletedPartition = TopicAndPartition(topic: deleted, partition: 0)
        let low = try await admin.deleteRecords(before: [deletedPartition: 25])[deletedPartition]?.get()
        let listed = try await admin.listOffsets([deletedPartition: .earliest])[deletedPartition]?.get().offset
        checks.append(.check("retention.delete-records", low == 25 && listed == 25,
                             "low watermark \(low.map(String.init) ?? "?"), ListOffsets earliest \(listed.map(String.init) ?? "?")"))
        checks += try await resets(environment, partition: deletedPartition, logStart: listed ?? 25, name: "retention.delete-records")

        // Time-based retention of whole segments (embedded broker: maintenance on demand).
        guard let broker = environment.cluster?.broker(0) else {
            checks.append(ConformanceCheck(name: "retention.time", outcome: .skipped, detail: "needs an embedded broker"))
            return checks
        }
        let retained = environment.topicPrefix + "-retained"
        _ = try await admin.createTopic(NewTopic(name: retained, partitions: 1, configs: ["segment.bytes": "1500", "retention.ms": "1"]))
        try await produce(environment, topic: retained)
        try await Task.sleep(nanoseconds: 20_000_000)
        let summary = broker.runMaintenance()
        let retainedPartition = TopicAndPartition(topic: retained, partition: 0)
        let logStart = try await admin.listOffsets([retainedPartition: .earliest])[retainedPartition]?.get().offset ?? -1
        checks.append(.check("retention.time", summary.deletedSegments > 0 && logStart > 0 && logStart < Int64(records),
                             "\(summary.deletedSegments) segments deleted, log start \(logStart)"))
        checks += try await resets(environment, partition: retainedPartition, logStart: max(logStart, 0), name: "retention.time")
        return checks
    }
}
