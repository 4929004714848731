/// A JSON value whose objects keep their key order, so result files have a stable, readable
/// layout (OMB's field order first). Non-finite numbers are written as `null`.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool { lhs.rendered(pretty: false) == rhs.rendered(pretty: false) }

    /// The JSON text; `pretty` indents by two spaces and puts one member per line.
    public func rendered(pretty: Bool = true) -> String {
        var output = ""
        write(to: &output, pretty: pretty, indent: 0)
        return output
    }

    private func write(to output: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .integer(let value): output += String(value)
        case .number(let value): output += Self.format(value)
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let values):
            if values.isEmpty {
                output += "[]"
                return
            }
            // Arrays of scalars stay on one line; they are the per-window series.
            let scalars = values.allSatisfy { if case .array = $0 { false } else if case .object = $0 { false } else { true } }
            if !pretty || scalars {
                output += "["
                for (index, value) in values.enumerated() {
                    if index > 0 { output += pretty ? ", " : "," }
                    value.write(to: &output, pretty: pretty, indent: indent)
                }
                output += "]"
                return
            }
            output += "[\n"
            for (index, value) in values.enumerated() {
                output += String(repeating: " ", count: indent + 2)
                value.write(to: &output, pretty: pretty, indent: indent + 2)
                output += index + 1 < values.count ? ",\n" : "\n"
            }
            output += String(repeating: " ", count: indent) + "]"
        case .object(let members):
            if members.isEmpty {
                output += "{}"
                return
            }
            output += pretty ? "{\n" : "{"
            for (index, (key, value)) in members.enumerated() {
                if pretty { output += String(repeating: " ", count: indent + 2) }
                Self.writeString(key, to: &output)
                output += pretty ? " : " : ":"
                value.write(to: &output, pretty: pretty, indent: indent + 2)
                if index + 1 < members.count { output += "," }
                if pretty { output += "\n" }
            }
            if pretty { output += String(repeating: " ", count: indent) }
            output += "}"
        }
    }

    /// Shortest round-trip text of a finite double (`50.0`, `0.125`, `1e-05`), `null` otherwise.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        return "\(value)"
    }

    private static func writeString(_ value: String, to output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}
