/// Why a workload spec was rejected, with where: the file (or the command-line override), the line
/// and the key. Raised by `WorkloadSpec.load` and `WorkloadSpec.parse` before anything starts.
///
/// `description` reads like a compiler diagnostic, for example
/// `workloads/x.spec:12: key 'producerRate': must not be negative (got -5)`.
/// Remedy: fix the named line; `SPEC-KEYS.md` lists every key, its type, default and unit.
public struct WorkloadSpecError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The class of problem, so callers and tests can tell them apart without parsing text.
    public enum Kind: String, Sendable, Equatable {
        /// The spec file itself could not be read (missing, unreadable, not UTF-8).
        case unreadableFile
        /// A line is not `key: value` (or a placeholder is malformed).
        case syntax
        /// The key is not an OMB workload key nor a Rivulet extension.
        case unknownKey
        /// A key that may appear once appears twice.
        case duplicateKey
        /// The value does not parse or is out of range for its key.
        case badValue
        /// A key without a default is absent.
        case missingKey
        /// Two keys contradict each other (for example a backlog with `producerRate: 0`).
        case conflict
        /// `payloadFile` names a file that cannot be read or has the wrong length.
        case unreadablePayloadFile
    }

    /// The spec file path, or the override that caused the error (`--set`, `--duration`).
    public let source: String
    /// The 1-based line in `source`, when the error belongs to a line.
    public let line: Int?
    /// The key concerned, when there is one.
    public let key: String?
    /// The class of problem.
    public let kind: Kind
    /// What is wrong and, where useful, what would be accepted.
    public let message: String

    public init(source: String, line: Int?, key: String?, kind: Kind, message: String) {
        self.source = source
        self.line = line
        self.key = key
        self.kind = kind
        self.message = message
    }

    public var description: String {
        var text = source
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "key '\(key)': " }
        return text + message
    }
}
