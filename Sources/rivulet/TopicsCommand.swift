import ArgumentParser
import RivuletClient
import RivuletWire

/// `rivulet topics`: Kafka's kafka-topics tool: `--create`, `--list`, `--describe`, `--delete`,
/// and `--alter --partitions N`.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics", abstract: "Create, list, describe and delete topics (like kafka-topics)")

    @OptionGroup var connection: ClientOptions

    @Flag(help: "Create a topic.") var create = false
    @Flag(help: "List topics.") var list = false
    @Flag(help: "Describe topics (all, or --topic).") var describe = false
    @Flag(help: "Delete a topic.") var delete = false
    @Flag(help: "Raise a topic's partition count (--partitions).") var alter = false

    @Option(help: "The topic.") var topic: String?
    @Option(help: "Partitions for --create (default: the broker's num.partitions), or the new total for --alter.")
    var partitions: Int32?
    @Option(name: .customLong("replication-factor"), help: "Replicas for --create (default: the broker's).")
    var replicationFactor: Int16?
    @Option(name: .customLong("config"), parsing: .singleValue, help: "A topic config name=value for --create. Repeatable.")
    var configs: [String] = []
    @Flag(name: .customLong("if-not-exists"), help: "With --create: succeed when the topic exists.") var ifNotExists = false
    @Flag(name: .customLong("if-exists"), help: "With --delete, --describe or --alter: succeed when the topic does not exist.")
    var ifExists = false
    @Flag(name: .customLong("exclude-internal"), help: "With --list or --describe: leave out internal topics.")
    var excludeInternal = false

    func validate() throws {
        let actions = [create, list, describe, delete, alter].filter { $0 }.count
        guard actions == 1 else { throw ValidationError("give exactly one of --create, --list, --describe, --delete, --alter") }
        if create || delete || alter, topic == nil { throw ValidationError("--topic is required") }
        if alter, partitions == nil { throw ValidationError("--alter needs --partitions") }
        if let partitions, partitions <= 0 { throw ValidationError("--partitions must be positive") }
        if let replicationFactor, replicationFactor <= 0 { throw ValidationError("--replication-factor must be positive") }
        if !create, !configs.isEmpty { throw ValidationError("--config applies to --create") }
    }

    func run() async throws {
        let session = try await connection.open()
        let admin = Admin(cluster: session.cluster)
        do {
            try await perform(admin)
        } catch {
            await session.close()
            throw error
        }
        await session.close()
    }

    private func perform(_ admin: Admin) async throws {
        if create, let topic {
            try await createTopic(topic, admin: admin)
        } else if list {
            for name in try await admin.listTopics(includeInternal: !excludeInternal) { print(name) }
        } else if describe {
            try await describeTopics(admin: admin)
        } else if delete, let topic {
            let outcome = await Self.outcome { () async throws(ClientError) in try await admin.deleteTopic(topic) }
            if let error = outcome, !(error.kafkaErrorCode == .unknownTopicOrPartition && ifExists) { throw error }
        } else if alter, let topic, let partitions {
            let results = try await admin.createPartitions([topic: partitions])
            if let error = results.first?.error, !(error.kafkaErrorCode == .unknownTopicOrPartition && ifExists) { throw error }
        }
    }

    private func createTopic(_ topic: String, admin: Admin) async throws {
        let configs = Dictionary(try KeyValue.parse(configs, option: "--config"), uniquingKeysWith: { $1 })
        let newTopic = NewTopic(name: topic, partitions: partitions ?? -1, replicationFactor: replicationFactor ?? -1, configs: configs)
        let outcome = await Self.outcome { () async throws(ClientError) in _ = try await admin.createTopic(newTopic) }
        if let error = outcome {
            if error.kafkaErrorCode == .topicAlreadyExists && ifNotExists { return }
            throw error
        }
        print("Created topic \(topic).")
    }

    private func describeTopics(admin: Admin) async throws {
        var names: [String] = []
        if let topic { names = [topic] } else { names = try await admin.listTopics(includeInternal: !excludeInternal) }
        let result: Result<[TopicMetadata], ClientError>
        do throws(ClientError) {
            result = .success(try await admin.describeTopics(names))
        } catch {
            result = .failure(error)
        }
        switch result {
        case let .success(topics):
            for topic in topics { print(try await describeText(topic, admin: admin), terminator: "") }
        case let .failure(error):
            if case .unknownTopic = error, ifExists { return }
            throw error
        }
    }

    /// Runs `body` and returns its error, if any (keeps typed errors out of `catch` patterns).
    private static func outcome(_ body: () async throws(ClientError) -> Void) async -> ClientError? {
        do throws(ClientError) {
            try await body()
            return nil
        } catch {
            return error
        }
    }

    /// kafka-topics' `--describe` layout.
    private func describeText(_ topic: TopicMetadata, admin: Admin) async throws -> String {
        let entries = (try? await admin.describeConfigs(.topic(topic.name))) ?? []
        let overrides = entries.filter { $0.source == .dynamicTopicConfig }
            .map { "\($0.name)=\($0.value ?? "")" }.sorted().joined(separator: ",")
        let replicationFactor = topic.partitions.first?.replicas.count ?? 0
        var text = "Topic: \(topic.name)\tTopicId: \(topic.topicId)\tPartitionCount: \(topic.partitionCount)\t"
            + "ReplicationFactor: \(replicationFactor)\tConfigs: \(overrides)\n"
        func ids(_ list: [Int32]) -> String { list.map(String.init).joined(separator: ",") }
        for partition in topic.partitions {
            text += "\tTopic: \(topic.name)\tPartition: \(partition.partition)\tLeader: \(partition.leaderId < 0 ? "none" : String(partition.leaderId))"
                + "\tReplicas: \(ids(partition.replicas))\tIsr: \(ids(partition.isr))"
            if !partition.offlineReplicas.isEmpty { text += "\tOffline: \(ids(partition.offlineReplicas))" }
            text += "\n"
        }
        return text
    }
}
