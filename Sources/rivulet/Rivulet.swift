import ArgumentParser

/// The `rivulet` command line: a Kafka-compatible broker, its tools, and the workload harness.
@main
struct Rivulet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rivulet",
        abstract: "A Kafka-compatible broker engine with a benchmarking and conformance harness.",
        subcommands: [
            RunCommand.self, CompareCommand.self, ConformCommand.self,
            BrokerCommand.self, ClusterCommand.self,
            ProduceCommand.self, ConsumeCommand.self, TopicsCommand.self, GroupsCommand.self, LogCommand.self,
        ]
    )
}
