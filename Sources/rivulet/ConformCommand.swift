import ArgumentParser

struct ConformCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conform", abstract: "Run the conformance suites")

    func run() async throws {
        throw ValidationError("'rivulet conform' is not built yet")
    }
}
