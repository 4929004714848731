import Metrics
import Synchronization

/// An in-memory swift-metrics backend for tests: sums counters, keeps the last gauge value and
/// every timer sample, keyed by label plus sorted dimensions (`label{k=v,...}`).
final class TestMetrics: MetricsFactory, Sendable {
    private let values = Mutex<[String: Int64]>([:])
    private let samples = Mutex<[String: [Int64]]>([:])

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        guard !dimensions.isEmpty else { return label }
        return label + "{" + dimensions.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    func value(_ label: String, _ dimensions: [(String, String)] = []) -> Int64 {
        values.withLock { $0[Self.key(label, dimensions)] ?? 0 }
    }

    func sampleCount(_ label: String, _ dimensions: [(String, String)] = []) -> Int {
        samples.withLock { $0[Self.key(label, dimensions)]?.count ?? 0 }
    }

    private final class Handler: CounterHandler, RecorderHandler, TimerHandler, FloatingPointCounterHandler, MeterHandler, Sendable {
        let key: String
        let owner: TestMetrics
        init(key: String, owner: TestMetrics) {
            self.key = key
            self.owner = owner
        }
        func increment(by amount: Int64) { owner.values.withLock { $0[key, default: 0] += amount } }
        func increment(by amount: Double) { owner.values.withLock { $0[key, default: 0] += Int64(amount) } }
        func decrement(by amount: Double) { owner.values.withLock { $0[key, default: 0] -= Int64(amount) } }
        func reset() { owner.values.withLock { $0[key] = 0 } }
        func record(_ value: Int64) { owner.values.withLock { $0[key] = value } }
        func record(_ value: Double) { owner.values.withLock { $0[key] = Int64(value) } }
        func set(_ value: Int64) { record(value) }
        func set(_ value: Double) { record(value) }
        func recordNanoseconds(_ duration: Int64) { owner.samples.withLock { $0[key, default: []].append(duration) } }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Handler(key: Self.key(label, dimensions), owner: self) }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Handler(key: Self.key(label, dimensions), owner: self)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(key: Self.key(label, dimensions), owner: self)
    }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { Handler(key: Self.key(label, dimensions), owner: self) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Handler(key: Self.key(label, dimensions), owner: self) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
