import ArgumentParser

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log", abstract: "Inspect and exercise partition logs")

    func run() async throws {
        throw ValidationError("'rivulet log' is not built yet")
    }
}
