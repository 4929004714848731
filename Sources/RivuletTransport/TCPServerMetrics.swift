import Metrics
import RivuletWire
import Synchronization

/// The metrics a `TCPServer` records, through swift-metrics (a process bootstraps a backend, e.g.
/// Prometheus; without one they cost a no-op call). Handles are made once per API, on its first
/// request (so an exposition lists only the APIs clients use); after that recording a request costs
/// one short lock and no allocation.
///
/// Names (Prometheus style):
/// - `rivulet_requests_total{api}`: requests received (any outcome).
/// - `rivulet_request_errors_total{api,reason}`: requests the transport answered itself
///   (`malformed_body`, `unsupported_version`, `unknown_api`) or that closed the connection
///   (`bad_header`).
/// - `rivulet_request_duration_seconds{api}`: time from a request's arrival at the front of its
///   connection's queue to its response being handed to the socket (a Timer, in nanoseconds).
/// - `rivulet_bytes_in_total{api}` / `rivulet_bytes_out_total{api}`: frame bytes, size prefix included.
/// - `rivulet_connections` (gauge), `rivulet_connections_accepted_total`,
///   `rivulet_connections_rejected_total{reason}` (`connections_max`), `rivulet_connections_closed_total{reason}`
///   (`idle`, `frame_too_large`, `bad_frame`, `bad_header`, `peer` (reset), `error`, `shutdown`).
final class TCPServerMetrics: Sendable {
    struct PerApi: Sendable {
        let requests: Counter
        let duration: Timer
        let bytesIn: Counter
        let bytesOut: Counter
    }

    private let perApi: Mutex<[PerApi?]>
    private let factory: any MetricsFactory
    let connections: Gauge
    let connectionsAccepted: Counter
    let connectionsRejectedMax: Counter

    init(factory: any MetricsFactory) {
        self.factory = factory
        // Slots 0...max API key for known APIs, one more for every unknown key.
        let maxKey = Int(ApiKey.allCases.map(\.rawValue).max() ?? 0)
        perApi = Mutex([PerApi?](repeating: nil, count: maxKey + 2))
        connections = Gauge(label: "rivulet_connections", factory: factory)
        connectionsAccepted = Counter(label: "rivulet_connections_accepted_total", factory: factory)
        connectionsRejectedMax = Counter(label: "rivulet_connections_rejected_total", dimensions: [("reason", "connections_max")],
                                         factory: factory)
    }

    /// The handles for API key `apiKey` (a shared "Unknown" set for keys Rivulet does not know).
    func api(_ apiKey: Int16) -> PerApi {
        let api = ApiKey(rawValue: apiKey)
        return perApi.withLock { table in
            let slot = api.map { Int($0.rawValue) } ?? table.count - 1
            if let handles = table[slot] { return handles }
            let dimensions = [("api", api?.name ?? "Unknown")]
            let handles = PerApi(
                requests: Counter(label: "rivulet_requests_total", dimensions: dimensions, factory: factory),
                duration: Timer(label: "rivulet_request_duration_seconds", dimensions: dimensions, factory: factory),
                bytesIn: Counter(label: "rivulet_bytes_in_total", dimensions: dimensions, factory: factory),
                bytesOut: Counter(label: "rivulet_bytes_out_total", dimensions: dimensions, factory: factory))
            table[slot] = handles
            return handles
        }
    }

    /// Counts a request the transport answered or refused itself. Rare, so made on demand.
    func requestError(api: String, reason: String) {
        Counter(label: "rivulet_request_errors_total", dimensions: [("api", api), ("reason", reason)], factory: factory).increment()
    }

    /// Counts a connection closed by the server or the peer, by reason.
    func connectionClosed(reason: String) {
        Counter(label: "rivulet_connections_closed_total", dimensions: [("reason", reason)], factory: factory).increment()
    }
}
