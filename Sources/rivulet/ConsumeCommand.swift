import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import RivuletClient
import RivuletCore
import RivuletWire
import Synchronization

/// `rivulet consume`: Kafka's console consumer (without a group: every partition of the topic, or
/// one with `--partition`; with `--group`: the partitions the group assigns, starting at its
/// committed offsets, committing as it goes). Prints one record per line, formatted like Kafka's
/// `DefaultMessageFormatter`: `CreateTime:<ms>`, `Partition:<p>`, `Offset:<o>`, headers, key and
/// value, each on request, separated by `key.separator`.
struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume", abstract: "Consume records to stdout (like kafka-console-consumer)",
        discussion: """
        Properties (--property name=value): print.timestamp, print.partition, print.offset, print.headers, \
        print.key (all false), print.value (true), key.separator (\\t), line.separator (\\n), \
        headers.separator (,), headers.key.separator (:), null.literal (null). Consumer settings \
        (--consumer-property name=value) use Kafka's names, including the group settings with --group \
        (group.instance.id, session.timeout.ms, heartbeat.interval.ms, partition.assignment.strategy, \
        enable.auto.commit, auto.commit.interval.ms). With --group, assignment changes are reported on \
        stderr as "% Assigned partitions: t-0,t-1" and "% Revoked partitions: ...".
        """)

    @OptionGroup var connection: ClientOptions

    @Option(help: "The topic to consume (with --group: a comma-separated list is allowed).")
    var topic: String

    @Option(help: "Consume as a member of this consumer group (group.id).")
    var group: String?

    @Option(help: "Consume only this partition (default: every partition of the topic).")
    var partition: Int32?

    @Option(help: "Where to start: earliest, latest, or an offset (needs --partition). Default latest.")
    var offset: String?

    @Flag(name: .customLong("from-beginning"), help: "Start at the earliest offset (same as --offset earliest).")
    var fromBeginning = false

    @Option(name: .customLong("max-messages"), help: "Exit after this many records.")
    var maxMessages: Int?

    @Option(name: .customLong("timeout-ms"), help: "Exit when no record arrives for this long.")
    var timeoutMs: Int64?

    @Option(name: .customLong("property"), parsing: .singleValue, help: "A formatter property name=value. Repeatable.")
    var properties: [String] = []

    @Option(name: .customLong("consumer-property"), parsing: .singleValue, help: "A consumer setting name=value. Repeatable.")
    var consumerProperties: [String] = []

    @Option(name: .customLong("isolation-level"), help: "read_uncommitted or read_committed.")
    var isolationLevel: String?

    /// Kafka's `DefaultMessageFormatter` settings.
    struct Format {
        var printTimestamp = false
        var printPartition = false
        var printOffset = false
        var printHeaders = false
        var printKey = false
        var printValue = true
        var keySeparator = "\t"
        var lineSeparator = "\n"
        var headersSeparator = ","
        var headersKeySeparator = ":"
        var nullLiteral = "null"

        init(properties: [(String, String)]) throws {
            for (name, value) in properties {
                switch name {
                case "print.timestamp": printTimestamp = try KeyValue.bool(value, name: name)
                case "print.partition": printPartition = try KeyValue.bool(value, name: name)
                case "print.offset": printOffset = try KeyValue.bool(value, name: name)
                case "print.headers": printHeaders = try KeyValue.bool(value, name: name)
                case "print.key": printKey = try KeyValue.bool(value, name: name)
                case "print.value": printValue = try KeyValue.bool(value, name: name)
                case "key.separator": keySeparator = KeyValue.unescape(value)
                case "line.separator": lineSeparator = KeyValue.unescape(value)
                case "headers.separator": headersSeparator = KeyValue.unescape(value)
                case "headers.key.separator": headersKeySeparator = KeyValue.unescape(value)
                case "null.literal": nullLiteral = value
                default: throw ValidationError("--property \(name): unknown (see --help)")
                }
            }
        }

        /// One record as Kafka's formatter prints it (line separator included).
        func format(_ record: Record, partition: Int32, logAppendTime: Bool) -> String {
            var fields: [String] = []
            if printTimestamp {
                fields.append(record.timestampMs < 0 ? "NO_TIMESTAMP"
                    : "\(logAppendTime ? "LogAppendTime" : "CreateTime"):\(record.timestampMs)")
            }
            if printPartition { fields.append("Partition:\(partition)") }
            if printOffset { fields.append("Offset:\(record.offset)") }
            if printHeaders {
                var headers: [String] = []
                for header in record.headers {
                    headers.append("\(header.key)\(headersKeySeparator)\(header.value.map { String(buffer: $0) } ?? nullLiteral)")
                }
                fields.append(headers.isEmpty ? "NO_HEADERS" : headers.joined(separator: headersSeparator))
            }
            if printKey { fields.append(record.key.map { String(buffer: $0) } ?? nullLiteral) }
            if printValue { fields.append(record.value.map { String(buffer: $0) } ?? nullLiteral) }
            return fields.joined(separator: keySeparator) + lineSeparator
        }
    }

    func validate() throws {
        if fromBeginning, let offset, offset != "earliest" {
            throw ValidationError("--from-beginning and --offset \(offset) contradict each other")
        }
        if let offset, offset != "earliest", offset != "latest" {
            guard Int64(offset).map({ $0 >= 0 }) == true else {
                throw ValidationError("--offset \(offset): expected earliest, latest or a non-negative offset")
            }
            guard partition != nil else { throw ValidationError("--offset \(offset) needs --partition") }
        }
        if group != nil, partition != nil { throw ValidationError("--partition and --group exclude each other (the group assigns)") }
        if group != nil, let offset, offset != "earliest", offset != "latest" {
            throw ValidationError("--offset \(offset) cannot be used with --group (the group starts at its committed offsets)")
        }
        if group?.isEmpty == true { throw ValidationError("--group must not be empty") }
        if let maxMessages, maxMessages <= 0 { throw ValidationError("--max-messages must be positive") }
        if let timeoutMs, timeoutMs <= 0 { throw ValidationError("--timeout-ms must be positive") }
    }

    func run() async throws {
        let format = try Format(properties: KeyValue.parse(properties, option: "--property"))
        var config = ConsumerConfig()
        var groupConfig = ConsumerGroupConfig(groupId: group ?? "")
        for (name, value) in try KeyValue.parse(consumerProperties, option: "--consumer-property") {
            if try config.set(name, value) { continue }
            if group != nil, try groupConfig.set(name, value) { continue }
            throw ValidationError("--consumer-property \(name): not a consumer setting" + (group == nil ? " (group settings need --group)" : ""))
        }
        if group != nil {
            if let isolationLevel { _ = try config.set("isolation.level", isolationLevel) }
            config.autoOffsetReset = (fromBeginning || offset == "earliest") ? .earliest : (offset == "latest" ? .latest : config.autoOffsetReset)
            try await runInGroup(config: config, groupConfig: groupConfig, format: format)
            return
        }
        if let isolationLevel { _ = try config.set("isolation.level", isolationLevel) }
        let start = fromBeginning ? "earliest" : (offset ?? "latest")
        config.autoOffsetReset = start == "earliest" ? .earliest : .latest
        let session = try await connection.open()
        var consumed = 0
        do {
            let consumer = try Consumer(cluster: session.cluster, config: config)
            let metadata = try await session.cluster.topicMetadata(topic, timeoutMs: session.cluster.config.defaultApiTimeoutMs,
                                                                   allowAutoCreate: false)
            var partitions = metadata.partitions.map { TopicAndPartition(topic: topic, partition: $0.partition) }
            if let partition {
                guard partition >= 0, Int(partition) < metadata.partitionCount else {
                    throw ClientError.invalidPartition(topic: topic, partition: partition, partitionCount: metadata.partitionCount)
                }
                partitions = [TopicAndPartition(topic: topic, partition: partition)]
            }
            consumer.assign(partitions)
            if let explicit = Int64(start), let first = partitions.first { try consumer.seek(first, to: explicit) }
            let clock = session.cluster.clock
            var lastRecordMs = clock.monotonicMilliseconds()
            var output = ""
            reading: while true {
                let records = try await consumer.poll(timeoutMs: min(timeoutMs ?? 1000, 1000))
                for chunk in records.partitions {
                    for batch in chunk.batches {
                        let logAppendTime = batch.header.attributes.isLogAppendTime
                        for record in try batch.records(verifyChecksum: false) where record.offset >= chunk.fromOffset {
                            output += format.format(record, partition: chunk.partition.partition, logAppendTime: logAppendTime)
                            consumed += 1
                            if let maxMessages, consumed >= maxMessages {
                                print(output, terminator: "")
                                break reading
                            }
                        }
                    }
                    print(output, terminator: "")
                    output = ""
                }
                let now = clock.monotonicMilliseconds()
                if !records.isEmpty { lastRecordMs = now }
                if let timeoutMs, now - lastRecordMs >= timeoutMs { break }
            }
            await consumer.close()
        } catch {
            await session.close()
            printError("Processed a total of \(consumed) messages")
            throw error
        }
        await session.close()
        printError("Processed a total of \(consumed) messages")
    }

    /// Consumes as a group member until `--max-messages`, `--timeout-ms` or SIGTERM/SIGINT, then
    /// commits and leaves.
    private func runInGroup(config: ConsumerConfig, groupConfig: ConsumerGroupConfig, format: Format) async throws {
        let topics = topic.split(separator: ",").map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty }
        guard !topics.isEmpty else { throw ValidationError("--topic: no topic name") }
        let session = try await connection.open()
        var consumed = 0
        let listener = ConsumerRebalanceListener(
            onPartitionsRevoked: { printError("% Revoked partitions: \($0.map(\.description).joined(separator: ","))") },
            onPartitionsAssigned: { printError("% Assigned partitions: \($0.map(\.description).joined(separator: ","))") },
            onPartitionsLost: { printError("% Lost partitions: \($0.map(\.description).joined(separator: ","))") })
        let consumer: GroupConsumer
        do {
            consumer = try GroupConsumer(cluster: session.cluster, config: config, groupConfig: groupConfig, listener: listener)
            try consumer.subscribe(topics)
        } catch {
            await session.close()
            throw error
        }
        // SIGTERM or SIGINT: stop polling, commit and leave the group (a second signal exits at once).
        let stopping = Atomic<Bool>(false)
        let signals = TerminationSignals()
        let watcher = Task {
            _ = await signals.next()
            stopping.store(true, ordering: .relaxed)
        }
        defer { watcher.cancel() }
        do {
            let clock = session.cluster.clock
            var lastRecordMs = clock.monotonicMilliseconds()
            reading: while !stopping.load(ordering: .relaxed) {
                let records = try await consumer.poll(timeoutMs: min(timeoutMs ?? 200, 200))
                var output = ""
                for (index, chunk) in records.partitions.enumerated() {
                    for batch in chunk.batches {
                        let logAppendTime = batch.header.attributes.isLogAppendTime
                        for record in try batch.records(verifyChecksum: false) where record.offset >= chunk.fromOffset {
                            output += format.format(record, partition: chunk.partition.partition, logAppendTime: logAppendTime)
                            consumed += 1
                            if let maxMessages, consumed >= maxMessages {
                                print(output, terminator: "")
                                // Commit exactly what was printed: rewind past the unprinted rest of this poll.
                                if record.offset + 1 < chunk.nextOffset { try? consumer.consumer.seek(chunk.partition, to: record.offset + 1) }
                                for later in records.partitions.dropFirst(index + 1) {
                                    try? consumer.consumer.seek(later.partition, to: later.fromOffset)
                                }
                                break reading
                            }
                        }
                    }
                }
                if !output.isEmpty {
                    print(output, terminator: "")
                    // Records reach a pipe as they are consumed, not when the buffer fills.
                    fflush(nil)
                }
                let now = clock.monotonicMilliseconds()
                if !records.isEmpty { lastRecordMs = now }
                if let timeoutMs, now - lastRecordMs >= timeoutMs { break }
            }
        } catch {
            await consumer.close()
            await session.close()
            printError("Processed a total of \(consumed) messages")
            throw error
        }
        await consumer.close()
        await session.close()
        printError("Processed a total of \(consumed) messages")
    }
}
