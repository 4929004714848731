import Foundation
import NIOCore
import NIOPosix
import Testing

/// A standalone ZooKeeper (Debian's `zookeeper` package) started for this test run: a free 127.0.0.1
/// port, a temporary data directory, tickTime 100 ms (so session timeouts may be as short as 200 ms),
/// no fsync. A watchdog shell stops the JVM if the test process dies without stopping it.
public final class ZooKeeperTestServer: Sendable {
    public static let jarPath = "/usr/share/java/zookeeper.jar"
    public static let tickTimeMs = 100
    public static let maxSessionTimeoutMs = 30_000

    /// Whether the run asked to skip ZooKeeper (`RIVULET_SKIP_ZOOKEEPER=1`).
    public static var skipRequested: Bool { ProcessInfo.processInfo.environment["RIVULET_SKIP_ZOOKEEPER"] == "1" }

    public let port: Int
    public let dataDirectory: URL
    private let shell: Process

    private init(port: Int, dataDirectory: URL, shell: Process) {
        self.port = port
        self.dataDirectory = dataDirectory
        self.shell = shell
    }

    public var connectString: String { "127.0.0.1:\(port)" }

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Starts a server and waits until it answers `ruok` (up to 30 s); retries on another port if the
    /// chosen one was taken meanwhile.
    public static func start() async throws -> ZooKeeperTestServer {
        guard FileManager.default.fileExists(atPath: jarPath) else {
            throw StartError(description: """
                ZooKeeper is not installed (\(jarPath) is missing): install Debian's package with \
                `apt-get install -y zookeeper`, or set RIVULET_SKIP_ZOOKEEPER=1 to skip the ZooKeeper tests
                """)
        }
        var lastError: (any Error)?
        for _ in 0..<3 {
            do {
                return try await startOnce()
            } catch {
                lastError = error
            }
        }
        throw lastError ?? StartError(description: "ZooKeeper did not start")
    }

    private static func startOnce() async throws -> ZooKeeperTestServer {
        let port = try await freePort()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("rivulet-zk-test-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        let config = """
            tickTime=\(tickTimeMs)
            dataDir=\(directory.path)/data
            clientPort=\(port)
            clientPortAddress=127.0.0.1
            maxClientCnxns=0
            minSessionTimeout=\(2 * tickTimeMs)
            maxSessionTimeout=\(maxSessionTimeoutMs)
            forceSync=no
            admin.enableServer=false
            4lw.commands.whitelist=ruok,srvr,stat
            """
        try config.write(to: directory.appendingPathComponent("zoo.cfg"), atomically: true, encoding: .utf8)
        let classpath = "/etc/zookeeper/conf:\(jarPath):/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
        let java = """
            java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp '\(classpath)' \
            -Dzookeeper.root.logger=INFO,CONSOLE -Dzookeeper.jmx.log4j.disable=true \
            org.apache.zookeeper.server.ZooKeeperServerMain '\(directory.path)/zoo.cfg'
            """
        // The shell starts the JVM, records its pid, and stops it when the test process is gone.
        let script = """
            \(java) > '\(directory.path)/zk.log' 2>&1 &
            zk=$!
            echo $zk > '\(directory.path)/zk.pid'
            while kill -0 \(ProcessInfo.processInfo.processIdentifier) 2>/dev/null && kill -0 $zk 2>/dev/null; do sleep 0.5; done
            kill $zk 2>/dev/null
            wait $zk
            """
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", script]
        shell.standardOutput = FileHandle.nullDevice
        shell.standardError = FileHandle.nullDevice
        try shell.run()
        let server = ZooKeeperTestServer(port: port, dataDirectory: directory, shell: shell)
        let started = ContinuousClock.now
        while ContinuousClock.now - started < .seconds(30) {
            if await server.answersRuok() { return server }
            if !shell.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? String(contentsOf: directory.appendingPathComponent("zk.log"), encoding: .utf8)) ?? ""
        server.stop()
        throw StartError(description: "ZooKeeper did not become ready on port \(port); log tail:\n\(log.suffix(2000))")
    }

    /// Stops the JVM (SIGTERM, then SIGKILL after 5 s) and deletes the data directory.
    public func stop() {
        let pidFile = dataDirectory.appendingPathComponent("zk.pid")
        if let text = try? String(contentsOf: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(50_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        if shell.isRunning { shell.terminate() }
        shell.waitUntilExit()
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    /// Whether the server answers the `ruok` four-letter word with `imok`.
    public func answersRuok() async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(200))
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "ruok"))
                var answer = ByteBuffer()
                for try await var chunk in inbound {
                    answer.writeBuffer(&chunk)
                    if answer.readableBytes >= 4 { break }
                }
                return String(buffer: answer) == "imok"
            }
        } catch {
            return false
        }
    }

    private static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        defer { channel.close(promise: nil) }
        guard let port = channel.localAddress?.port else { throw StartError(description: "no local port") }
        return port
    }
}

/// The ZooKeeper server shared by every test of this run, started around the suites that carry the
/// `.zooKeeperServer` trait and stopped after them, also when tests fail.
public enum SharedZooKeeper {
    /// The server of the current scope, or why there is none.
    @TaskLocal public static var current: Result<ZooKeeperTestServer, ZooKeeperTestServer.StartError>?

    /// The running server; fails the calling test with the reason if it could not start.
    public static func server() throws -> ZooKeeperTestServer {
        switch current {
        case .success(let server): return server
        case .failure(let error): throw error
        case nil:
            throw ZooKeeperTestServer.StartError(description: "test is not inside a suite with the .zooKeeperServer trait")
        }
    }
}

/// Starts one ZooKeeper for the suite it is attached to (unless `RIVULET_SKIP_ZOOKEEPER=1`), and stops it
/// when the suite ends.
public struct ZooKeeperServerTrait: SuiteTrait, TestScoping {
    public init() {}
    public var isRecursive: Bool { false }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        if ZooKeeperTestServer.skipRequested {
            try await function()
            return
        }
        let started: Result<ZooKeeperTestServer, ZooKeeperTestServer.StartError>
        do {
            started = .success(try await ZooKeeperTestServer.start())
        } catch let error as ZooKeeperTestServer.StartError {
            started = .failure(error)
        } catch {
            started = .failure(.init(description: "\(error)"))
        }
        defer { if case .success(let server) = started { server.stop() } }
        try await SharedZooKeeper.$current.withValue(started) {
            try await function()
        }
    }
}

extension Trait where Self == ZooKeeperServerTrait {
    /// Runs the suite with a shared ZooKeeper server (see `ZooKeeperServerTrait`).
    public static var zooKeeperServer: Self { Self() }
}
