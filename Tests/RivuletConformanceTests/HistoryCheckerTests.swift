import Testing
@testable import RivuletConformance

/// Hand-made histories, each containing exactly one kind of anomaly (and one clean history).
@Suite struct HistoryCheckerTests {
    let p0 = HistoryPartition("t", 0)
    let p1 = HistoryPartition("t", 1)

    func record(_ partition: HistoryPartition, _ offset: Int64, _ value: Int64) -> PolledRecord {
        PolledRecord(partition: partition, offset: offset, value: value)
    }

    func kinds(_ history: [HistoryEvent]) -> [AnomalyKind] {
        HistoryChecker().check(history).anomalies.map(\.kind)
    }

    @Test func cleanHistory_hasNoAnomalies() {
        let history: [HistoryEvent] = [
            .send(process: 0, partition: p0, value: 1, outcome: .acknowledged(offset: 0)),
            .send(process: 0, partition: p0, value: 2, outcome: .acknowledged(offset: 1)),
            .send(process: 0, partition: p1, value: 3, outcome: .acknowledged(offset: 0)),
            .send(process: 0, partition: p0, value: 4, outcome: .indeterminate),
            .poll(process: 9, records: [record(p0, 0, 1), record(p1, 0, 3)]),
            .poll(process: 9, records: [record(p0, 1, 2)]),
        ]
        let report = HistoryChecker().check(history)
        #expect(report.isValid)
        #expect(report.acknowledgedCount == 3)
        #expect(report.unseenCount == 0)
        #expect(report.readCount == 3)
    }

    @Test func acknowledgedButUnread_beforeAReadOffset_isLostWrite() {
        let history: [HistoryEvent] = [
            .send(process: 0, partition: p0, value: 1, outcome: .acknowledged(offset: 0)),
            .send(process: 0, partition: p0, value: 2, outcome: .acknowledged(offset: 1)),
            .poll(process: 9, records: [record(p0, 1, 2)]),
        ]
        #expect(kinds(history) == [.lostWrite])
        #expect(HistoryChecker().check(history).lostCount == 1)
    }

    @Test func acknowledgedButUnread_pastTheLastRead_isUnseenNotLost() {
        let history: [HistoryEvent] = [
            .send(process: 0, partition: p0, value: 1, outcome: .acknowledged(offset: 0)),
            .send(process: 0, partition: p0, value: 2, outcome: .acknowledged(offset: 1)),
            .poll(process: 9, records: [record(p0, 0, 1)]),
        ]
        let report = HistoryChecker().check(history)
        #expect(report.isValid)
        #expect(report.unseenCount == 1)
    }

    @Test func oneValueAtTwoOffsets_isDuplicate() {
        let history: [HistoryEvent] = [
            .send(process: 0, partition: p0, value: 7, outcome: .acknowledged(offset: 0)),
            .poll(process: 9, records: [record(p0, 0, 7), record(p0, 1, 7)]),
        ]
        #expect(kinds(history) == [.duplicate])
    }

    @Test func oneOffsetTwoValues_isInconsistentOffsets() {
        let history: [HistoryEvent] = [
            .send(process: 0, partition: p0, value: 1, outcome: .acknowledged(offset: 0)),
            .poll(process: 9, records: [record(p0, 0, 2)]),
        ]
        // Value 1 was acknowledged at 0 but never read, and nothing after 0 was read: not lost.
        #expect(kinds(history) == [.inconsistentOffsets])
    }

    @Test func offsetsGoingBackwardsAcrossPolls_isNonmonotonicPoll() {
        let history: [HistoryEvent] = [
            .poll(process: 9, records: [record(p0, 0, 1), record(p0, 1, 2)]),
            .poll(process: 9, records: [record(p0, 0, 1)]),
        ]
        #expect(kinds(history) == [.nonmonotonicPoll])
    }

    @Test func reposition_allowsReadingAgain() {
        let history: [HistoryEvent] = [
            .poll(process: 9, records: [record(p0, 0, 1), record(p0, 1, 2)]),
            .reposition(process: 9, partitions: [p0]),
            .poll(process: 9, records: [record(p0, 0, 1)]),
        ]
        #expect(kinds(history).isEmpty)
    }

    @Test func offsetsGoingBackwardsWithinAPoll_isInternalNonmonotonicPoll() {
        let history: [HistoryEvent] = [
            .poll(process: 9, records: [record(p0, 1, 2), record(p0, 0, 1)]),
        ]
        #expect(kinds(history) == [.internalNonmonotonicPoll])
    }

    @Test func jumpingOverAKnownOffsetAcrossPolls_isPollSkip() {
        let history: [HistoryEvent] = [
            .send(process: 0, partition: p0, value: 2, outcome: .acknowledged(offset: 1)),
            .poll(process: 9, records: [record(p0, 0, 1)]),
            .poll(process: 9, records: [record(p0, 2, 3)]),
            .poll(process: 8, records: [record(p0, 1, 2)]),
        ]
        #expect(kinds(history) == [.pollSkip])
    }

    @Test func jumpingOverAKnownOffsetWithinAPoll_isInternalPollSkip() {
        let history: [HistoryEvent] = [
            .send(process: 0, partition: p0, value: 2, outcome: .acknowledged(offset: 1)),
            .poll(process: 9, records: [record(p0, 0, 1), record(p0, 2, 3)]),
            .poll(process: 8, records: [record(p0, 1, 2)]),
        ]
        #expect(kinds(history) == [.internalPollSkip])
    }

    @Test func sparseOffsets_areNotSkips() {
        // Offset 1 never existed (a transaction marker, say): 0 -> 2 is not a skip.
        let history: [HistoryEvent] = [
            .poll(process: 9, records: [record(p0, 0, 1)]),
            .poll(process: 9, records: [record(p0, 2, 3)]),
        ]
        #expect(kinds(history).isEmpty)
    }

    @Test func decreasingOffsetsForOneProducer_isNonmonotonicSend() {
        let history: [HistoryEvent] = [
            .send(process: 0, partition: p0, value: 1, outcome: .acknowledged(offset: 5)),
            .send(process: 0, partition: p0, value: 2, outcome: .acknowledged(offset: 3)),
        ]
        #expect(kinds(history) == [.nonmonotonicSend])
    }

    @Test func readingAFailedSend_isAbortedRead() {
        let history: [HistoryEvent] = [
            .send(process: 0, partition: p0, value: 1, outcome: .aborted),
            .poll(process: 9, records: [record(p0, 0, 1)]),
        ]
        #expect(kinds(history) == [.abortedRead])
    }

    @Test func recorder_keepsEventsInOrder() {
        let recorder = HistoryRecorder()
        recorder.recordSend(process: 0, partition: p0, value: 1, outcome: .acknowledged(offset: 0))
        recorder.recordPoll(process: 1, records: [])
        recorder.recordPoll(process: 1, records: [record(p0, 0, 1)])
        #expect(recorder.history.count == 2)
        #expect(HistoryChecker().check(recorder.history).isValid)
    }
}
