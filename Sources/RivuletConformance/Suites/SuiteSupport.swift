import NIOCore
import RivuletClient
import RivuletCore
import Synchronization

/// Building blocks the suites share: unique values, recorded sends and recorded polls.
enum SuiteSupport {
    /// The value of send `sequence` of producer `process`: unique in a history.
    static func value(process: Int, sequence: Int) -> Int64 { Int64(process) << 32 | Int64(sequence) }

    /// A record value carrying `value` (8 bytes big-endian) and `padding` filler bytes.
    static func encode(_ value: Int64, padding: Int = 0) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 8 + padding)
        buffer.writeInteger(value)
        if padding > 0 { buffer.writeRepeatingByte(0x2E, count: padding) }
        return buffer
    }

    /// The value a record carries, or nil when it is not one of ours.
    static func decode(_ buffer: ByteBuffer?) -> Int64? {
        guard let buffer, buffer.readableBytes >= 8 else { return nil }
        return buffer.getInteger(at: buffer.readerIndex, as: Int64.self)
    }

    /// A completion that records the send's outcome in `history` and counts failures.
    static func recordingCompletion(history: HistoryRecorder, failures: Failures, process: Int, topic: String,
                                    value: Int64) -> ProducerCompletion {
        { result in
            switch result {
            case .success(let metadata):
                history.recordSend(process: process, partition: HistoryPartition(topic, metadata.partition), value: value,
                                   outcome: .acknowledged(offset: metadata.offset))
            case .failure(let error):
                failures.add(error)
                history.recordSend(process: process, partition: HistoryPartition(topic, -1), value: value,
                                   outcome: error.isRetriable ? .indeterminate : .aborted)
            }
        }
    }

    /// Polls `consumer` until `enough()` or `timeout` passed, recording every poll as `process`.
    /// Returns the records in the order polled.
    @discardableResult
    static func consume(_ consumer: Consumer, process: Int, history: HistoryRecorder?, timeout: Duration,
                        until enough: ([PolledRecord]) -> Bool) async throws -> [PolledRecord] {
        var all: [PolledRecord] = []
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !enough(all), clock.now < deadline {
            let records = try await consumer.poll(timeoutMs: 100)
            var polled: [PolledRecord] = []
            try records.forEach { record in
                polled.append(PolledRecord(partition: HistoryPartition(record.topic, record.partition), offset: record.offset,
                                           value: decode(record.value) ?? -1))
            }
            history?.recordPoll(process: process, records: polled)
            all += polled
        }
        return all
    }

    /// The history checker's verdict as a check.
    static func historyCheck(_ name: String, _ report: CheckReport) -> ConformanceCheck {
        if report.isValid {
            return .check(name, true, "\(report.acknowledgedCount) acknowledged, \(report.readCount) offsets read, no anomalies")
        }
        let kinds = report.counts.filter { $0.value > 0 }.map { "\($0.key.rawValue) x\($0.value)" }.sorted().joined(separator: ", ")
        let first = report.anomalies.prefix(3).map(\.description).joined(separator: "; ")
        return .check(name, false, "\(kinds): \(first)")
    }
}

/// Send failures collected from completions (thread-safe).
final class Failures: Sendable {
    private let errors = Mutex<[ClientError]>([])
    func add(_ error: ClientError) { errors.withLock { $0.append(error) } }
    var all: [ClientError] { errors.withLock { $0 } }
    var count: Int { errors.withLock { $0.count } }
}
