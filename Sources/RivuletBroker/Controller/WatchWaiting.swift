import RivuletCoordination
import RivuletCore

/// Waiting on several one-shot coordination watches at once.
enum WatchWaiting {
    /// Returns when any of `watches` fires or `timeoutMs` of `clock` time passes, whichever is first.
    /// Throws the session's end (`sessionExpired`, `sessionClosed`) when a watch fails with it, and
    /// `CancellationError` when the caller is cancelled.
    static func waitForAny(_ watches: [Watch], timeoutMs: Int64, clock: any EngineClock) async throws {
        try Task.checkCancellation()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for watch in watches {
                group.addTask { _ = try await watch.event() }
            }
            group.addTask {
                try await clock.sleep(nanoseconds: UInt64(max(1, timeoutMs)) * 1_000_000)
            }
            defer { group.cancelAll() }
            _ = try await group.next()
        }
    }
}

/// A coordination watch kept across loop iterations, so that re-reading a node does not pile up
/// watches on the same path: a new one is set only once the previous one fired.
struct ArmedWatch {
    private(set) var watch: Watch?

    /// Whether the next read should ask for a watch.
    var needsArming: Bool { !(watch?.isPending ?? false) }

    mutating func arm(_ watch: Watch?) {
        if let watch { self.watch = watch }
    }
}
