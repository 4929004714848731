import ArgumentParser

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cluster", abstract: "Run an in-process cluster")

    func run() async throws {
        throw ValidationError("'rivulet cluster' is not built yet")
    }
}
