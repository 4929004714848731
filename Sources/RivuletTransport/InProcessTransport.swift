import DequeModule
import RivuletCore
import RivuletWire
import Synchronization

/// A fault applied to every connection that reaches one broker address, in-process.
public enum NetworkFault: Hashable, Sendable {
    /// Requests pass normally.
    case none
    /// Every request waits this long before the broker sees it.
    case delay(nanoseconds: UInt64)
    /// The broker is unreachable: new connections are refused and queued requests fail
    /// (a network partition seen from the clients' side).
    case isolated
}

/// An in-process network: brokers register their request handler at an address, clients connect by
/// address, and typed requests are handed over without being encoded. Faults can be injected per
/// address. Thread-safe.
public final class InProcessNetwork: Sendable {
    private struct Registration {
        let handler: any KafkaRequestHandler
        let generation: UInt64
    }

    private struct State {
        var registrations: [BrokerAddress: Registration] = [:]
        var faults: [BrokerAddress: NetworkFault] = [:]
        var nextGeneration: UInt64 = 0
        var nextConnectionID: UInt64 = 0
    }

    private let state = Mutex(State())
    /// The clock that times injected delays.
    public let clock: any EngineClock

    public init(clock: any EngineClock = SystemClock()) {
        self.clock = clock
    }

    /// Makes `handler` reachable at `address`, replacing (and cutting off) any earlier registration.
    public func register(_ handler: any KafkaRequestHandler, at address: BrokerAddress) {
        state.withLock { state in
            state.nextGeneration += 1
            state.registrations[address] = Registration(handler: handler, generation: state.nextGeneration)
        }
    }

    /// Removes the broker at `address` (it died or stopped); its open connections fail from now on.
    public func unregister(_ address: BrokerAddress) {
        _ = state.withLock { $0.registrations.removeValue(forKey: address) }
    }

    /// Sets the fault for `address` (`.none` heals it).
    public func setFault(_ fault: NetworkFault, for address: BrokerAddress) {
        state.withLock { state in
            if fault == .none { state.faults.removeValue(forKey: address) } else { state.faults[address] = fault }
        }
    }

    /// The addresses that currently have a broker.
    public var registeredAddresses: [BrokerAddress] {
        state.withLock { Array($0.registrations.keys) }
    }

    fileprivate func route(_ address: BrokerAddress, generation: UInt64?) throws -> (any KafkaRequestHandler, UInt64, NetworkFault) {
        try state.withLock { state in
            let fault = state.faults[address] ?? .none
            if fault == .isolated { throw TransportError.injectedFault(address, "network partition") }
            guard let registration = state.registrations[address] else {
                throw generation == nil
                    ? TransportError.notConnected(address, reason: "no in-process broker at this address")
                    : TransportError.connectionClosed(address)
            }
            if let generation, generation != registration.generation { throw TransportError.connectionClosed(address) }
            return (registration.handler, registration.generation, fault)
        }
    }

    fileprivate func nextConnectionID() -> UInt64 {
        state.withLock { state in
            state.nextConnectionID += 1
            return state.nextConnectionID
        }
    }
}

/// The in-process transport: connects clients to brokers registered on an `InProcessNetwork`.
public struct InProcessTransport: Transport {
    public let network: InProcessNetwork

    public init(network: InProcessNetwork) {
        self.network = network
    }

    public func connect(to address: BrokerAddress, clientId: String?) async throws -> any KafkaConnection {
        let (_, generation, _) = try network.route(address, generation: nil)
        return InProcessConnection(network: network, address: address, generation: generation,
                                   connectionID: network.nextConnectionID(), clientId: clientId)
    }
}

/// One in-process connection: a FIFO of typed requests drained by one task at a time, so requests
/// take effect in enqueue order, as on a Kafka connection.
final class InProcessConnection: KafkaConnection {
    private struct Pending: Sendable {
        let body: KafkaRequestBody
        let version: Int16
        let expectResponse: Bool
        let future: ResponseFuture<KafkaResponseBody?>
    }

    private struct State {
        var queue = Deque<Pending>()
        var draining = false
        var closed = false
        var nextCorrelationID: Int32 = 0
    }

    let address: BrokerAddress
    private let network: InProcessNetwork
    private let generation: UInt64
    private let connectionID: UInt64
    private let clientId: String?
    private let state = Mutex(State())

    init(network: InProcessNetwork, address: BrokerAddress, generation: UInt64, connectionID: UInt64, clientId: String?) {
        self.network = network
        self.address = address
        self.generation = generation
        self.connectionID = connectionID
        self.clientId = clientId
    }

    func enqueue<Request: KafkaRequest>(_ request: Request, version: Int16, expectResponse: Bool) -> ResponseFuture<KafkaResponseBody?> {
        let future = ResponseFuture<KafkaResponseBody?>()
        let pending = Pending(body: request.body, version: version, expectResponse: expectResponse, future: future)
        let (accepted, startDrain) = state.withLock { state -> (Bool, Bool) in
            guard !state.closed else { return (false, false) }
            state.queue.append(pending)
            if state.draining { return (true, false) }
            state.draining = true
            return (true, true)
        }
        guard accepted else {
            future.fail(TransportError.connectionClosed(address))
            return future
        }
        if !expectResponse { future.succeed(nil) }
        if startDrain { Task { await self.drain() } }
        return future
    }

    private func drain() async {
        while true {
            let next = state.withLock { state -> (Pending, Int32)? in
                guard !state.queue.isEmpty else {
                    state.draining = false
                    return nil
                }
                state.nextCorrelationID &+= 1
                return (state.queue.removeFirst(), state.nextCorrelationID)
            }
            guard let (pending, correlationID) = next else { return }
            do {
                var (handler, _, fault) = try network.route(address, generation: generation)
                if case let .delay(nanoseconds) = fault {
                    try await network.clock.sleep(nanoseconds: nanoseconds)
                    (handler, _, _) = try network.route(address, generation: generation)
                }
                let header = RequestHeader(
                    apiKey: pending.body.apiKey, apiVersion: pending.version, correlationId: correlationID, clientId: clientId)
                let context = RequestContext(header: header, connectionID: connectionID, clientAddress: "inproc")
                let response = await handler.handle(pending.body, context: context)
                if pending.expectResponse { pending.future.succeed(response) }
            } catch {
                pending.future.fail(error)
            }
        }
    }

    func close() async {
        let dropped = state.withLock { state -> [Pending] in
            state.closed = true
            let dropped = Array(state.queue)
            state.queue.removeAll()
            return dropped
        }
        for pending in dropped { pending.future.fail(TransportError.connectionClosed(address)) }
        if let (handler, _, _) = try? network.route(address, generation: generation) {
            await handler.connectionClosed(connectionID: connectionID)
        }
    }
}
