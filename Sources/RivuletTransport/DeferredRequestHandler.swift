import RivuletWire
import Synchronization

/// A request handler that forwards to one set later: lets a listener bind (and learn its port, for
/// port 0) before the broker that needs that port as its advertised address exists.
///
/// Until `target` is set, every request gets its API's error response with BROKER_NOT_AVAILABLE (8),
/// which clients treat as retriable. Thread-safe.
public final class DeferredRequestHandler: KafkaRequestHandler {
    private let current = Mutex<(any KafkaRequestHandler)?>(nil)

    public init() {}

    /// The handler requests go to; nil answers BROKER_NOT_AVAILABLE.
    public var target: (any KafkaRequestHandler)? {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }

    public func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        if let target { return await target.handle(request, context: context) }
        return KafkaResponseEncoder.errorBody(for: request.apiKey, errorCode: KafkaErrorCode.brokerNotAvailable.rawValue)
    }

    public func connectionClosed(connectionID: UInt64) async {
        await target?.connectionClosed(connectionID: connectionID)
    }
}
