import ArgumentParser

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "produce", abstract: "Produce lines from stdin")

    func run() async throws {
        throw ValidationError("'rivulet produce' is not built yet")
    }
}
