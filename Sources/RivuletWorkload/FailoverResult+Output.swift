import Foundation

extension PartitionRecovery {
    var json: JSONValue {
        .object([
            ("topic", .string(topic)), ("partition", .integer(Int64(partition))), ("role", .string(role)),
            ("firstAckMs", .optional(firstAckMs)), ("unavailableMs", .optional(unavailableMs)),
            ("newLeader", newLeader.map { .integer(Int64($0)) } ?? .null), ("leaderElectedMs", .optional(leaderElectedMs)),
        ])
    }
}

extension FaultRecovery {
    /// The JSON object under `faults[i].recovery`.
    public var json: JSONValue {
        .object([
            ("firstAckMsMax", .optional(firstAckMsMax)), ("leaderFirstAckMsMax", .optional(leaderFirstAckMsMax)),
            ("unavailableMsMax", .optional(unavailableMsMax)), ("unrecoveredPartitions", .integer(Int64(unrecoveredPartitions))),
            ("throughputRecovery90Ms", .optional(throughputRecovery90Ms)),
            ("partitions", .array(partitions.map(\.json))),
        ])
    }

    /// Indented lines for the text report, under the fault's line.
    var textLines: [String] {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.0f ms", $0) } ?? "never" }
        let led = partitions.filter { $0.role == "leader" }.count
        var lines: [String] = []
        var summary = "            recovery: \(partitions.count) partitions affected (\(led) led)"
        if !partitions.isEmpty {
            summary += ", first acked write after \(ms(firstAckMsMax)) (max; leaders \(ms(leaderFirstAckMsMax)))"
            summary += ", unavailable up to \(ms(unavailableMsMax))"
            if unrecoveredPartitions > 0 { summary += ", \(unrecoveredPartitions) never recovered" }
        }
        summary += ", throughput back to 90% after \(ms(throughputRecovery90Ms))"
        lines.append(summary)
        for partition in partitions {
            var line = "              \(partition.topic)-\(partition.partition) \(partition.role): first ack \(ms(partition.firstAckMs)), "
                + "unavailable \(ms(partition.unavailableMs))"
            if let leader = partition.newLeader {
                line += ", new leader \(leader) after \(ms(partition.leaderElectedMs))"
            }
            lines.append(line)
        }
        return lines
    }
}

extension HistoryCheckSummary {
    /// The JSON object under `history`.
    public var json: JSONValue {
        .object([
            ("acknowledged", .integer(Int64(acknowledged))), ("indeterminate", .integer(Int64(indeterminate))),
            ("offsetsRead", .integer(Int64(offsetsRead))), ("lostAcknowledged", .integer(Int64(lostAcknowledged))),
            ("duplicates", .integer(Int64(duplicates))), ("anomalies", .integer(Int64(anomalies))),
            ("anomalyCounts", .object(anomalyCounts.sorted { $0.key < $1.key }.map { ($0.key, .integer(Int64($0.value))) })),
            ("unseen", .integer(Int64(unseen))), ("readBackComplete", .bool(readBackComplete)), ("truncated", .bool(truncated)),
            ("examples", .array(examples.map(JSONValue.string))),
        ])
    }

    /// Lines for the text report.
    var textLines: [String] {
        var lines = ["history check: \(acknowledged) acknowledged, \(indeterminate) indeterminate, \(offsetsRead) offsets read back"
                     + (readBackComplete ? "" : " (read-back INCOMPLETE)") + (truncated ? " (history truncated)" : "")]
        let kinds = anomalyCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("  acknowledged records lost: \(lostAcknowledged), duplicated: \(duplicates), anomalies: \(anomalies)"
                     + (kinds.isEmpty ? "" : " (\(kinds))") + (isClean ? "  [clean]" : ""))
        for example in examples { lines.append("  e.g. \(example)") }
        return lines
    }
}

extension WorkloadResult {
    /// The recovery and history figures as a second CSV (`<base>-recovery.csv`): one row per
    /// affected partition of each broker fault (fault-level columns repeated), one row per fault
    /// that affected none, and a final `history` row when the history was checked. nil when the
    /// result has neither.
    public var recoveryCSVText: String? {
        let recovered = faults.filter { $0.recovery != nil }
        guard !recovered.isEmpty || history != nil else { return nil }
        let columns = ["row", "fault", "atSeconds", "brokerId", "firstAckMsMax", "leaderFirstAckMsMax", "unavailableMsMax",
                       "unrecoveredPartitions", "throughputRecovery90Ms", "throughputRecoveryMs", "topic", "partition", "role",
                       "firstAckMs", "unavailableMs", "newLeader", "leaderElectedMs", "acknowledged", "lostAcknowledged",
                       "duplicates", "anomalies", "readBackComplete"]
        func number(_ value: Double?) -> String { value.map { Self.csvNumber($0, 1) } ?? "" }
        func quoted(_ text: String) -> String { "\"" + text.replacingOccurrencesOf("\"", with: "\"\"") + "\"" }
        var lines = [columns.joined(separator: ",")]
        for event in recovered {
            guard let recovery = event.recovery else { continue }
            let faultColumns = [quoted(event.fault), Self.csvNumber(event.atSeconds, 3), event.brokerId.map(String.init) ?? "",
                                number(recovery.firstAckMsMax), number(recovery.leaderFirstAckMsMax), number(recovery.unavailableMsMax),
                                String(recovery.unrecoveredPartitions), number(recovery.throughputRecovery90Ms),
                                number(event.throughputRecoveryMs)]
            if recovery.partitions.isEmpty {
                lines.append((["fault"] + faultColumns + Array(repeating: "", count: 12)).joined(separator: ","))
            }
            for partition in recovery.partitions {
                let partitionColumns = [quoted(partition.topic), String(partition.partition), partition.role, number(partition.firstAckMs),
                                        number(partition.unavailableMs), partition.newLeader.map(String.init) ?? "",
                                        number(partition.leaderElectedMs)]
                lines.append((["partition"] + faultColumns + partitionColumns + Array(repeating: "", count: 5)).joined(separator: ","))
            }
        }
        if let history {
            let historyColumns = [String(history.acknowledged), String(history.lostAcknowledged), String(history.duplicates),
                                  String(history.anomalies), String(history.readBackComplete)]
            lines.append((["history"] + Array(repeating: "", count: 16) + historyColumns).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
