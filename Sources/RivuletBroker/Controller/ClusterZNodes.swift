import RivuletWire

/// The layout of a Rivulet cluster in the coordination service, after Kafka's ZooKeeper layout:
///
/// ```
/// /cluster/id                                  persistent  id=<cluster id>
/// /controller                                  ephemeral   brokerid=<N> epoch=<E>
/// /controller_epoch                            persistent  epoch=<E>
/// /brokers/ids/<N>                             ephemeral   host=<h> port=<p> rack=<r>
/// /brokers/topics/<topic>                      persistent  topic_id=<uuid> internal=<bool>
///                                                          partition.<p>=<replica,...> config.<name>=<value>
/// /brokers/topics/<topic>/partitions/<p>/state persistent  leader=<N> leader_epoch=<E> isr=<N,...>
///                                                          controller_epoch=<E>
/// /latest_producer_id_block                    persistent  first=<id> size=<n>
/// /rivulet/metadata_change                     persistent  (its version is bumped after every change)
/// ```
///
/// Node data is UTF-8 text, one `key=value` per line (readable with `zkCli.sh get`). The state node's
/// znode version is the partition epoch: every write is conditional on it.
public enum ClusterZNodes {
    /// The cluster id (persistent).
    public static let clusterId = "/cluster/id"
    /// The active controller (ephemeral, owned by its session).
    public static let controller = "/controller"
    /// The latest controller epoch (persistent).
    public static let controllerEpoch = "/controller_epoch"
    /// Live brokers' registrations (ephemeral children).
    public static let brokerIds = "/brokers/ids"
    /// Topics' assignments (persistent children).
    public static let topics = "/brokers/topics"
    /// The last producer-id block handed out.
    public static let producerIdBlock = "/latest_producer_id_block"
    /// Bumped after every cluster change; every broker watches it.
    public static let metadataChange = "/rivulet/metadata_change"

    /// The registration of broker `id`.
    public static func broker(_ id: Int32) -> String { "\(brokerIds)/\(id)" }
    /// The assignment node of topic `name`.
    public static func topic(_ name: String) -> String { "\(topics)/\(name)" }
    /// The parent of a topic's partition nodes.
    public static func partitions(_ topic: String) -> String { "\(topics)/\(topic)/partitions" }
    /// The node of one partition.
    public static func partition(_ topic: String, _ partition: Int32) -> String { "\(partitions(topic))/\(partition)" }
    /// The state node (leader, epoch, ISR) of one partition.
    public static func partitionState(_ topic: String, _ partition: Int32) -> String { "\(self.partition(topic, partition))/state" }
}

/// Why a znode's data could not be read.
public struct ZNodeDataError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The node.
    public var path: String
    /// What was wrong.
    public var reason: String

    public var description: String { "unreadable data in \(path): \(reason)" }
}

/// `key=value` lines: the text form of every Rivulet znode.
struct ZNodeFields: Sendable {
    var values: [(String, String)] = []

    init() {}

    init(decoding bytes: [UInt8], path: String) throws(ZNodeDataError) {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ZNodeDataError(path: path, reason: "not UTF-8") }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let equals = line.firstIndex(of: "=") else { throw ZNodeDataError(path: path, reason: "line without '=': \(line)") }
            values.append((String(line[..<equals]), String(line[line.index(after: equals)...])))
        }
    }

    subscript(key: String) -> String? {
        get { values.first { $0.0 == key }?.1 }
        set {
            values.removeAll { $0.0 == key }
            if let newValue { values.append((key, newValue)) }
        }
    }

    var bytes: [UInt8] { Array(values.map { "\($0.0)=\($0.1)" }.joined(separator: "\n").utf8) }

    func int32(_ key: String, path: String) throws(ZNodeDataError) -> Int32 {
        guard let text = self[key], let value = Int32(text) else { throw ZNodeDataError(path: path, reason: "missing or bad \(key)") }
        return value
    }

    func int64(_ key: String, path: String) throws(ZNodeDataError) -> Int64 {
        guard let text = self[key], let value = Int64(text) else { throw ZNodeDataError(path: path, reason: "missing or bad \(key)") }
        return value
    }

    func ids(_ key: String, path: String) throws(ZNodeDataError) -> [Int32] {
        guard let text = self[key] else { throw ZNodeDataError(path: path, reason: "missing \(key)") }
        if text.isEmpty { return [] }
        var ids: [Int32] = []
        for part in text.split(separator: ",") {
            guard let id = Int32(part) else { throw ZNodeDataError(path: path, reason: "bad id '\(part)' in \(key)") }
            ids.append(id)
        }
        return ids
    }

    static func joined(_ ids: [Int32]) -> String { ids.map(String.init).joined(separator: ",") }
}

/// `/brokers/ids/N`: a live broker's endpoint and rack.
public struct BrokerRegistration: Sendable, Hashable {
    /// The broker's id, address and rack.
    public var endpoint: BrokerEndpoint

    /// A registration for `endpoint`.
    public init(endpoint: BrokerEndpoint) {
        self.endpoint = endpoint
    }

    /// The node data.
    public var data: [UInt8] {
        var fields = ZNodeFields()
        fields["host"] = endpoint.host
        fields["port"] = String(endpoint.port)
        if let rack = endpoint.rack { fields["rack"] = rack }
        return fields.bytes
    }

    /// Decodes the node data of broker `nodeId`. Throws `ZNodeDataError` naming what is wrong.
    public init(nodeId: Int32, data: [UInt8]) throws(ZNodeDataError) {
        let path = ClusterZNodes.broker(nodeId)
        let fields = try ZNodeFields(decoding: data, path: path)
        guard let host = fields["host"] else { throw ZNodeDataError(path: path, reason: "missing host") }
        endpoint = BrokerEndpoint(nodeId: nodeId, host: host, port: try fields.int32("port", path: path), rack: fields["rack"])
    }
}

/// `/controller`: who controls the cluster, in which controller epoch.
public struct ControllerRegistration: Sendable, Hashable {
    /// The controller's node id.
    public var brokerId: Int32
    /// Its controller epoch (-1 when the node does not say).
    public var epoch: Int32

    /// A registration of `brokerId` as controller in `epoch`.
    public init(brokerId: Int32, epoch: Int32) {
        self.brokerId = brokerId
        self.epoch = epoch
    }

    /// The node data.
    public var data: [UInt8] {
        var fields = ZNodeFields()
        fields["brokerid"] = String(brokerId)
        fields["epoch"] = String(epoch)
        return fields.bytes
    }

    /// Decodes `/controller`'s data. Throws `ZNodeDataError` naming what is wrong.
    public init(data: [UInt8]) throws(ZNodeDataError) {
        let fields = try ZNodeFields(decoding: data, path: ClusterZNodes.controller)
        brokerId = try fields.int32("brokerid", path: ClusterZNodes.controller)
        epoch = (try? fields.int32("epoch", path: ClusterZNodes.controller)) ?? -1
    }
}

/// `/brokers/topics/<topic>`: a topic's id, replica assignment and config overrides.
public struct TopicAssignment: Sendable, Hashable {
    /// The topic name (the node's name).
    public var name: String
    /// The topic id.
    public var topicId: KafkaUUID
    /// Whether the topic is internal (`__consumer_offsets`).
    public var isInternal: Bool
    /// Replica lists by partition number (`replicas[p]`).
    public var replicas: [[Int32]]
    /// Config overrides by name.
    public var configs: [String: String]

    /// An assignment of `replicas` (by partition number) for topic `name`.
    public init(name: String, topicId: KafkaUUID, isInternal: Bool, replicas: [[Int32]], configs: [String: String]) {
        self.name = name
        self.topicId = topicId
        self.isInternal = isInternal
        self.replicas = replicas
        self.configs = configs
    }

    /// The node data.
    public var data: [UInt8] {
        var fields = ZNodeFields()
        fields["topic_id"] = topicId.description
        fields["internal"] = isInternal ? "true" : "false"
        for (index, list) in replicas.enumerated() { fields["partition.\(index)"] = ZNodeFields.joined(list) }
        for (key, value) in configs.sorted(by: { $0.key < $1.key }) { fields["config.\(key)"] = value }
        return fields.bytes
    }

    /// Decodes topic `name`'s node data. Throws `ZNodeDataError` naming what is wrong.
    public init(name: String, data: [UInt8]) throws(ZNodeDataError) {
        let path = ClusterZNodes.topic(name)
        let fields = try ZNodeFields(decoding: data, path: path)
        guard let idText = fields["topic_id"], let id = KafkaUUID.parse(base64: idText) else {
            throw ZNodeDataError(path: path, reason: "missing or bad topic_id")
        }
        self.name = name
        topicId = id
        isInternal = fields["internal"] == "true"
        var lists: [Int32: [Int32]] = [:]
        var configs: [String: String] = [:]
        for (key, value) in fields.values {
            if key.hasPrefix("partition."), let number = Int32(key.dropFirst("partition.".count)), number >= 0 {
                lists[number] = try fields.ids(key, path: path)
                _ = value
            } else if key.hasPrefix("config.") {
                configs[String(key.dropFirst("config.".count))] = value
            }
        }
        var replicas: [[Int32]] = []
        for number in 0 ..< Int32(lists.count) {
            guard let list = lists[number] else { throw ZNodeDataError(path: path, reason: "partition \(number) is missing") }
            replicas.append(list)
        }
        self.replicas = replicas
        self.configs = configs
    }
}

/// `/brokers/topics/<topic>/partitions/<p>/state`: the leader, its epoch and the ISR.
public struct PartitionStateZNode: Sendable, Hashable {
    /// The leader's node id, -1 when offline.
    public var leader: Int32
    /// The leader epoch.
    public var leaderEpoch: Int32
    /// The in-sync replicas.
    public var isr: [Int32]
    /// The epoch of the controller that wrote the leader (-1 unknown).
    public var controllerEpoch: Int32

    /// A partition state.
    public init(leader: Int32, leaderEpoch: Int32, isr: [Int32], controllerEpoch: Int32) {
        self.leader = leader
        self.leaderEpoch = leaderEpoch
        self.isr = isr
        self.controllerEpoch = controllerEpoch
    }

    /// The node data.
    public var data: [UInt8] {
        var fields = ZNodeFields()
        fields["leader"] = String(leader)
        fields["leader_epoch"] = String(leaderEpoch)
        fields["isr"] = ZNodeFields.joined(isr)
        fields["controller_epoch"] = String(controllerEpoch)
        return fields.bytes
    }

    /// Decodes a state node's data (`path` names it in errors). Throws `ZNodeDataError`.
    public init(data: [UInt8], path: String) throws(ZNodeDataError) {
        let fields = try ZNodeFields(decoding: data, path: path)
        leader = try fields.int32("leader", path: path)
        leaderEpoch = try fields.int32("leader_epoch", path: path)
        isr = try fields.ids("isr", path: path)
        controllerEpoch = (try? fields.int32("controller_epoch", path: path)) ?? -1
    }
}

extension KafkaUUID {
    /// Parses Kafka's 22-character URL-safe base64 form (what `description` prints); nil when malformed.
    static func parse(base64 text: String) -> KafkaUUID? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let chars = Array(text.utf8)
        guard chars.count == 22 else { return nil }
        var bits: [UInt8] = []
        var accumulator: UInt32 = 0
        var count = 0
        for char in chars {
            guard let value = alphabet.firstIndex(of: char) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            count += 6
            if count >= 8 {
                count -= 8
                bits.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(count)))
                accumulator &= (1 << UInt32(count)) - 1
            }
        }
        guard bits.count >= 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0 ..< 8 { high = high << 8 | UInt64(bits[index]) }
        for index in 8 ..< 16 { low = low << 8 | UInt64(bits[index]) }
        let uuid = KafkaUUID(mostSignificantBits: high, leastSignificantBits: low)
        return uuid.description == text ? uuid : nil
    }
}
