import RivuletCore
import RivuletTestSupport
import Testing

@testable import RivuletCoordination

/// Every suite that needs a ZooKeeper server lives inside this one, so one server serves the whole run.
@Suite(.zooKeeperServer)
struct WithZooKeeper {}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

extension WithZooKeeper {
    /// The scenarios every `Coordinator` must pass, run on the in-memory ensemble and on ZooKeeper.
    @Suite struct SharedCoordinatorTests {
        // MARK: CRUD, versions, stats

        @Test(arguments: Backend.all)
        func crud_roundTrip_returnsDataAndStats(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let session = try await fixture.open()
                let created = try await session.createNode("/a", data: bytes("one"), mode: .persistent)
                #expect(created.path == "/a")
                #expect(created.stat.version == 0)
                #expect(created.stat.dataLength == 3)
                #expect(created.stat.czxid == created.stat.mzxid)
                #expect(created.stat.ephemeralOwner == 0)

                let read = try await session.getData("/a")
                #expect(read.data == bytes("one"))
                #expect(read.stat == created.stat)
                #expect(read.watch == nil)

                let updated = try await session.setData("/a", data: bytes("two!"), version: 0)
                #expect(updated.version == 1)
                #expect(updated.dataLength == 4)
                #expect(updated.mzxid > updated.czxid)
                #expect(updated.czxid == created.stat.czxid)
                #expect(try await session.getData("/a").data == bytes("two!"))

                let exists = try #require(try await session.exists("/a"))
                #expect(exists.version == 1)

                try await session.delete("/a", version: 1)
                #expect(try await session.exists("/a") == nil)
                await #expect(throws: CoordinatorError.noNode(path: "/a")) { try await session.getData("/a") }
                await #expect(throws: CoordinatorError.noNode(path: "/a")) { try await session.setData("/a", data: []) }
                await #expect(throws: CoordinatorError.noNode(path: "/a")) { try await session.delete("/a") }
            }
        }

        @Test(arguments: Backend.all)
        func create_errors_matchZooKeeper(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let session = try await fixture.open()
                await #expect(throws: CoordinatorError.noNode(path: "/missing/child")) {
                    try await session.create("/missing/child")
                }
                try await session.create("/a")
                await #expect(throws: CoordinatorError.nodeExists(path: "/a")) { try await session.create("/a") }
                try await session.create("/eph", mode: .ephemeral)
                await #expect(throws: CoordinatorError.noChildrenForEphemerals(path: "/eph/child")) {
                    try await session.create("/eph/child")
                }
                await #expect(throws: CoordinatorError.invalidPath(path: "a", reason: "path must start with / character")) {
                    try await session.create("a")
                }
                await #expect(throws: CoordinatorError.self) { try await session.create("/a/") }
                await #expect(throws: CoordinatorError.self) { try await session.getData("/a/../b") }
                let large = [UInt8](repeating: 7, count: nodeDataBytesMax + 1)
                await #expect(throws: CoordinatorError.dataTooLarge(path: "/a", bytes: large.count, limitBytes: nodeDataBytesMax)) {
                    try await session.setData("/a", data: large)
                }
            }
        }

        @Test(arguments: Backend.all)
        func conditionalWrites_withStaleVersion_throwBadVersion(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let session = try await fixture.open()
                try await session.create("/v", data: bytes("0"))
                _ = try await session.setData("/v", data: bytes("1"), version: 0)
                await #expect(throws: CoordinatorError.badVersion(path: "/v", expectedVersion: 0)) {
                    try await session.setData("/v", data: bytes("x"), version: 0)
                }
                await #expect(throws: CoordinatorError.badVersion(path: "/v", expectedVersion: 5)) {
                    try await session.delete("/v", version: 5)
                }
                #expect(try await session.getData("/v").data == bytes("1"))
                let stat = try await session.setData("/v", data: bytes("2"), version: 1)
                #expect(stat.version == 2)
                try await session.delete("/v", version: 2)
                #expect(try await session.exists("/v") == nil)
            }
        }

        @Test(arguments: Backend.all)
        func children_listAndCountInParentStat(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let session = try await fixture.open()
                let parent = try await session.createNode("/p", data: [], mode: .persistent)
                for name in ["c", "a", "b"] { try await session.create("/p/\(name)") }
                let listed = try await session.getChildren("/p", watch: false)
                #expect(listed.children.sorted() == ["a", "b", "c"])
                #expect(listed.stat.numChildren == 3)
                #expect(listed.stat.cversion == 3)
                #expect(listed.stat.pzxid > parent.stat.pzxid)
                #expect(listed.stat.version == 0)  // children do not change the parent's data version

                await #expect(throws: CoordinatorError.notEmpty(path: "/p")) { try await session.delete("/p") }
                try await session.delete("/p/a")
                let after = try await session.getChildren("/p", watch: false)
                #expect(after.children.sorted() == ["b", "c"])
                #expect(after.stat.cversion == 4)
                await #expect(throws: CoordinatorError.noNode(path: "/nope")) { try await session.getChildren("/nope") }
            }
        }

        @Test(arguments: Backend.all)
        func sequentialCreate_appendsTenDigitCounter(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let session = try await fixture.open()
                try await session.create("/q")
                let first = try await session.create("/q/item-", mode: .persistentSequential)
                let second = try await session.create("/q/item-", mode: .ephemeralSequential)
                try await session.create("/q/plain")  // bumps the parent's cversion too
                let fourth = try await session.create("/q/item-", data: bytes("x"), mode: .persistentSequential)
                #expect(first == "/q/item-0000000000")
                #expect(second == "/q/item-0000000001")
                #expect(fourth == "/q/item-0000000003")
                let bare = try await session.create("/q/", mode: .persistentSequential)
                #expect(bare == "/q/0000000004")
                #expect(try await session.exists(second)?.ephemeralOwner == session.sessionID)
                #expect(try await session.getData(fourth).data == bytes("x"))
            }
        }

        @Test(arguments: Backend.all)
        func recursiveHelpers_createParentsAndDeleteSubtrees(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let session = try await fixture.open()
                let path = try await session.createRecursively("/brokers/topics/t1/partitions/0/state", data: bytes("s"))
                #expect(path == "/brokers/topics/t1/partitions/0/state")
                #expect(try await session.getData(path).data == bytes("s"))
                #expect(try await session.getData("/brokers/topics").data.isEmpty)
                await #expect(throws: CoordinatorError.nodeExists(path: path)) {
                    try await session.createRecursively(path)
                }
                let sequential = try await session.createRecursively("/seq/parent/n-", mode: .ephemeralSequential)
                #expect(sequential == "/seq/parent/n-0000000000")
                try await session.create("/brokers/topics/t2")
                #expect(try await session.deleteRecursively("/brokers"))
                #expect(try await session.exists("/brokers") == nil)
                #expect(try await session.deleteRecursively("/brokers") == false)
            }
        }

        // MARK: Ephemerals and session ends

        @Test(arguments: Backend.all)
        func ephemeral_vanishesWhenSessionCloses(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let owner = try await fixture.open()
                let observer = try await fixture.open()
                #expect(owner.sessionID != observer.sessionID)
                try await owner.create("/brokers")
                try await owner.create("/brokers/1", data: bytes("host:9092"), mode: .ephemeral)
                let stat = try #require(try await observer.exists("/brokers/1"))
                #expect(stat.ephemeralOwner == owner.sessionID)
                let watch = try await observer.exists("/brokers/1", watch: true).watch
                let ownersOnEphemeral = try await owner.getData("/brokers/1", watch: true).watch
                let ownersElsewhere = try await owner.getChildren("/brokers", watch: true).watch
                let ownersUnfired = try await owner.exists("/brokers", watch: true).watch

                await owner.close()
                #expect(owner.state == .closed)
                #expect(try await awaitEvent(watch) == WatchedEvent(type: .nodeDeleted, path: "/brokers/1"))
                #expect(try await observer.exists("/brokers/1") == nil)
                #expect(try await observer.exists("/brokers") != nil)
                // The closing session is still connected while its ephemerals go, so it hears about them
                // (its children watch on /brokers too); nothing else fires afterwards.
                #expect(ownersOnEphemeral?.firedEvent == WatchedEvent(type: .nodeDeleted, path: "/brokers/1"))
                #expect(ownersElsewhere?.firedEvent == WatchedEvent(type: .nodeChildrenChanged, path: "/brokers"))
                await #expect(throws: CoordinatorError.sessionClosed(sessionID: owner.sessionID)) {
                    _ = try await ownersUnfired?.event()
                }
                await #expect(throws: CoordinatorError.sessionClosed(sessionID: owner.sessionID)) {
                    try await owner.create("/x")
                }
                await owner.close()  // idempotent
                #expect(owner.state == .closed)
            }
        }

        @Test(arguments: Backend.all)
        func ephemeral_vanishesWhenSessionExpires(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let owner = try await fixture.open()
                let observer = try await fixture.open()
                try await owner.create("/e", mode: .ephemeral)
                try await owner.create("/keep")
                let observed = try await observer.getData("/e", watch: true).watch
                let ownersWatch = try await owner.exists("/keep", watch: true).watch

                try await owner.injectSessionExpiry()
                try await awaitState(owner, .expired)
                #expect(try await awaitEvent(observed) == WatchedEvent(type: .nodeDeleted, path: "/e"))
                #expect(try await observer.exists("/e") == nil)
                #expect(try await observer.exists("/keep") != nil)
                await #expect(throws: CoordinatorError.sessionExpired(sessionID: owner.sessionID)) {
                    _ = try await ownersWatch?.event()
                }
                await #expect(throws: CoordinatorError.sessionExpired(sessionID: owner.sessionID)) {
                    try await owner.exists("/keep")
                }
                await owner.close()  // closing an expired session changes nothing
                #expect(owner.state == .expired)
            }
        }

        @Test(arguments: Backend.all)
        func pausedSession_expiresAfterItsTimeout(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let owner = try await fixture.open(timeoutMs: CoordinatorFixture.shortTimeoutMs)
                let observer = try await fixture.open()
                #expect(owner.sessionTimeoutMs == CoordinatorFixture.shortTimeoutMs)
                try await owner.create("/controller", data: bytes("1"), mode: .ephemeral)
                let watch = try await observer.exists("/controller", watch: true).watch

                await owner.injectPause()
                #expect(owner.state == .suspended)
                fixture.advance(byMs: CoordinatorFixture.shortTimeoutMs - 1)
                fixture.ensemble?.checkSessionExpiry()
                if backend == .memory {
                    #expect(watch?.isPending == true, "not expired one millisecond before the timeout")
                }
                fixture.advance(byMs: 1)
                #expect(try await awaitEvent(watch) == WatchedEvent(type: .nodeDeleted, path: "/controller"))
                try await awaitState(owner, .expired)
                #expect(try await observer.exists("/controller") == nil)
            }
        }

        @Test(arguments: Backend.all)
        func pausedSession_resumedInTime_keepsEphemeralsAndGetsMissedNotifications(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let owner = try await fixture.open(timeoutMs: 4_000)
                let other = try await fixture.open()
                try await owner.create("/e", mode: .ephemeral)
                try await other.create("/d", data: bytes("a"))
                let watch = try await owner.getData("/d", watch: true).watch

                await owner.injectPause()
                try await other.setData("/d", data: bytes("b"))
                #expect(watch?.isPending == true, "a paused session hears nothing")
                // A request made while paused waits for the resume instead of failing.
                let read = Task { try await owner.getData("/d").data }
                fixture.advance(byMs: 2_000)
                await owner.injectResume()
                #expect(try await read.value == bytes("b"))
                #expect(owner.state == .connected)
                #expect(try await awaitEvent(watch) == WatchedEvent(type: .nodeDataChanged, path: "/d"))
                #expect(try await other.exists("/e")?.ephemeralOwner == owner.sessionID)
            }
        }

        @Test(arguments: Backend.all)
        func events_reportStateChangesAndEndWithTheSession(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let session = try await fixture.open()
                let stream = session.events()
                await session.injectPause()
                await session.injectResume()
                try await session.injectSessionExpiry()
                let states = try await collectStates(stream)
                // ZooKeeper sees its connection dropped (suspended) before it learns of the expiry.
                let expected: [SessionState] = [.connected, .suspended, .connected]
                #expect(Array(states.prefix(3)) == expected)
                #expect(states.last == .expired)
                #expect(states.dropFirst(3).allSatisfy { $0 == .suspended || $0 == .expired })
            }
        }

        // MARK: Watches

        @Test(arguments: Backend.all)
        func dataWatch_firesExactlyOnce(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let watcher = try await fixture.open()
                let writer = try await fixture.open()
                try await writer.create("/w", data: bytes("0"))
                try await writer.create("/sentinel")
                let stream = watcher.events()
                let watch = try await watcher.getData("/w", watch: true).watch
                try await writer.setData("/w", data: bytes("1"))
                try await writer.setData("/w", data: bytes("2"))
                try await writer.delete("/w")
                // The sentinel's notification comes after any the three writes could have caused.
                let sentinel = try await watcher.exists("/sentinel", watch: true).watch
                try await writer.setData("/sentinel", data: [])
                #expect(try await awaitEvent(sentinel).type == .nodeDataChanged)
                #expect(try await awaitEvent(watch) == WatchedEvent(type: .nodeDataChanged, path: "/w"))
                let delivered = try await collectWatchEvents(stream, count: 2)
                #expect(delivered == [
                    WatchedEvent(type: .nodeDataChanged, path: "/w"),
                    WatchedEvent(type: .nodeDataChanged, path: "/sentinel"),
                ])
            }
        }

        @Test(arguments: Backend.all)
        func existsWatch_onMissingNode_firesNodeCreated(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let watcher = try await fixture.open()
                let writer = try await fixture.open()
                let result = try await watcher.exists("/later", watch: true)
                #expect(result.stat == nil)
                #expect(result.watch?.kind == .exists)
                try await writer.create("/later", data: bytes("here"))
                #expect(try await awaitEvent(result.watch) == WatchedEvent(type: .nodeCreated, path: "/later"))
                // Set on an existing node, the same call sets a data watch.
                let again = try await watcher.exists("/later", watch: true)
                #expect(again.watch?.kind == .data)
                try await writer.delete("/later")
                #expect(try await awaitEvent(again.watch) == WatchedEvent(type: .nodeDeleted, path: "/later"))
            }
        }

        @Test(arguments: Backend.all)
        func getData_onMissingNode_setsNoWatch(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let watcher = try await fixture.open()
                let writer = try await fixture.open()
                await #expect(throws: CoordinatorError.noNode(path: "/x")) { try await watcher.getData("/x", watch: true) }
                await #expect(throws: CoordinatorError.noNode(path: "/x")) { try await watcher.getChildren("/x", watch: true) }
                try await writer.create("/sentinel")
                let stream = watcher.events()
                try await writer.create("/x")
                let sentinel = try await watcher.exists("/sentinel", watch: true).watch
                try await writer.delete("/sentinel")
                #expect(try await awaitEvent(sentinel).type == .nodeDeleted)
                #expect(try await collectWatchEvents(stream, count: 1) == [WatchedEvent(type: .nodeDeleted, path: "/sentinel")])
            }
        }

        @Test(arguments: Backend.all)
        func childrenWatch_firesOnChildChangesAndOnDelete(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let watcher = try await fixture.open()
                let writer = try await fixture.open()
                try await writer.create("/ids")
                let first = try await watcher.getChildren("/ids", watch: true)
                #expect(first.children.isEmpty)
                try await writer.create("/ids/1", mode: .ephemeral)
                #expect(try await awaitEvent(first.watch) == WatchedEvent(type: .nodeChildrenChanged, path: "/ids"))

                let second = try await watcher.getChildren("/ids", watch: true)
                #expect(second.children == ["1"])
                let dataWatch = try await watcher.getData("/ids", watch: true).watch
                try await writer.setData("/ids", data: bytes("d"))  // data changes do not fire children watches
                #expect(try await awaitEvent(dataWatch).type == .nodeDataChanged)
                #expect(second.watch?.isPending == true)
                try await writer.delete("/ids/1")
                #expect(try await awaitEvent(second.watch) == WatchedEvent(type: .nodeChildrenChanged, path: "/ids"))

                let third = try await watcher.getChildren("/ids", watch: true)
                try await writer.delete("/ids")
                #expect(try await awaitEvent(third.watch) == WatchedEvent(type: .nodeDeleted, path: "/ids"))
            }
        }

        @Test(arguments: Backend.all)
        func notifications_arriveInZxidOrder_beforeTheChangeIsVisible(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let watcher = try await fixture.open()
                let writer = try await fixture.open()
                for name in ["a", "b", "c"] { try await writer.create("/\(name)") }
                let stream = watcher.events()
                var watches: [Watch?] = []
                for name in ["a", "b", "c"] { watches.append(try await watcher.getData("/\(name)", watch: true).watch) }
                for name in ["c", "a", "b"] { try await writer.setData("/\(name)", data: bytes(name)) }
                // Once the watcher reads the new data, the notification has already been delivered.
                #expect(try await watcher.getData("/b").data == bytes("b"))
                #expect(watches.allSatisfy { $0?.firedEvent?.type == .nodeDataChanged })
                #expect(try await collectWatchEvents(stream, count: 3).map(\.path) == ["/c", "/a", "/b"])
            }
        }

        @Test(arguments: Backend.all)
        func ownWrite_firesOwnWatch_beforeTheWriteReturns(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let session = try await fixture.open()
                try await session.create("/self")
                let watch = try await session.getData("/self", watch: true).watch
                let children = try await session.getChildren("/self", watch: true).watch
                try await session.setData("/self", data: bytes("x"))
                #expect(watch?.firedEvent == WatchedEvent(type: .nodeDataChanged, path: "/self"))
                try await session.create("/self/child")
                #expect(children?.firedEvent == WatchedEvent(type: .nodeChildrenChanged, path: "/self"))
            }
        }

        // MARK: Controller election

        enum SessionEnd: String, Sendable, CaseIterable, CustomTestStringConvertible {
            case close, expire, pause
            var testDescription: String { rawValue }
        }

        @Test(arguments: Backend.all, SessionEnd.allCases)
        func controllerElection_loserTakesOverWhenWinnerSessionEnds(backend: Backend, end: SessionEnd) async throws {
            try await withFixture(backend) { fixture in
                let brokers = [
                    try await fixture.open(timeoutMs: CoordinatorFixture.shortTimeoutMs),
                    try await fixture.open(timeoutMs: CoordinatorFixture.shortTimeoutMs),
                ]
                // Both race to create /controller; exactly one wins.
                let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                    for (index, broker) in brokers.enumerated() {
                        group.addTask {
                            do {
                                try await broker.create("/controller", data: bytes("\(index)"), mode: .ephemeral)
                                return (index, true)
                            } catch CoordinatorError.nodeExists {
                                return (index, false)
                            }
                        }
                    }
                    var outcomes: [Int: Bool] = [:]
                    for try await (index, won) in group { outcomes[index] = won }
                    return outcomes
                }
                let winners = outcomes.filter(\.value).map(\.key)
                try #require(winners.count == 1)
                let winner = brokers[winners[0]]
                let loser = brokers[1 - winners[0]]
                #expect(try await loser.getData("/controller").stat.ephemeralOwner == winner.sessionID)

                // The loser watches the controller node.
                let watched = try await loser.exists("/controller", watch: true)
                #expect(watched.stat != nil)

                switch end {
                case .close: await winner.close()
                case .expire: try await winner.injectSessionExpiry()
                case .pause:
                    await winner.injectPause()
                    fixture.advance(byMs: CoordinatorFixture.shortTimeoutMs)
                }
                #expect(try await awaitEvent(watched.watch, "controller watch") == WatchedEvent(type: .nodeDeleted, path: "/controller"))
                let created = try await loser.createNode("/controller", data: bytes("taken over"), mode: .ephemeral)
                #expect(created.stat.ephemeralOwner == loser.sessionID)
                #expect(try await loser.getData("/controller").data == bytes("taken over"))
                #expect(winner.state != .connected)
            }
        }

        // MARK: Chroot

        @Test(arguments: Backend.all)
        func chroot_makesPathsRelative(backend: Backend) async throws {
            try await withFixture(backend) { fixture in
                let session = try await fixture.open()
                try await session.create("/cluster-a")
                let rooted = try await fixture.open(chrootBelow: "/cluster-a")
                let path = try await rooted.create("/seq-", mode: .ephemeralSequential)
                #expect(path == "/seq-0000000000")
                #expect(try await rooted.getChildren("/") == ["seq-0000000000"])
                #expect(try await session.getChildren("/cluster-a") == ["seq-0000000000"])
                let watch = try await rooted.exists("/later", watch: true).watch
                try await session.create("/cluster-a/later")
                #expect(try await awaitEvent(watch) == WatchedEvent(type: .nodeCreated, path: "/later"))
                await rooted.close()
                #expect(try await session.getChildren("/cluster-a") == ["later"])
            }
        }
    }
}
