import NIOCore
import RivuletClient
import Synchronization
import Testing

/// Polls `condition` every few milliseconds until it holds or `timeoutMs` of real time passes.
/// Returns whether it held. Bounded in time, as every test loop must be.
func eventually(timeoutMs: Int = 30000, _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + .milliseconds(timeoutMs)
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 2_000_000)
    }
    return condition()
}

/// A thread-safe collector of producer outcomes.
final class Outcomes: Sendable {
    let results = Mutex<[Result<RecordMetadata, ClientError>]>([])

    var completion: ProducerCompletion {
        { result in self.results.withLock { $0.append(result) } }
    }

    var count: Int { results.withLock { $0.count } }
    var successes: [RecordMetadata] { results.withLock { $0.compactMap { try? $0.get() } } }
    var failures: [ClientError] {
        results.withLock { $0.compactMap { if case let .failure(error) = $0 { error } else { nil } } }
    }
}

extension ByteBuffer {
    /// The readable bytes as a UTF-8 string (tests only).
    var text: String { String(buffer: self) }
}

func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
