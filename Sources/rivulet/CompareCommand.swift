import ArgumentParser

struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compare", abstract: "Run a spec on several backends side by side")

    func run() async throws {
        throw ValidationError("'rivulet compare' is not built yet")
    }
}
