import NIOCore
import RivuletBroker
import RivuletCore
import RivuletStorage
import RivuletWire
import Testing

@Suite("Fetch")
struct FetchTests {
    @Test("a long-polling fetch wakes when data is appended", arguments: StorageKind.allCases)
    func fetch_longPoll_wakesOnAppend(kind: StorageKind) async throws {
        let clock = ManualClock()
        try await withBroker(kind, clock: clock) { fixture in
            try await fixture.createTopic("events")
            let partition = try fixture.partition("events")
            let fetchConnection = try await fixture.connect()
            let waiting = Task {
                try await fixture.fetch("events", offset: 0, maxWaitMs: 60000, minBytes: 1, on: fetchConnection)
            }
            try await eventually { partition.watchers.count == 1 }
            #expect(try await fixture.produce("events", records: try makeBatch(count: 2)).errorCode == 0)
            let fetched = try await waiting.value
            #expect(fetched.errorCode == 0)
            #expect(try decodeRecords(fetched.records).map(\.offset) == [0, 1])
            #expect(clock.monotonicNanoseconds() == 0, "woken by the append, not by the timeout")
            #expect(partition.watchers.count == 0)
            await fetchConnection.close()
        }
    }

    @Test("a long-polling fetch answers empty at maxWaitMs when no data comes")
    func fetch_longPoll_timesOut() async throws {
        let clock = ManualClock()
        try await withBroker(.memory, clock: clock) { fixture in
            try await fixture.createTopic("quiet")
            let partition = try fixture.partition("quiet")
            let waiting = Task { try await fixture.fetch("quiet", offset: 0, maxWaitMs: 500, minBytes: 1) }
            // The retention task and the fetch's timer sleep on the clock.
            try await eventually { partition.watchers.count == 1 && clock.sleeperCount == 2 }
            clock.advance(by: .milliseconds(499))
            try await Task.sleep(for: .milliseconds(5))
            #expect(!waiting.isCancelled && partition.watchers.count == 1, "still waiting before maxWaitMs")
            clock.advance(by: .milliseconds(1))
            let fetched = try await waiting.value
            #expect(fetched.errorCode == 0)
            #expect(fetched.highWatermark == 0)
            #expect(try decodeRecords(fetched.records).isEmpty)
        }
    }

    @Test("minBytes: the fetch waits until enough bytes accumulate across appends")
    func fetch_minBytes_accumulates() async throws {
        let clock = ManualClock()
        try await withBroker(.memory, clock: clock) { fixture in
            try await fixture.createTopic("acc", partitions: 2)
            let one = try makeBatch(count: 1, valueBytes: 100)
            let needed = Int32(one.readableBytes * 2 + 1)
            let fetchConnection = try await fixture.connect()
            let request = FetchRequest(maxWaitMs: 60000, minBytes: needed, maxBytes: 1 << 20, topics: [
                .init(topic: "acc", partitions: [
                    .init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20),
                    .init(partition: 1, fetchOffset: 0, partitionMaxBytes: 1 << 20),
                ]),
            ])
            let waiting = Task { try await fetchConnection.send(request, version: 12) }
            let p0 = try fixture.partition("acc", 0)
            try await eventually { p0.watchers.count == 1 }
            _ = try await fixture.produce("acc", partition: 0, records: one)
            _ = try await fixture.produce("acc", partition: 1, records: one)
            try await Task.sleep(for: .milliseconds(5))
            #expect(p0.watchers.count == 1, "two batches are not enough yet")
            _ = try await fixture.produce("acc", partition: 1, records: one)
            let response = try await waiting.value
            let partitions = response.responses[0].partitions
            #expect(partitions.map { $0.records?.readableBytes ?? 0 } == [one.readableBytes, one.readableBytes * 2])
            #expect(clock.monotonicNanoseconds() == 0)
            await fetchConnection.close()
        }
    }

    @Test("maxBytes and partitionMaxBytes bound the answer; the first batch always comes whole", arguments: StorageKind.allCases)
    func fetch_maxBytes(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("sized", partitions: 2)
            let batch = try makeBatch(count: 4, valueBytes: 200)
            let size = batch.readableBytes
            for partition in Int32(0) ..< 2 {
                for _ in 0 ..< 3 { _ = try await fixture.produce("sized", partition: partition, records: batch) }
            }
            // partitionMaxBytes smaller than one batch: the first batch comes whole (KIP-74).
            let tiny = try await fixture.fetch("sized", offset: 0, partitionMaxBytes: 10)
            #expect(tiny.records?.readableBytes == size)
            // partitionMaxBytes of two and a half batches: two batches.
            let two = try await fixture.fetch("sized", offset: 0, partitionMaxBytes: Int32(size * 5 / 2))
            #expect(two.records?.readableBytes == size * 2)
            // Request maxBytes spans partitions: the first partition gets its batch whole, the second
            // only what fits.
            let request = FetchRequest(maxWaitMs: 0, minBytes: 0, maxBytes: Int32(size + size / 2), topics: [
                .init(topic: "sized", partitions: [
                    .init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20),
                    .init(partition: 1, fetchOffset: 0, partitionMaxBytes: 1 << 20),
                ]),
            ])
            let response = try await fixture.send(request, version: 12)
            let sizes = response.responses[0].partitions.map { $0.records?.readableBytes ?? 0 }
            #expect(sizes == [size, 0])
            #expect(response.responses[0].partitions.map(\.highWatermark) == [12, 12])
            // maxBytes smaller than a batch: still one whole batch, from the first partition only.
            let small = try await fixture.send(FetchRequest(maxWaitMs: 0, minBytes: 0, maxBytes: 1, topics: request.topics), version: 12)
            #expect(small.responses[0].partitions.map { $0.records?.readableBytes ?? 0 } == [size, 0])
            // Fetch v2 (hard limit): nothing that does not fit.
            let legacy = try await fixture.fetch("sized", offset: 0, partitionMaxBytes: 10, version: 2)
            #expect((legacy.records?.readableBytes ?? 0) == 0)
        }
    }

    @Test("fetch offsets outside the log are OFFSET_OUT_OF_RANGE with -1 offsets")
    func fetch_outOfRange() async throws {
        try await withBroker(.memory) { fixture in
            try await fixture.createTopic("t")
            _ = try await fixture.produce("t", records: try makeBatch(count: 2))
            let beyond = try await fixture.fetch("t", offset: 3)
            #expect(beyond.errorCode == KafkaErrorCode.offsetOutOfRange.code16)
            #expect(beyond.highWatermark == -1)
            #expect(beyond.logStartOffset == -1)
            let negative = try await fixture.fetch("t", offset: -5)
            #expect(negative.errorCode == KafkaErrorCode.offsetOutOfRange.code16)
            let atEnd = try await fixture.fetch("t", offset: 2)
            #expect(atEnd.errorCode == 0)
            #expect((atEnd.records?.readableBytes ?? 0) == 0)
            #expect(atEnd.highWatermark == 2)
        }
    }

    @Test("topic ids from Fetch v13 on; unknown ids are UNKNOWN_TOPIC_ID; names before v13")
    func fetch_topicIds() async throws {
        try await withBroker(.memory) { fixture in
            let created = try await fixture.createTopic("ids")
            _ = try await fixture.produce("ids", records: try makeBatch(count: 1))
            for version in Int16(13) ... 17 {
                let request = FetchRequest(maxWaitMs: 0, minBytes: 0, topics: [
                    .init(topicId: created.topicId, partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)]),
                    .init(topicId: KafkaUUID(mostSignificantBits: 1, leastSignificantBits: 2),
                          partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)]),
                ])
                let response = try await fixture.send(request, version: version)
                #expect(response.responses[0].topicId == created.topicId)
                #expect(response.responses[0].partitions[0].errorCode == 0)
                #expect(try decodeRecords(response.responses[0].partitions[0].records).count == 1)
                #expect(response.responses[1].partitions[0].errorCode == KafkaErrorCode.unknownTopicId.code16)
            }
            for version in Int16(0) ... 12 {
                let fetched = try await fixture.fetch("ids", offset: 0, version: version)
                #expect(fetched.errorCode == 0, "v\(version)")
                #expect(fetched.records?.readableBytes ?? 0 > 0, "v\(version)")
                let unknown = try await fixture.fetch("missing", offset: 0, version: version)
                #expect(unknown.errorCode == KafkaErrorCode.unknownTopicOrPartition.code16, "v\(version)")
            }
        }
    }

    @Test("incremental fetch sessions are refused with FETCH_SESSION_ID_NOT_FOUND; full fetches are sessionless")
    func fetch_sessions() async throws {
        try await withBroker(.memory) { fixture in
            try await fixture.createTopic("s")
            let topics: [FetchRequest.FetchTopic] = [.init(topic: "s", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 100)])]
            let initial = try await fixture.send(FetchRequest(maxWaitMs: 0, minBytes: 0, sessionId: 0, sessionEpoch: 0, topics: topics), version: 12)
            #expect(initial.errorCode == 0)
            #expect(initial.sessionId == 0)
            let incremental = try await fixture.send(FetchRequest(maxWaitMs: 0, minBytes: 0, sessionId: 17, sessionEpoch: 1, topics: topics), version: 12)
            #expect(incremental.errorCode == KafkaErrorCode.fetchSessionIdNotFound.code16)
            #expect(incremental.responses.isEmpty)
        }
    }

    @Test("a fetch with a stale or future leader epoch is fenced")
    func fetch_leaderEpochChecks() async throws {
        try await withBroker(.memory) { fixture in
            try await fixture.createTopic("e")
            let epoch = try fixture.partition("e").leaderEpoch
            func fetch(epoch: Int32) async throws -> Int16 {
                let request = FetchRequest(maxWaitMs: 0, minBytes: 0, topics: [
                    .init(topic: "e", partitions: [.init(partition: 0, currentLeaderEpoch: epoch, fetchOffset: 0, partitionMaxBytes: 100)]),
                ])
                return try await fixture.send(request, version: 12).responses[0].partitions[0].errorCode
            }
            #expect(try await fetch(epoch: epoch) == 0)
            #expect(try await fetch(epoch: -1) == 0)
            #expect(try await fetch(epoch: epoch + 1) == KafkaErrorCode.unknownLeaderEpoch.code16)
            if epoch > 0 { #expect(try await fetch(epoch: epoch - 1) == KafkaErrorCode.fencedLeaderEpoch.code16) }
        }
    }
}
