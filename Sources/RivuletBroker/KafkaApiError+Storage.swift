import RivuletStorage
import RivuletWire

extension KafkaApiError {
    /// The one place storage failures become Kafka error codes.
    ///
    /// Offsets outside the log are OFFSET_OUT_OF_RANGE, oversized batches MESSAGE_TOO_LARGE, bad
    /// batches CORRUPT_MESSAGE (old magic UNSUPPORTED_FOR_MESSAGE_FORMAT), a closed log (a partition
    /// being moved or deleted) NOT_LEADER_OR_FOLLOWER so clients refresh metadata, and every I/O or
    /// engine failure KAFKA_STORAGE_ERROR.
    public init(_ error: StorageError) {
        switch error {
        case .offsetOutOfRange:
            self.init(.offsetOutOfRange, error.description)
        case .batchTooLarge:
            self.init(.messageTooLarge, error.description)
        case let .invalidBatch(batchError):
            self.init(batchError)
        case .invalidConfig:
            self.init(.invalidConfig, error.description)
        case .invalidArgument:
            self.init(.invalidRequest, error.description)
        case .invalidTopicName:
            self.init(.invalidTopicException, error.description)
        case .invalidPartition, .logNotFound:
            self.init(.unknownTopicOrPartition, error.description)
        case .logClosed:
            self.init(.notLeaderOrFollower, error.description)
        case .unexpectedBaseOffset:
            self.init(.unknownServerError, error.description)
        default:
            self.init(.kafkaStorageError, error.description)
        }
    }

    /// A record batch that failed validation: CORRUPT_MESSAGE, except an old magic
    /// (UNSUPPORTED_FOR_MESSAGE_FORMAT) and a batch over a size limit (MESSAGE_TOO_LARGE).
    public init(_ error: RecordBatchError) {
        switch error {
        case .unsupportedMagic:
            self.init(.unsupportedForMessageFormat, "\(error); only record batches v2 (magic 2) are supported")
        case .tooLarge:
            self.init(.messageTooLarge, error.description)
        default:
            self.init(.corruptMessage, error.description)
        }
    }
}
