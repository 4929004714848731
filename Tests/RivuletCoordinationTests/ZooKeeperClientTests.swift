import NIOCore
import RivuletCore
import RivuletTestSupport
import Testing

@testable import RivuletCoordination

extension WithZooKeeper {
    /// Client behaviour only a real server can show: reconnecting into the same session, re-registered
    /// watches, the server's timeout bounds and its verdict on an expired session.
    @Suite(.enabled(if: !ZooKeeperTestServer.skipRequested, "RIVULET_SKIP_ZOOKEEPER=1"))
    struct ZooKeeperClientTests {
        @Test func reconnect_afterDroppedConnection_keepsSessionEphemeralsAndWatches() async throws {
            try await withFixture(.zooKeeper) { fixture in
                let session = try #require(try await fixture.open() as? ZooKeeperCoordinator)
                let other = try await fixture.open()
                try await session.create("/e", mode: .ephemeral)
                try await other.create("/d")
                let dataWatch = try await session.getData("/d", watch: true).watch
                let existsWatch = try await session.exists("/new", watch: true).watch
                let childWatch = try await session.getChildren("/d", watch: true).watch
                let untouched = try await session.exists("/e", watch: true).watch
                let sessionID = session.sessionID

                session.holdReconnectsForTesting(true)
                session.dropConnectionForTesting()
                try await awaitState(session, .suspended)
                // Changes made while the client is away fire its watches once it is back (SetWatches).
                try await other.setData("/d", data: [1])
                try await other.create("/new")
                try await other.create("/d/child")
                session.holdReconnectsForTesting(false)
                try await awaitState(session, .connected)

                #expect(session.sessionID == sessionID)
                #expect(try await awaitEvent(dataWatch) == WatchedEvent(type: .nodeDataChanged, path: "/d"))
                #expect(try await awaitEvent(existsWatch) == WatchedEvent(type: .nodeCreated, path: "/new"))
                #expect(try await awaitEvent(childWatch) == WatchedEvent(type: .nodeChildrenChanged, path: "/d"))
                #expect(untouched?.isPending == true)
                #expect(try await other.exists("/e")?.ephemeralOwner == sessionID)
                // The re-registered watch is live on the new connection.
                try await other.delete("/e")
                #expect(try await awaitEvent(untouched) == WatchedEvent(type: .nodeDeleted, path: "/e"))
            }
        }

        @Test func reconnect_toSessionKilledMeanwhile_isToldItExpired() async throws {
            try await withFixture(.zooKeeper) { fixture in
                let session = try #require(try await fixture.open() as? ZooKeeperCoordinator)
                let other = try await fixture.open()
                try await session.create("/e", mode: .ephemeral)
                let watch = try await session.exists("/e", watch: true).watch
                session.holdReconnectsForTesting(true)
                session.dropConnectionForTesting()
                try await awaitState(session, .suspended)
                let host = try #require(session.configuration.hosts.first)
                try await session.killSession(sessionID: session.sessionID, password: session.sessionPasswordForTesting, host: host)
                #expect(try await other.exists("/e") == nil)
                session.holdReconnectsForTesting(false)
                try await awaitState(session, .expired)
                await #expect(throws: CoordinatorError.sessionExpired(sessionID: session.sessionID)) {
                    _ = try await watch?.event()
                }
            }
        }

        @Test func sessionTimeout_isClampedToTheServersBounds() async throws {
            try await withFixture(.zooKeeper) { fixture in
                let short = try await fixture.open(timeoutMs: 10)
                #expect(short.sessionTimeoutMs == 2 * ZooKeeperTestServer.tickTimeMs)
                let long = try await fixture.open(timeoutMs: 1_000_000)
                #expect(long.sessionTimeoutMs == ZooKeeperTestServer.maxSessionTimeoutMs)
            }
        }

        @Test func factory_connectsByURL_tryingHostsInTurn() async throws {
            let server = try SharedZooKeeper.server()
            let dead = try await FakeZooKeeperServer.start { _, _, channel in channel.close(promise: nil) }
            defer { Task { await dead.stop() } }
            let url = "zk://127.0.0.1:\(dead.port),127.0.0.1:\(server.port)"
            let session = try await Coordinators.connect(url: url, configuration: .init(sessionTimeoutMs: 10_000))
            let path = "/factory-\(UInt64.random(in: 0...UInt64.max))"
            try await session.create(path, mode: .ephemeral)
            #expect(try await session.exists(path)?.ephemeralOwner == session.sessionID)
            #expect(dead.connectionCount >= 1)
            await session.close()
            #expect(session.state == .closed)
        }
    }
}

/// Client behaviour against a scripted server: pings, silence, malformed and oversized replies,
/// refused sessions. No real ZooKeeper needed.
@Suite struct ZooKeeperClientFaultTests {
    typealias Fake = FakeZooKeeperServer

    private func connect(_ fake: Fake, timeoutMs: Int = 300) async throws -> ZooKeeperCoordinator {
        try await ZooKeeperCoordinator.connect(.init(hosts: [fake.host], sessionTimeoutMs: timeoutMs, connectionTimeoutMs: 2_000))
    }

    /// A script that answers each connection's handshake with `handshake(connection)` (nil: close the
    /// connection instead), answers `closeSession`, and hands other requests to `onRequest`.
    private static func scripted(
        handshake: @escaping @Sendable (Int) -> ByteBuffer?,
        _ onRequest: @escaping @Sendable (Int, Int32, Int32, any Channel) -> Void
    ) -> Fake.Script {
        let handshaken = TestBox<Set<Int>>([])
        return { connection, frame, channel in
            if handshaken.withLock({ $0.insert(connection).inserted }) {
                if let answer = handshake(connection) {
                    channel.writeAndFlush(answer, promise: nil)
                } else {
                    channel.close(promise: nil)
                }
            } else if let header = Fake.header(of: frame) {
                if header.opCode == ZooKeeperProtocol.OpCode.closeSession.rawValue {
                    channel.writeAndFlush(Fake.reply(xid: header.xid), promise: nil)
                    return
                }
                onRequest(connection, header.xid, header.opCode, channel)
            }
        }
    }

    /// `scripted` accepting every handshake with `timeoutMs`.
    private static func accepting(
        timeoutMs: Int32 = 300, _ onRequest: @escaping @Sendable (Int, Int32, Int32, any Channel) -> Void
    ) -> Fake.Script {
        scripted(handshake: { _ in Fake.connectResponse(timeoutMs: timeoutMs) }, onRequest)
    }

    private static func answerPings(_ xid: Int32, _ opCode: Int32, _ channel: any Channel) -> Bool {
        guard opCode == ZooKeeperProtocol.OpCode.ping.rawValue else { return false }
        channel.writeAndFlush(Fake.reply(xid: -2, zxid: -1), promise: nil)
        return true
    }

    private static func goodGetData(xid: Int32) -> ByteBuffer {
        Fake.reply(xid: xid) { body in
            body.writeJuteBuffer([7])
            body.writeJuteStat(NodeStat(
                czxid: 1, mzxid: 1, ctimeMs: 0, mtimeMs: 0, version: 0, cversion: 0, aversion: 0, ephemeralOwner: 0,
                dataLength: 1, numChildren: 0, pzxid: 1))
        }
    }

    @Test func idleSession_pingsAtAThirdOfTheTimeout_andStaysConnected() async throws {
        // A 900 ms timeout leaves room for a starved machine (the whole suite runs in parallel on 2 cores)
        // while still telling "a third of the timeout" (about 6 pings in 2 s) from other intervals.
        let fake = try await Fake.start(Self.accepting(timeoutMs: 900) { _, xid, op, channel in _ = Self.answerPings(xid, op, channel) })
        defer { Task { await fake.stop() } }
        let session = try await connect(fake, timeoutMs: 900)
        #expect(session.sessionTimeoutMs == 900)
        try await SystemClock().sleep(for: .milliseconds(2_000))
        #expect(session.state == .connected)
        let pings = fake.requests.withLock { $0.filter { $0.opCode == 11 && $0.xid == -2 } }
        #expect(pings.count >= 4 && pings.count <= 9, "\(pings.count) pings in 2 s with a 900 ms timeout")
        #expect(fake.connectionCount == 1)
        await session.close()
        #expect(fake.requests.withLock { $0.last?.opCode } == ZooKeeperProtocol.OpCode.closeSession.rawValue)
    }

    @Test func silentServer_dropsTheConnection_thenExpiresWithoutContact() async throws {
        // The first connection is accepted and then ignored; later connections are refused.
        let fake = try await Fake.start(Self.scripted(
            handshake: { connection in connection == 0 ? Fake.connectResponse(timeoutMs: 300) : nil },
            { _, _, _, _ in }))
        defer { Task { await fake.stop() } }
        let session = try await connect(fake, timeoutMs: 300)
        let stream = session.events()
        let start = ContinuousClock.now
        await #expect(throws: CoordinatorError.self) { try await session.getData("/x") }
        #expect(ContinuousClock.now - start < .seconds(2))
        try await awaitState(session, .expired)
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(try await collectStates(stream) == [.connected, .suspended, .expired])
        #expect(fake.requests.withLock { $0.contains { $0.opCode == 11 } }, "a ping went out while idle")
    }

    @Test func inFlightRequest_whenConnectionDrops_failsWithConnectionLoss() async throws {
        let fake = try await Fake.start(Self.accepting(timeoutMs: 2_000) { connection, xid, op, channel in
            if Self.answerPings(xid, op, channel) { return }
            if connection == 0 { channel.close(promise: nil) } else { channel.writeAndFlush(Self.goodGetData(xid: xid), promise: nil) }
        })
        defer { Task { await fake.stop() } }
        let session = try await connect(fake, timeoutMs: 2_000)
        do {
            _ = try await session.getData("/x")
            Issue.record("expected connectionLoss")
        } catch let error as CoordinatorError {
            guard case .connectionLoss = error else { throw error }
        }
        // The client reconnects into the same session and the retried request succeeds.
        #expect(try await session.getData("/x").data == [7])
        #expect(session.state == .connected)
        #expect(fake.connectionCount == 2)
        await session.close()
    }

    @Test func malformedReply_failsTheRequest_andReconnects() async throws {
        let fake = try await Fake.start(Self.accepting(timeoutMs: 2_000) { connection, xid, op, channel in
            if Self.answerPings(xid, op, channel) { return }
            if connection == 0 {
                channel.writeAndFlush(Fake.reply(xid: xid) { $0.writeJuteInt(1_000) }, promise: nil)  // data length, no data
            } else {
                channel.writeAndFlush(Self.goodGetData(xid: xid), promise: nil)
            }
        })
        defer { Task { await fake.stop() } }
        let session = try await connect(fake, timeoutMs: 2_000)
        do {
            _ = try await session.getData("/x")
            Issue.record("expected malformedResponse")
        } catch let error as CoordinatorError {
            guard case .malformedResponse(let reason) = error else { throw error }
            #expect(reason.contains("GetDataResponse.data"))
        }
        #expect(try await session.getData("/x").data == [7])
        #expect(fake.connectionCount == 2)
        await session.close()
    }

    @Test(arguments: [Int32.max, -5])
    func badFrameLength_dropsTheConnection(length: Int32) async throws {
        let fake = try await Fake.start(Self.accepting(timeoutMs: 2_000) { connection, xid, op, channel in
            if Self.answerPings(xid, op, channel) { return }
            if connection == 0 {
                var bogus = ByteBuffer()
                bogus.writeJuteInt(length)
                bogus.writeJuteInt(xid)
                channel.writeAndFlush(bogus, promise: nil)
            } else {
                channel.writeAndFlush(Self.goodGetData(xid: xid), promise: nil)
            }
        })
        defer { Task { await fake.stop() } }
        let session = try await connect(fake, timeoutMs: 2_000)
        do {
            _ = try await session.getData("/x")
            Issue.record("expected connectionLoss")
        } catch let error as CoordinatorError {
            guard case .connectionLoss(let reason) = error else { throw error }
            #expect(reason.contains("frame"), "\(reason)")
        }
        #expect(try await session.getData("/x").data == [7])
        await session.close()
    }

    @Test func replyForUnknownXid_andUndecodableNotification_dropTheConnection() async throws {
        let fake = try await Fake.start(Self.accepting(timeoutMs: 2_000) { connection, xid, op, channel in
            if Self.answerPings(xid, op, channel) { return }
            switch connection {
            case 0: channel.writeAndFlush(Self.goodGetData(xid: xid + 1000), promise: nil)
            case 1:
                channel.writeAndFlush(Fake.reply(xid: -1, zxid: -1) { body in
                    body.writeJuteInt(3)
                    body.writeJuteInt(3)
                    body.writeJuteBuffer([0x2F, 0xFF, 0xFE])  // "/" then invalid UTF-8
                }, promise: nil)
            default: channel.writeAndFlush(Self.goodGetData(xid: xid), promise: nil)
            }
        })
        defer { Task { await fake.stop() } }
        let session = try await connect(fake, timeoutMs: 2_000)
        await #expect(throws: CoordinatorError.self) { try await session.getData("/x") }
        await #expect(throws: CoordinatorError.self) { try await session.getData("/x") }
        #expect(try await session.getData("/x").data == [7])
        #expect(fake.connectionCount == 3)
        await session.close()
    }

    @Test func reconnect_refusedByServer_meansExpired() async throws {
        let fake = try await Fake.start(Self.scripted(
            handshake: { connection in Fake.connectResponse(timeoutMs: connection == 0 ? 2_000 : 0, sessionID: connection == 0 ? 0x1234 : 0) },
            { _, xid, op, channel in
                if Self.answerPings(xid, op, channel) { return }
                channel.close(promise: nil)
            }))
        defer { Task { await fake.stop() } }
        let session = try await connect(fake, timeoutMs: 2_000)
        let stream = session.events()
        await #expect(throws: CoordinatorError.self) { try await session.getData("/x") }
        try await awaitState(session, .expired)
        await #expect(throws: CoordinatorError.sessionExpired(sessionID: 0x1234)) { try await session.getData("/x") }
        #expect(try await collectStates(stream) == [.connected, .suspended, .expired])
    }

    @Test func sessionExpiredReply_endsTheSession() async throws {
        let fake = try await Fake.start(Self.accepting(timeoutMs: 2_000) { _, xid, op, channel in
            if Self.answerPings(xid, op, channel) { return }
            channel.writeAndFlush(Fake.reply(xid: xid, err: -112), promise: nil)
        })
        defer { Task { await fake.stop() } }
        let session = try await connect(fake, timeoutMs: 2_000)
        await #expect(throws: CoordinatorError.sessionExpired(sessionID: 0x1234)) { try await session.create("/a") }
        #expect(session.state == .expired)
    }

    @Test func notificationOutsideTheChroot_isIgnored_insideFiresTheWatch() async throws {
        let fake = try await Fake.start(Self.accepting(timeoutMs: 2_000) { _, xid, op, channel in
            if Self.answerPings(xid, op, channel) { return }
            guard op == ZooKeeperProtocol.OpCode.exists.rawValue else { return }
            channel.writeAndFlush(Fake.reply(xid: xid, err: -101), promise: nil)  // missing: an exists watch
            for path in ["/other/a", "/root/a"] {
                channel.writeAndFlush(Fake.reply(xid: -1, zxid: -1) { body in
                    body.writeJuteInt(1)
                    body.writeJuteInt(3)
                    body.writeJuteString(path)
                }, promise: nil)
            }
        })
        defer { Task { await fake.stop() } }
        let session = try await ZooKeeperCoordinator.connect(.init(hosts: [fake.host], chroot: "/root", sessionTimeoutMs: 2_000))
        let stream = session.events()
        let watch = try await session.exists("/a", watch: true).watch
        #expect(try await awaitEvent(watch) == WatchedEvent(type: .nodeCreated, path: "/a"))
        #expect(try await collectWatchEvents(stream, count: 1) == [WatchedEvent(type: .nodeCreated, path: "/a")])
        #expect(fake.requests.withLock { $0.first { $0.opCode == 3 } } != nil)
        await session.close()
    }

    @Test func connect_withNoServer_failsWithinTheConnectionTimeout() async throws {
        let fake = try await Fake.start { _, _, _ in }  // accepts, never answers the handshake
        defer { Task { await fake.stop() } }
        let closed = try await Fake.start { _, _, _ in }
        let closedPort = closed.port
        await closed.stop()
        let start = ContinuousClock.now
        for host in [fake.host, CoordinatorHost(host: "127.0.0.1", port: closedPort)] {
            do {
                _ = try await ZooKeeperCoordinator.connect(.init(hosts: [host], sessionTimeoutMs: 2_000, connectionTimeoutMs: 300))
                Issue.record("connected to \(host)")
            } catch let error as CoordinatorError {
                guard case .connectionFailed(let hosts, _) = error else { throw error }
                #expect(hosts == host.description)
            }
        }
        #expect(ContinuousClock.now - start < .seconds(3))
    }
}
