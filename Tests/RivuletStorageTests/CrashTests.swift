import Logging
import NIOCore
import RivuletCore
import RivuletWire
import Testing
@testable import RivuletStorage

#if canImport(Glibc)
import Glibc
#endif

/// A child process appends with a flush per batch and reports each durable offset; the test kills
/// it with SIGKILL at a random moment and checks that every reported batch is there after recovery.
///
/// The child is `rivulet log append-test`, found next to this test bundle (`swift test` builds every
/// product into the same directory).
@Suite struct CrashTests {
    /// The `rivulet` executable beside the running test binary: `rivulet` (built by `swift build`)
    /// or `rivulet-tool` (the same program, built by `swift test` for the package's plugins),
    /// whichever is newer, so that a stale one is not used.
    static func rivuletExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let me = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = me.lastIndex(of: "/") else { return nil }
        // The test binary may sit inside a bundle directory: look in each parent up to the build directory.
        var directory = String(me[..<slash])
        for _ in 0 ..< 4 {
            var best: (path: String, modified: Int)?
            for name in ["rivulet", "rivulet-tool"] {
                let candidate = directory + "/" + name
                var info = stat()
                guard access(candidate, X_OK) == 0, stat(candidate, &info) == 0 else { continue }
                let modified = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
                if modified > best?.modified ?? -1 { best = (candidate, modified) }
            }
            if let best { return best.path }
            guard let up = directory.lastIndex(of: "/") else { break }
            directory = String(directory[..<up])
        }
        return nil
    }

    /// A spawned child with its stdout on a pipe.
    final class Child {
        let pid: pid_t
        private let output: Int32
        private var pending: [UInt8] = []
        private(set) var finished = false

        init(_ arguments: [String]) throws {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw StorageError.io(operation: "pipe", path: "", errno: errno) }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
            posix_spawn_file_actions_addclose(&actions, fds[0])
            var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
            var envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
            defer { for pointer in argv + envp { free(pointer) } }
            var pid: pid_t = 0
            let result = posix_spawn(&pid, arguments[0], &actions, nil, &argv, &envp)
            close(fds[1])
            guard result == 0 else {
                close(fds[0])
                throw StorageError.io(operation: "posix_spawn", path: arguments[0], errno: result)
            }
            self.pid = pid
            output = fds[0]
        }

        /// The next whole line, waiting at most until `deadlineNanoseconds` (monotonic); nil at end of
        /// output or at the deadline.
        func readLine(deadlineNanoseconds: UInt64, clock: SystemClock) -> String? {
            while true {
                if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    return line
                }
                guard !finished else { return nil }
                let now = clock.monotonicNanoseconds()
                guard now < deadlineNanoseconds else { return nil }
                var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, Int32(min(1000, (deadlineNanoseconds - now) / 1_000_000 + 1)))
                if ready < 0, errno == EINTR { continue }
                guard ready > 0 else { continue }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let count = read(output, &chunk, chunk.count)
                if count <= 0 { finished = true } else { pending += chunk.prefix(count) }
            }
        }

        /// Waits for the child to exit; returns its raw wait status.
        func wait() -> Int32 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            return status
        }

        /// SIGKILL, then reap.
        func kill() -> Int32 {
            _ = Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            return status
        }

        deinit { close(output) }
    }

    @Test(arguments: Backend.durable, [UInt64(1), 2, 3])
    func sigkill_whileAppending_losesNoBatchReportedSynced(backend: Backend, seed: UInt64) throws {
        guard let executable = Self.rivuletExecutable() else {
            Issue.record("no rivulet or rivulet-tool executable next to the test binary; run `swift build`")
            return
        }
        var generator = SeededGenerator(seed: seed &* 1000 &+ (backend == .mmap ? 1 : 0))
        let directory = TemporaryDirectory("crash", onDisk: true)
        let url = "\(backend.rawValue)://\(directory.path)"
        let batchBytes = Int.random(in: 200 ... 3000, using: &generator)
        let syscall = seed % 2 == 0 ? "fsync" : "fdatasync"
        let clock = SystemClock()
        let child = try Child([executable, "log", "append-test", "--storage", url, "--topic", "crash", "--partition", "0",
                               "--batches", "100000", "--batch-bytes", "\(batchBytes)", "--segment-bytes", "\(16 * 1024)",
                               "--flush-syscall", syscall])
        // Let it sync a random number of batches, then kill it a random moment later (usually mid-append).
        let killAfter = Int.random(in: 5 ... 120, using: &generator)
        let deadline = clock.monotonicNanoseconds() + 20_000_000_000
        var synced: [Int64] = []
        var sawOpen = false
        while synced.count < killAfter, let line = child.readLine(deadlineNanoseconds: deadline, clock: clock) {
            if line.hasPrefix("opened") { sawOpen = true }
            if line.hasPrefix("synced "), let offset = Int64(line.dropFirst("synced ".count)) { synced.append(offset) }
        }
        usleep(UInt32.random(in: 0 ... 3000, using: &generator))
        let status = child.kill()
        // Lines already written before the kill are synced too.
        while let line = child.readLine(deadlineNanoseconds: clock.monotonicNanoseconds() + 2_000_000_000, clock: clock) {
            if line.hasPrefix("synced "), let offset = Int64(line.dropFirst("synced ".count)) { synced.append(offset) }
        }
        #expect(sawOpen, "the child did not start")
        #expect(synced.count >= killAfter, "the child synced only \(synced.count) batches")
        #expect(status & 0x7F == SIGKILL, "the child ended with status \(status), not by SIGKILL")
        #expect(synced == synced.indices.map { Int64($0) }, "one record per batch, offsets 0, 1, 2...")

        let engine = try StorageEngines.open(url: url, clock: ManualClock(), logger: Logger(label: "test"))
        let log = try engine.openLog(TopicPartition(topic: "crash", partition: 0), config: LogConfig(segmentBytes: 16 * 1024))
        let lastSynced = synced.last ?? -1
        #expect(log.logEndOffset > lastSynced, "log ends at \(log.logEndOffset), but \(lastSynced) was reported synced")
        let stored = try readAll(log)
        #expect(stored.count == Int(log.logEndOffset))
        for (index, batch) in stored.enumerated() {
            // Offsets from 0, one per batch, each with its own value byte (see append-test).
            #expect(batch.baseOffset == Int64(index) && batch.lastOffset == Int64(index))
            #expect(batch.bytes.count == max(SyntheticBatch.minimumTotalBytes, batchBytes + (index % 7) * 13))
            #expect(batch.bytes[batch.bytes.count - 2] == UInt8(index % 251), "batch \(index) has someone else's bytes")
        }
        // Whatever recovery cut came after the last synced batch.
        for truncation in log.recoveryReport.truncations {
            #expect(!truncation.segmentDeleted || truncation.segmentBaseOffset > lastSynced)
        }
        try log.close()
        try engine.close()
    }
}
