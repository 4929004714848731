import ArgumentParser
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport

/// Where the client tools (`produce`, `consume`, `topics`) find their broker: an embedded broker
/// on a storage URL (`--storage file:///dir`, data persists between runs), or a running broker
/// over TCP (`--bootstrap host:port`, Kafka's `--bootstrap-server` also accepted).
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("storage"),
            help: "Run an embedded broker on this storage: memory://, file:///dir or mmap:///dir.")
    var storage: String?

    @Option(name: [.customLong("bootstrap"), .customLong("bootstrap-server")],
            help: "Connect over TCP to these brokers (host:port[,host:port...]).")
    var bootstrap: String?

    @Option(name: .customLong("broker-property"), parsing: .singleValue,
            help: "A setting of the embedded broker, Kafka's name (num.partitions=3). Repeatable.")
    var brokerProperties: [String] = []

    @Option(name: .customLong("client-id"), help: "The client.id sent to the broker.")
    var clientId: String = "rivulet-cli"

    func validate() throws {
        switch (storage, bootstrap) {
        case (nil, nil): throw ValidationError("give --storage URL (embedded broker) or --bootstrap host:port (TCP)")
        case (_?, _?): throw ValidationError("give either --storage or --bootstrap, not both")
        default: break
        }
        if bootstrap != nil, !brokerProperties.isEmpty {
            throw ValidationError("--broker-property applies only to an embedded broker (--storage)")
        }
    }

    /// Starts the embedded broker (or prepares the TCP transport) and returns a session to use.
    func open() async throws -> ClientSession {
        if let storage {
            let overrides = try KeyValue.parse(brokerProperties, option: "--broker-property")
            // Apply once up front so that a typo is an error rather than silently ignored.
            var probe = BrokerConfig(storageURL: storage)
            for (name, value) in overrides { try Self.apply(name, value, to: &probe) }
            let customize: @Sendable (inout BrokerConfig) -> Void = { config in
                for (name, value) in overrides { try? Self.apply(name, value, to: &config) }
            }
            let embedded: EmbeddedCluster
            do {
                // The tools print records on stdout and their own diagnostics on stderr; the
                // embedded broker's routine log lines would drown them.
                var logger = Logger(label: "rivulet.embedded")
                logger.logLevel = .warning
                embedded = try EmbeddedCluster(EmbeddedCluster.Configuration(storageURL: storage, customize: customize,
                                                                             logger: logger))
                try await embedded.start()
            } catch {
                throw ValidationError("cannot start an embedded broker on \(storage): \(error)")
            }
            var config = ClientConfig(bootstrapServers: embedded.bootstrapAddresses, clientId: clientId)
            config.requestTimeoutMs = 30000
            return ClientSession(cluster: ClusterClient(config: config, transport: embedded.transport), embedded: embedded)
        }
        var servers: [BrokerAddress] = []
        for part in (bootstrap ?? "").split(separator: ",") {
            guard let address = BrokerAddress(String(part)) else { throw ValidationError("--bootstrap: \(part) is not host:port") }
            servers.append(address)
        }
        guard !servers.isEmpty else { throw ValidationError("--bootstrap: no address") }
        let config = ClientConfig(bootstrapServers: servers, clientId: clientId)
        return ClientSession(cluster: ClusterClient(config: config, transport: TCPTransport()), embedded: nil)
    }
}

extension ClientOptions {
    /// The broker settings `--broker-property` accepts, by Kafka's names.
    static func apply(_ name: String, _ value: String, to config: inout BrokerConfig) throws {
        func int() throws -> Int {
            guard let number = Int(value) else { throw ValidationError("--broker-property \(name)=\(value): not an integer") }
            return number
        }
        switch name {
        case "num.partitions": config.numPartitions = Int32(clamping: try int())
        case "auto.create.topics.enable": config.autoCreateTopicsEnable = try KeyValue.bool(value, name: name)
        case "delete.topic.enable": config.deleteTopicEnable = try KeyValue.bool(value, name: name)
        case "log.segment.bytes": config.logSegmentBytes = try int()
        case "log.roll.ms": config.logRollMs = Int64(try int())
        case "log.retention.ms": config.logRetentionMs = Int64(try int())
        case "log.retention.bytes": config.logRetentionBytes = Int64(try int())
        case "log.retention.check.interval.ms": config.logRetentionCheckIntervalMs = Int64(try int())
        case "message.max.bytes": config.messageMaxBytes = try int()
        case "log.message.timestamp.type": config.logMessageTimestampType = value
        default:
            throw ValidationError("--broker-property \(name): not supported here (num.partitions, auto.create.topics.enable, "
                + "delete.topic.enable, log.segment.bytes, log.roll.ms, log.retention.ms, log.retention.bytes, "
                + "log.retention.check.interval.ms, message.max.bytes, log.message.timestamp.type)")
        }
    }
}

/// A cluster client and, for `--storage`, the embedded broker behind it.
struct ClientSession {
    let cluster: ClusterClient
    let embedded: EmbeddedCluster?

    /// Closes the client and stops the embedded broker cleanly (so file storage is flushed).
    func close() async {
        await cluster.close()
        await embedded?.shutdown()
    }
}

/// `k=v` arguments (Kafka's `--property`, `--config`, `--producer-property` style).
enum KeyValue {
    static func parse(_ items: [String], option: String) throws -> [(String, String)] {
        try items.map { item in
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                throw ValidationError("\(option) \(item): expected name=value")
            }
            return (String(item[..<equals]), String(item[item.index(after: equals)...]))
        }
    }

    /// Kafka's console tools accept escapes in separators (`\t`, `\n`).
    static func unescape(_ text: String) -> String {
        var result = ""
        var escaping = false
        for character in text {
            if escaping {
                switch character {
                case "t": result.append("\t")
                case "n": result.append("\n")
                case "r": result.append("\r")
                case "\\": result.append("\\")
                default: result.append("\\"); result.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                result.append(character)
            }
        }
        if escaping { result.append("\\") }
        return result
    }

    static func bool(_ value: String, name: String) throws -> Bool {
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw ValidationError("\(name)=\(value): expected true or false")
        }
    }
}

/// Writes to standard error (diagnostics that must not mix with records on stdout).
func printError(_ message: String) {
    var stream = StandardError()
    print(message, to: &stream)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                #if canImport(Glibc)
                let written = Glibc.write(2, base + offset, buffer.count - offset)
                #else
                let written = Darwin.write(2, base + offset, buffer.count - offset)
                #endif
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
