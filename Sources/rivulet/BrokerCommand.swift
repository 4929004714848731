import ArgumentParser

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "broker", abstract: "Run a broker")

    func run() async throws {
        throw ValidationError("'rivulet broker' is not built yet")
    }
}
