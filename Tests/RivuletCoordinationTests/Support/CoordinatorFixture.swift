import Foundation
import RivuletCore
import RivuletTestSupport
import Testing

@testable import RivuletCoordination

/// The coordinator backends every shared test runs against.
enum Backend: String, Sendable, CustomTestStringConvertible {
    case memory
    case zooKeeper

    /// Both backends, or only memory when `RIVULET_SKIP_ZOOKEEPER=1`.
    static var all: [Backend] { ZooKeeperTestServer.skipRequested ? [.memory] : [.memory, .zooKeeper] }

    var testDescription: String { rawValue }
}

/// One test's world: a fresh in-memory ensemble on a `ManualClock`, or a fresh chroot on the shared
/// ZooKeeper server, so tests never see each other's nodes. Sessions opened here are closed by `cleanup`.
final class CoordinatorFixture: Sendable {
    let backend: Backend
    /// The ensemble's clock (memory only); ZooKeeper runs on real time.
    let clock: ManualClock?
    let ensemble: InMemoryEnsemble?
    private let server: ZooKeeperTestServer?
    private let chroot: String?
    private let sessions = TestBox<[any Coordinator]>([])

    /// A session timeout long enough that no test session expires by accident on a loaded machine.
    static let relaxedTimeoutMs = 10_000
    /// A timeout for expiry tests: short on ZooKeeper's test tick of 100 ms.
    static let shortTimeoutMs = 600

    private init(backend: Backend, clock: ManualClock?, ensemble: InMemoryEnsemble?, server: ZooKeeperTestServer?, chroot: String?) {
        self.backend = backend
        self.clock = clock
        self.ensemble = ensemble
        self.server = server
        self.chroot = chroot
    }

    static func make(_ backend: Backend) async throws -> CoordinatorFixture {
        switch backend {
        case .memory:
            let clock = ManualClock()
            let ensemble = InMemoryEnsemble(
                clock: clock,
                configuration: .init(
                    tickTimeMs: ZooKeeperTestServer.tickTimeMs, maxSessionTimeoutMs: ZooKeeperTestServer.maxSessionTimeoutMs))
            return CoordinatorFixture(backend: backend, clock: clock, ensemble: ensemble, server: nil, chroot: nil)
        case .zooKeeper:
            let server = try SharedZooKeeper.server()
            let chroot = "/test-\(UUID().uuidString.lowercased())"
            let admin = try await ZooKeeperCoordinator.connect(.init(
                hosts: [CoordinatorHost(host: "127.0.0.1", port: server.port)], sessionTimeoutMs: relaxedTimeoutMs))
            try await admin.create(chroot)
            await admin.close()
            return CoordinatorFixture(backend: backend, clock: nil, ensemble: nil, server: server, chroot: chroot)
        }
    }

    /// Opens a session inside this test's namespace; with `chrootBelow`, chrooted at that node of it.
    func open(timeoutMs: Int = relaxedTimeoutMs, chrootBelow: String? = nil) async throws -> any CoordinatorFaultInjecting {
        let session: any CoordinatorFaultInjecting
        switch backend {
        case .memory:
            session = try require(ensemble).openSession(sessionTimeoutMs: timeoutMs, chroot: chrootBelow)
        case .zooKeeper:
            session = try await ZooKeeperCoordinator.connect(.init(
                hosts: [CoordinatorHost(host: "127.0.0.1", port: try require(server).port)],
                chroot: (chroot ?? "") + (chrootBelow ?? ""), sessionTimeoutMs: timeoutMs, connectionTimeoutMs: 5_000))
        }
        sessions.withLock { $0.append(session) }
        return session
    }

    /// Moves a manual clock forward; real clocks move by themselves, so this does nothing for ZooKeeper.
    func advance(byMs milliseconds: Int) {
        clock?.advance(by: .milliseconds(milliseconds))
    }

    /// Closes every session and removes the test's chroot.
    func cleanup() async {
        for session in sessions.withLock({ $0 }) { await session.close() }
        if let server, let chroot {
            if let admin = try? await ZooKeeperCoordinator.connect(.init(
                hosts: [CoordinatorHost(host: "127.0.0.1", port: server.port)], sessionTimeoutMs: Self.relaxedTimeoutMs))
            {
                _ = try? await admin.deleteRecursively(chroot)
                await admin.close()
            }
        }
    }

    private func require<T>(_ value: T?) throws -> T {
        guard let value else { throw ZooKeeperTestServer.StartError(description: "fixture misconfigured") }
        return value
    }
}

/// Runs `body` with a fresh fixture and always cleans up, also when `body` throws.
func withFixture(_ backend: Backend, _ body: (CoordinatorFixture) async throws -> Void) async throws {
    let fixture = try await CoordinatorFixture.make(backend)
    do {
        try await body(fixture)
    } catch {
        await fixture.cleanup()
        throw error
    }
    await fixture.cleanup()
}

/// A tiny locked box for test bookkeeping.
final class TestBox<Value: Sendable>: Sendable {
    private let lock = NSLock()
    nonisolated(unsafe) private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// How long tests wait, in real time, for something that should happen promptly.
let promptly: Duration = .seconds(5)

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Waits (bounded, real time) for a watch and returns its event; fails when the watch is missing or
/// does not fire in time.
func awaitEvent(_ watch: Watch?, _ what: String = "watch", sourceLocation: SourceLocation = #_sourceLocation) async throws -> WatchedEvent {
    let watch = try #require(watch, "\(what): no watch was set", sourceLocation: sourceLocation)
    guard let event = try await watch.event(within: promptly, clock: SystemClock()) else {
        throw TimedOut(description: "\(what) on \(watch.path) did not fire within \(promptly)")
    }
    return event
}

/// Waits (bounded, real time) until the session reaches `target`.
func awaitState(_ session: any Coordinator, _ target: SessionState) async throws {
    let reached = try await withDeadline(clock: SystemClock(), nanoseconds: 5_000_000_000) {
        try await session.waitForState { $0 == target }
    }
    #expect(reached == target, "session reached \(reached), expected \(target)")
}

/// Collects the first `count` watch notifications of an event stream (bounded, real time); throws
/// `TimedOut` listing what arrived when fewer came.
func collectWatchEvents(
    _ stream: AsyncThrowingStream<CoordinatorEvent, any Error>, count: Int
) async throws -> [WatchedEvent] {
    let collected = TestBox<[WatchedEvent]>([])
    do {
        try await withDeadline(clock: SystemClock(), nanoseconds: 5_000_000_000) {
            for try await event in stream {
                guard case .watch(let watched) = event else { continue }
                if collected.withLock({ $0.append(watched); return $0.count }) >= count { return }
            }
        }
    } catch CoordinatorError.operationTimeout {
        throw TimedOut(description: "expected \(count) notifications, got \(collected.withLock { $0 })")
    }
    return collected.withLock { $0 }
}

/// The states an event stream reports until it ends (bounded, real time).
func collectStates(_ stream: AsyncThrowingStream<CoordinatorEvent, any Error>) async throws -> [SessionState] {
    try await withDeadline(clock: SystemClock(), nanoseconds: 5_000_000_000) {
        var states: [SessionState] = []
        for try await event in stream {
            if case .state(let state) = event { states.append(state) }
        }
        return states
    }
}
