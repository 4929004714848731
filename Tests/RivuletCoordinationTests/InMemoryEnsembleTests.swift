import RivuletCore
import Testing

@testable import RivuletCoordination

/// What only the in-memory ensemble offers: deterministic expiry on a manual clock, session-id fault
/// hooks, zxid bookkeeping, ZooKeeper's initial tree, bounded event buffers.
@Suite struct InMemoryEnsembleTests {
    private func makeEnsemble(_ configuration: InMemoryEnsemble.Configuration = .init(tickTimeMs: 100)) -> (InMemoryEnsemble, ManualClock) {
        let clock = ManualClock()
        return (InMemoryEnsemble(clock: clock, configuration: configuration), clock)
    }

    @Test func pausedSession_expiresExactlyAtItsTimeout_onTheManualClock() throws {
        let (ensemble, clock) = makeEnsemble()
        let session = try ensemble.openSession(sessionTimeoutMs: 1_000)
        ensemble.pauseSession(session.sessionID)
        #expect(session.state == .suspended)
        clock.advance(by: .milliseconds(999))
        ensemble.checkSessionExpiry()
        #expect(session.state == .suspended)
        #expect(ensemble.sessionIDs == [session.sessionID])
        clock.advance(by: .milliseconds(1))
        ensemble.checkSessionExpiry()
        #expect(session.state == .expired)
        #expect(ensemble.sessionIDs.isEmpty)
        ensemble.resumeSession(session.sessionID)  // too late: stays expired
        #expect(session.state == .expired)
    }

    @Test func liveSessions_neverExpire_heartbeatsAreImplicit() async throws {
        let (ensemble, clock) = makeEnsemble()
        let session = try ensemble.openSession(sessionTimeoutMs: 200)
        try await session.create("/e", mode: .ephemeral)
        clock.advance(by: .seconds(3_600))
        ensemble.checkSessionExpiry()
        #expect(session.state == .connected)
        #expect(try await session.exists("/e") != nil)
    }

    @Test func pauseTimer_expiresWithoutAnyRequest() async throws {
        let (ensemble, clock) = makeEnsemble()
        let session = try ensemble.openSession(sessionTimeoutMs: 500)
        let observer = try ensemble.openSession(sessionTimeoutMs: 500)
        try await session.create("/e", mode: .ephemeral)
        let watch = try await observer.exists("/e", watch: true).watch
        ensemble.pauseSession(session.sessionID)
        clock.advance(by: .milliseconds(500))  // wakes the pause timer; nobody calls the ensemble
        #expect(try await awaitEvent(watch) == WatchedEvent(type: .nodeDeleted, path: "/e"))
        #expect(session.state == .expired)
    }

    @Test func sessionTimeouts_areClampedToTheConfiguredBounds() throws {
        let (ensemble, _) = makeEnsemble(.init(tickTimeMs: 2_000))
        #expect(try ensemble.openSession(sessionTimeoutMs: 10).sessionTimeoutMs == 4_000)
        #expect(try ensemble.openSession(sessionTimeoutMs: 6_000).sessionTimeoutMs == 6_000)
        #expect(try ensemble.openSession(sessionTimeoutMs: 1_000_000).sessionTimeoutMs == 40_000)
        let (custom, _) = makeEnsemble(.init(tickTimeMs: 100, minSessionTimeoutMs: 50, maxSessionTimeoutMs: 90))
        #expect(try custom.openSession(sessionTimeoutMs: 10).sessionTimeoutMs == 50)
        #expect(try custom.openSession(sessionTimeoutMs: 1_000).sessionTimeoutMs == 90)
        #expect(throws: CoordinatorError.self) { try custom.openSession(sessionTimeoutMs: 100, chroot: "bad") }
    }

    @Test func initialTree_andSpecialPaths_matchZooKeeper() async throws {
        let (ensemble, _) = makeEnsemble()
        let session = try ensemble.openSession(sessionTimeoutMs: 1_000)
        #expect(try await session.getChildren("/") == ["zookeeper"])
        #expect(try await session.getChildren("/zookeeper") == ["config", "quota"])
        for path in ["/", "/zookeeper", "/zookeeper/quota"] {
            await #expect(throws: CoordinatorError.badArguments(path: path, reason: "rejected by the server")) {
                try await session.delete(path)
            }
        }
        await #expect(throws: CoordinatorError.nodeExists(path: "/")) { try await session.create("/") }
        #expect(try await session.create("/", mode: .persistentSequential) == "/0000000000")
    }

    @Test func zxids_advanceOnlyForTransactions() async throws {
        let (ensemble, clock) = makeEnsemble()
        let session = try ensemble.openSession(sessionTimeoutMs: 1_000)
        let afterOpen = ensemble.lastZxid
        let created = try await session.createNode("/a", data: [], mode: .persistent)
        #expect(created.stat.czxid == afterOpen + 1)
        #expect(created.stat.ctimeMs == clock.wallMilliseconds())
        _ = try await session.getData("/a")
        _ = try await session.exists("/b")
        await #expect(throws: CoordinatorError.self) { try await session.create("/a") }
        await #expect(throws: CoordinatorError.self) { try await session.setData("/a", data: [], version: 9) }
        #expect(ensemble.lastZxid == afterOpen + 1, "reads and failed writes are not transactions")
        clock.advance(by: .milliseconds(250))
        let stat = try await session.setData("/a", data: [1])
        #expect(stat.mzxid == afterOpen + 2)
        #expect(stat.mtimeMs == created.stat.ctimeMs + 250)
        await session.close()
        #expect(ensemble.lastZxid == afterOpen + 3, "closing a session is a transaction")
    }

    @Test func ensembleHooks_byID_closeAndExpire() async throws {
        let (ensemble, _) = makeEnsemble()
        let a = try ensemble.openSession(sessionTimeoutMs: 1_000)
        let b = try ensemble.openSession(sessionTimeoutMs: 1_000)
        let c = try ensemble.openSession(sessionTimeoutMs: 1_000)
        try await a.create("/a", mode: .ephemeral)
        try await b.create("/b", mode: .ephemeral)
        ensemble.closeSession(a.sessionID)
        ensemble.expireSession(b.sessionID)
        ensemble.expireSession(b.sessionID)  // ending twice is harmless
        #expect(a.state == .closed && b.state == .expired)
        #expect(try await c.getChildren("/") == ["zookeeper"])
        #expect(ensemble.sessionIDs == [c.sessionID])
    }

    @Test func slowSubscriber_isCutOffWithEventsOverflow() async throws {
        let (ensemble, _) = makeEnsemble(.init(tickTimeMs: 100, bufferedEventsMax: 3))
        let session = try ensemble.openSession(sessionTimeoutMs: 1_000)
        let writer = try ensemble.openSession(sessionTimeoutMs: 1_000)
        let stream = session.events()  // holds .state(.connected)
        for index in 0..<4 {
            try await writer.create("/n\(index)")
            _ = try await session.exists("/n\(index)", watch: true)
            try await writer.setData("/n\(index)", data: [1])
        }
        var received: [CoordinatorEvent] = []
        do {
            for try await event in stream { received.append(event) }
            Issue.record("stream ended without an error")
        } catch let error as CoordinatorError {
            #expect(error == .eventsOverflow(limit: 3))
        }
        #expect(received.count == 3)
        // A fresh subscriber starts over with the current state.
        var fresh = session.events().makeAsyncIterator()
        #expect(try await fresh.next() == .state(.connected))
    }

    @Test func cancelledWaiters_areReleased() async throws {
        let (ensemble, _) = makeEnsemble()
        let session = try ensemble.openSession(sessionTimeoutMs: 1_000)
        try await session.create("/a")
        let watch = try #require(try await session.getData("/a", watch: true).watch)
        let waiting = Task { try await watch.event() }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(watch.isPending, "cancelling an awaiter leaves the watch armed")
        ensemble.pauseSession(session.sessionID)
        let blocked = Task { try await session.getData("/a") }
        blocked.cancel()
        await #expect(throws: CancellationError.self) { try await blocked.value }
        ensemble.resumeSession(session.sessionID)
        try await session.setData("/a", data: [2])
        #expect(watch.firedEvent == WatchedEvent(type: .nodeDataChanged, path: "/a"))
    }
}
