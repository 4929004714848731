import ArgumentParser

struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "consume", abstract: "Consume records to stdout")

    func run() async throws {
        throw ValidationError("'rivulet consume' is not built yet")
    }
}
