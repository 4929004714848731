import ArgumentParser

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a workload spec")

    func run() async throws {
        throw ValidationError("'rivulet run' is not built yet")
    }
}
