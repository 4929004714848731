import ArgumentParser
import RivuletClient
import RivuletWire

/// `rivulet groups`: Kafka's kafka-consumer-groups tool: `list`, `describe GROUP` (members and
/// per-partition current offset, log end offset and lag), `delete GROUP`.
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups", abstract: "List, describe and delete consumer groups (like kafka-consumer-groups)",
        subcommands: [List.self, Describe.self, Delete.self])

    /// `rivulet groups list`: one group per line (with `--state`: its state and protocol type).
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the groups of every broker")

        @OptionGroup var connection: ClientOptions

        @Flag(help: "Also print each group's state and protocol type.") var state = false

        func run() async throws {
            let session = try await connection.open()
            let groups: [GroupListing]
            do {
                groups = try await Admin(cluster: session.cluster).listGroups()
            } catch {
                await session.close()
                throw error
            }
            await session.close()
            if state {
                let rows = [["GROUP", "STATE", "PROTOCOL-TYPE"]] + groups.map { [$0.groupId, $0.state, $0.protocolType] }
                print(GroupsCommand.table(rows), terminator: "")
            } else {
                for group in groups { print(group.groupId) }
            }
        }
    }

    /// `rivulet groups describe GROUP`: the group's state, then one row per partition it owns or
    /// committed (current offset, log end offset, lag, owner), then its members.
    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe a group: members, assignment, offsets and lag")

        @OptionGroup var connection: ClientOptions

        @Argument(help: "The group id.") var group: String

        func validate() throws {
            if group.isEmpty { throw ValidationError("the group id must not be empty") }
        }

        func run() async throws {
            let session = try await connection.open()
            do {
                print(try await GroupsCommand.describe(group, admin: Admin(cluster: session.cluster)), terminator: "")
            } catch {
                await session.close()
                throw error
            }
            await session.close()
        }
    }

    /// `rivulet groups delete GROUP...`: deletes groups without members, with their offsets.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete groups (only groups without members)")

        @OptionGroup var connection: ClientOptions

        @Argument(help: "The group ids.") var groups: [String]

        func validate() throws {
            if groups.isEmpty || groups.contains("") { throw ValidationError("give at least one non-empty group id") }
        }

        func run() async throws {
            let session = try await connection.open()
            let results: [String: ClientError?]
            do {
                results = try await Admin(cluster: session.cluster).deleteGroups(groups)
            } catch {
                await session.close()
                throw error
            }
            await session.close()
            var failed: [String] = []
            for group in groups {
                if case let error?? = results[group] {
                    printError("Group '\(group)' could not be deleted: \(error)")
                    failed.append(group)
                } else {
                    print("Deletion of group '\(group)' succeeded.")
                }
            }
            if !failed.isEmpty { throw ExitCode(1) }
        }
    }

    /// The describe text: a state line, the offsets table, the members table.
    static func describe(_ groupId: String, admin: Admin) async throws -> String {
        let description = try await admin.describeGroup(groupId)
        let committed = try await admin.listGroupOffsets(groupId)
        if description.state == "Dead", committed.isEmpty {
            return "Consumer group '\(groupId)' does not exist.\n"
        }
        var owners: [TopicAndPartition: GroupMemberDescription] = [:]
        for member in description.members {
            for partition in member.assignment { owners[partition] = member }
        }
        let partitions = Set(committed.keys).union(owners.keys).sorted()
        var ends: [TopicAndPartition: Result<ListedOffset, ClientError>] = [:]
        if !partitions.isEmpty {
            ends = (try? await admin.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetSpec.latest) }))) ?? [:]
        }
        var text = "Consumer group '\(groupId)': state \(description.state)"
        if !description.protocolName.isEmpty { text += ", assignor \(description.protocolName)" }
        text += ", \(description.members.count) member\(description.members.count == 1 ? "" : "s")"
        text += description.coordinatorId >= 0 ? ", coordinator \(description.coordinatorId)\n\n" : "\n\n"
        var rows = [["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]]
        for partition in partitions {
            let current = committed[partition]?.offset
            let end: Int64? = if case let .success(listed)? = ends[partition] { listed.offset } else { nil }
            let lag = current.flatMap { current in end.map { max(0, $0 - current) } }
            let owner = owners[partition]
            rows.append([groupId, partition.topic, String(partition.partition), current.map(String.init) ?? "-",
                         end.map(String.init) ?? "-", lag.map(String.init) ?? "-", owner?.memberId ?? "-",
                         owner?.clientHost ?? "-", owner?.clientId ?? "-"])
        }
        text += table(rows)
        if !description.members.isEmpty {
            text += "\n"
            var memberRows = [["GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]]
            for member in description.members {
                let assignment = member.assignment.isEmpty ? "-" : member.assignment.map(\.description).joined(separator: ",")
                memberRows.append([groupId, member.memberId, member.groupInstanceId ?? "-", member.clientHost, member.clientId,
                                   String(member.assignment.count), assignment])
            }
            text += table(memberRows)
        }
        return text
    }

    /// Left-aligned columns separated by two spaces, like Kafka's tools.
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        var text = ""
        for row in rows {
            var line = ""
            for (index, cell) in row.enumerated() {
                line += index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }
            text += line + "\n"
        }
        return text
    }
}
