import RivuletCore
import Testing

@testable import RivuletCoordination

/// ZooKeeper's path rules, path arithmetic, coordinator URLs and the factory.
@Suite struct CoordinatorPathAndURLTests {
    @Test(arguments: ["/", "/a", "/a/b", "/brokers/ids/0", "/a.b", "/.a", "/a..", "/...", "/a b", "/\u{7F}", "/zookeeper", "/é"])
    func validPaths_pass(path: String) throws {
        try CoordinatorPath.validate(path)
    }

    @Test(arguments: [
        ("", "path length must be > 0"),
        ("a", "path must start with / character"),
        ("/a/", "path must not end with / character"),
        ("//a", "empty node name specified @1"),
        ("/a//b", "empty node name specified @3"),
        ("/.", "relative paths not allowed @1"),
        ("/..", "relative paths not allowed @2"),
        ("/a/./b", "relative paths not allowed @3"),
        ("/a/../b", "relative paths not allowed @4"),
        ("/a\u{0}b", "null character not allowed @2"),
        ("/a\u{1F}", "invalid character @2"),
        ("/\u{85}", "invalid character @1"),
        ("/\u{E000}", "invalid character @1"),
        ("/\u{FFF5}", "invalid character @1"),
        ("/😀", "invalid character @1"),
    ])
    func invalidPaths_nameTheBrokenRule(path: String, reason: String) {
        #expect(throws: CoordinatorError.invalidPath(path: path, reason: reason)) { try CoordinatorPath.validate(path) }
    }

    @Test func sequentialPaths_mayEndWithASlash() throws {
        try CoordinatorPath.validate("/queue/", sequential: true)
        try CoordinatorPath.validate("/", sequential: true)
        #expect(throws: CoordinatorError.self) { try CoordinatorPath.validate("/queue//", sequential: true) }
    }

    @Test func pathArithmetic() {
        #expect(CoordinatorPath.parent(of: "/") == nil)
        #expect(CoordinatorPath.parent(of: "/a") == "/")
        #expect(CoordinatorPath.parent(of: "/a/b/c") == "/a/b")
        #expect(CoordinatorPath.name(of: "/a/b/c") == "c")
        #expect(CoordinatorPath.name(of: "/") == "")
        #expect(CoordinatorPath.join("/", "a") == "/a")
        #expect(CoordinatorPath.join("/a", "b") == "/a/b")
        #expect(CoordinatorPath.ancestors(of: "/a/b/c") == ["/a", "/a/b"])
        #expect(CoordinatorPath.ancestors(of: "/a").isEmpty)
        #expect(CoordinatorPath.sequenceSuffix(0) == "0000000000")
        #expect(CoordinatorPath.sequenceSuffix(42) == "0000000042")
        #expect(CoordinatorPath.sequenceSuffix(Int32.max) == "2147483647")
        #expect(CoordinatorPath.sequenceSuffix(-1) == "-000000001")  // Java's %010d after cversion overflow
        #expect(CoordinatorPath.sequenceSuffix(Int32.min) == "-2147483648")
    }

    @Test func chroot_translatesBothWays() {
        let chroot = Chroot("/cluster")
        #expect(chroot.serverPath("/") == "/cluster")
        #expect(chroot.serverPath("/a") == "/cluster/a")
        #expect(chroot.clientPath("/cluster") == "/")
        #expect(chroot.clientPath("/cluster/a/b") == "/a/b")
        #expect(chroot.clientPath("/clusterx/a") == nil)
        #expect(chroot.clientPath("/other") == nil)
        let none = Chroot("/")
        #expect(none.prefix == nil && none.serverPath("/a") == "/a" && none.clientPath("/a") == "/a")
    }

    // MARK: URLs

    @Test func endpoints_parse() throws {
        #expect(try CoordinatorEndpoint(parsing: "memory://") == .memory(name: "default", chroot: nil))
        #expect(try CoordinatorEndpoint(parsing: "memory://cluster-a") == .memory(name: "cluster-a", chroot: nil))
        #expect(try CoordinatorEndpoint(parsing: "MEMORY://c/rivulet/x") == .memory(name: "c", chroot: "/rivulet/x"))
        #expect(try CoordinatorEndpoint(parsing: "zk://127.0.0.1:2181") == .zooKeeper(
            hosts: [CoordinatorHost(host: "127.0.0.1", port: 2181)], chroot: nil))
        #expect(try CoordinatorEndpoint(parsing: "zk://a:1,b,[::1]:3/kafka") == .zooKeeper(
            hosts: [CoordinatorHost(host: "a", port: 1), CoordinatorHost(host: "b", port: 2181), CoordinatorHost(host: "::1", port: 3)],
            chroot: "/kafka"))
        #expect(try CoordinatorEndpoint(parsing: "zk://h:9/").description == "zk://h:9")
        #expect(CoordinatorHost(host: "::1", port: 3).description == "[::1]:3")
    }

    @Test(arguments: [
        "zk://", "zk:///chroot", "zk://h:0", "zk://h:70000", "zk://h:x", "zk://h:1,,h:2", "zk://[::1", "zk://[::1]x",
        "zk://:2181", "zk://h/a/", "memory://n/a//b", "memory://n?x=1", "127.0.0.1:2181", "",
    ])
    func malformedURLs_throwSayingWhy(url: String) {
        #expect(throws: CoordinatorError.self) { try CoordinatorEndpoint(parsing: url) }
    }

    @Test func unknownScheme_listsTheSupportedOnes() async {
        let expected = CoordinatorError.unsupportedScheme(scheme: "etcd", supportedSchemes: ["memory", "zk"])
        await #expect(throws: expected) { _ = try await Coordinators.connect(url: "etcd://127.0.0.1:2379") }
        #expect(expected.description == "unsupported coordinator scheme \"etcd\"; supported: memory://, zk://")
    }

    @Test func factory_memoryURLs_shareTheNamedEnsemble() async throws {
        let name = "factory-\(UInt64.random(in: 0...UInt64.max))"
        defer { InMemoryEnsemble.removeNamed(name) }
        let configuration = CoordinatorConfiguration(sessionTimeoutMs: 6_000, clock: ManualClock())
        let broker1 = try await Coordinators.connect(url: "memory://\(name)", configuration: configuration)
        let broker2 = try await Coordinators.connect(url: "memory://\(name)", configuration: configuration)
        #expect(broker1 is InMemoryCoordinator && broker1 is any CoordinatorFaultInjecting)
        try await broker1.create("/controller", data: [1], mode: .ephemeral)
        #expect(try await broker2.exists("/controller")?.ephemeralOwner == broker1.sessionID)
        #expect(broker1.sessionTimeoutMs == 6_000)

        try await broker1.create("/cluster")
        let rooted = try await Coordinators.connect(url: "memory://\(name)/cluster", configuration: configuration)
        try await rooted.create("/inside")
        #expect(try await broker2.getChildren("/cluster") == ["inside"])

        let elsewhere = try await Coordinators.connect(url: "memory://\(name)-other", configuration: configuration)
        #expect(try await elsewhere.exists("/controller") == nil)
        InMemoryEnsemble.removeNamed("\(name)-other")
        for session in [broker1, broker2, rooted, elsewhere] { await session.close() }
    }

    @Test func errors_mapToAndFromZooKeeperCodes() {
        let cases: [(Int32, CoordinatorError)] = [
            (-101, .noNode(path: "/p")), (-110, .nodeExists(path: "/p")), (-103, .badVersion(path: "/p", expectedVersion: 4)),
            (-111, .notEmpty(path: "/p")), (-108, .noChildrenForEphemerals(path: "/p")), (-112, .sessionExpired(sessionID: 7)),
            (-7, .operationTimeout), (-102, .server(code: -102, path: "/p")),
        ]
        for (code, error) in cases {
            #expect(CoordinatorError(zooKeeperCode: code, path: "/p", expectedVersion: 4, sessionID: 7) == error)
            #expect(error.zooKeeperCode == code)
        }
        #expect(CoordinatorError.invalidPath(path: "a", reason: "r").zooKeeperCode == nil)
    }
}
