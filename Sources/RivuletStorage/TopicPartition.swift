/// One partition of one topic: the unit a `LogStore` stores, named `<topic>-<partition>` on disk.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The topic name; `validate()` applies Kafka's rules.
    public var topic: String
    /// The partition number, from 0.
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// `topic-partition`, Kafka's directory name for the partition's log.
    public var description: String { "\(topic)-\(partition)" }

    /// The name of the partition's directory under a data directory.
    public var directoryName: String { description }

    /// The longest topic name Kafka accepts (249, so that `<topic>-<partition>` fits in a file name).
    public static let topicNameBytesMax = 249

    /// Checks the topic name against Kafka's `Topic.validate` and the partition number.
    /// Throws `StorageError.invalidTopicName` or `.invalidPartition`.
    public func validate() throws(StorageError) {
        try Self.validateTopicName(topic)
        guard partition >= 0 else { throw .invalidPartition(partition) }
    }

    /// Kafka's topic name rules: 1 to 249 ASCII letters, digits, '.', '_' or '-', and not "." or "..".
    public static func validateTopicName(_ name: String) throws(StorageError) {
        if name.isEmpty { throw .invalidTopicName(name, reason: "the name is empty") }
        if name == "." || name == ".." { throw .invalidTopicName(name, reason: "'.' and '..' are reserved") }
        let bytes = name.utf8
        if bytes.count > topicNameBytesMax {
            throw .invalidTopicName(name, reason: "\(bytes.count) characters, at most \(topicNameBytesMax) allowed")
        }
        for byte in bytes where !isLegalTopicByte(byte) {
            throw .invalidTopicName(name, reason: "only ASCII letters, digits, '.', '_' and '-' are allowed")
        }
    }

    /// Parses a directory name `<topic>-<partition>`; nil for anything else (lock files, documents,
    /// directories being deleted).
    public init?(directoryName: String) {
        guard let dash = directoryName.lastIndex(of: "-") else { return nil }
        let topic = String(directoryName[..<dash])
        let digits = directoryName[directoryName.index(after: dash)...]
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let partition = Int32(digits), (try? Self.validateTopicName(topic)) != nil
        else { return nil }
        self.init(topic: topic, partition: partition)
    }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }

    static func isLegalTopicByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"),
             UInt8(ascii: "0") ... UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
