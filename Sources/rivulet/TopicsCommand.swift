import ArgumentParser

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "topics", abstract: "Create, list, describe and delete topics")

    func run() async throws {
        throw ValidationError("'rivulet topics' is not built yet")
    }
}
