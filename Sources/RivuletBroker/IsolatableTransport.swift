import RivuletTransport
import RivuletWire

/// A transport that fails every connection attempt and every request while `isCut()` says its owner
/// is cut off from the network: the outgoing half of a network partition (the in-process network's
/// `.isolated` fault is the incoming half). Used for the replica fetchers of `EmbeddedCluster` brokers.
public struct IsolatableTransport: Transport {
    /// The transport used while connected.
    public let inner: any Transport
    /// Whether the owner is currently cut off.
    public let isCut: @Sendable () -> Bool

    public init(inner: any Transport, isCut: @escaping @Sendable () -> Bool) {
        self.inner = inner
        self.isCut = isCut
    }

    public func connect(to address: BrokerAddress, clientId: String?) async throws -> any KafkaConnection {
        if isCut() { throw TransportError.injectedFault(address, "network partition") }
        return IsolatableConnection(inner: try await inner.connect(to: address, clientId: clientId), isCut: isCut)
    }
}

/// A connection that fails requests while its owner is cut off.
struct IsolatableConnection: KafkaConnection {
    let inner: any KafkaConnection
    let isCut: @Sendable () -> Bool

    var address: BrokerAddress { inner.address }

    func enqueue<Request: KafkaRequest>(_ request: Request, version: Int16, expectResponse: Bool) -> ResponseFuture<KafkaResponseBody?> {
        if isCut() {
            return ResponseFuture.completed(.failure(TransportError.injectedFault(inner.address, "network partition")))
        }
        let future = inner.enqueue(request, version: version, expectResponse: expectResponse)
        // A response that arrives after the cut is dropped, as on a cut link.
        let guarded = ResponseFuture<KafkaResponseBody?>()
        let address = inner.address
        Task {
            do {
                let value = try await future.value
                if isCut() { guarded.fail(TransportError.injectedFault(address, "network partition")) } else { guarded.succeed(value) }
            } catch {
                guarded.fail(error)
            }
        }
        return guarded
    }

    func close() async {
        await inner.close()
    }
}
