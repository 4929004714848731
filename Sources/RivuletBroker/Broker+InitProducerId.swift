import RivuletWire

extension Broker {
    /// InitProducerId for idempotent producers (no transactional id): a new producer id from the
    /// durable counter, epoch 0, whatever producer id and epoch the request carries (Kafka does the
    /// same: without a transactional id the request is accepted blindly). An empty transactional id is
    /// INVALID_REQUEST; transactional producers need the transaction coordinator, which does not
    /// exist yet: COORDINATOR_NOT_AVAILABLE.
    func handleInitProducerId(_ request: InitProducerIdRequest) async -> InitProducerIdResponse {
        if let transactionalId = request.transactionalId {
            let code: KafkaErrorCode = transactionalId.isEmpty ? .invalidRequest : .coordinatorNotAvailable
            return InitProducerIdResponse(throttleTimeMs: 0, errorCode: code.rawValue, producerId: -1, producerEpoch: -1)
        }
        do throws(KafkaApiError) {
            let producerId = try await producerIdManager.generateProducerId()
            return InitProducerIdResponse(throttleTimeMs: 0, errorCode: 0, producerId: producerId, producerEpoch: 0)
        } catch {
            return InitProducerIdResponse(throttleTimeMs: 0, errorCode: error.code.rawValue, producerId: -1, producerEpoch: -1)
        }
    }
}
