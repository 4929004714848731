import ArgumentParser

struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "groups", abstract: "List and describe consumer groups")

    func run() async throws {
        throw ValidationError("'rivulet groups' is not built yet")
    }
}
