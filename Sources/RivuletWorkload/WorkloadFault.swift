/// What a broker-level fault acts on: a broker by id, or whichever broker leads a partition of the
/// first topic at the moment the fault fires (the injector resolves it and reports the broker, so
/// the undo after `for <d>` reaches the same broker even after leadership moved).
public enum FaultTarget: Sendable, Hashable, CustomStringConvertible {
    /// The broker with this id (embedded clusters number brokers from 0).
    case broker(Int)
    /// The current leader of this partition (0-based) of the first topic.
    case leaderOfPartition(Int)

    public var description: String {
        switch self {
        case .broker(let id): "broker \(id)"
        case .leaderOfPartition(let partition): "leader of partition \(partition)"
        }
    }
}

/// One `fault:` line of a spec: an action at a time offset from the start of traffic (the start of
/// warm-up), optionally undone after a duration.
///
/// Grammar (durations as in `SpecDuration`, `<target>` is `broker <N>` or `leader of partition <P>`):
/// ```
/// at <d> delay <target> by <d> [for <d>]     add latency to the target's responses
/// at <d> kill <target> [for <d>]             stop the broker abruptly; restart it after <d>
/// at <d> pause <target> for <d>              freeze the broker (SIGSTOP-like), then resume it
/// at <d> restart <target>                    stop and start the broker
/// at <d> partition <target> for <d>          cut the broker off the network, then heal
/// at <d> kill consumer <N>                   kill consumer N abruptly (no leave-group)
/// at <d> add consumer                        add a consumer to the first subscription
/// ```
public struct WorkloadFault: Sendable, Equatable, CustomStringConvertible {
    /// The fault itself, without timing.
    public enum Action: Sendable, Equatable {
        /// Adds `by` of latency to every response of the target.
        case delay(FaultTarget, by: Duration)
        /// Stops the target abruptly.
        case kill(FaultTarget)
        /// Freezes the target: it holds connections but answers nothing.
        case pause(FaultTarget)
        /// Stops and starts the target.
        case restart(FaultTarget)
        /// Isolates the target from the network.
        case partition(FaultTarget)
        /// Kills the consumer with this index (creation order: topic, then subscription, then consumer).
        case killConsumer(Int)
        /// Adds a consumer to the first subscription of the first topic.
        case addConsumer
    }

    /// When the fault fires, measured from the start of traffic (warm-up included).
    public var at: Duration
    /// What happens.
    public var action: Action
    /// How long until the fault is undone (`for <d>`), when given.
    public var duration: Duration?

    public init(at: Duration, action: Action, duration: Duration? = nil) {
        self.at = at
        self.action = action
        self.duration = duration
    }

    /// The broker-level target, nil for consumer faults.
    public var target: FaultTarget? {
        switch action {
        case .delay(let target, _), .kill(let target), .pause(let target), .restart(let target), .partition(let target):
            target
        case .killConsumer, .addConsumer:
            nil
        }
    }

    /// True when the fault needs a `WorkloadFaultInjector` (everything except consumer faults).
    public var needsInjector: Bool { target != nil }

    /// The canonical text of the line; `WorkloadFault.parse(description)` gives back `self`.
    public var description: String {
        var text = "at \(SpecDuration.format(at)) "
        switch action {
        case .delay(let target, let by): text += "delay \(target) by \(SpecDuration.format(by))"
        case .kill(let target): text += "kill \(target)"
        case .pause(let target): text += "pause \(target)"
        case .restart(let target): text += "restart \(target)"
        case .partition(let target): text += "partition \(target)"
        case .killConsumer(let index): text += "kill consumer \(index)"
        case .addConsumer: text += "add consumer"
        }
        if let duration { text += " for \(SpecDuration.format(duration))" }
        return text
    }

    /// A short verb for reports: `delay`, `kill`, `pause`, `restart`, `partition`, `kill-consumer`, `add-consumer`.
    public var verb: String {
        switch action {
        case .delay: "delay"
        case .kill: "kill"
        case .pause: "pause"
        case .restart: "restart"
        case .partition: "partition"
        case .killConsumer: "kill-consumer"
        case .addConsumer: "add-consumer"
        }
    }

    /// Parses one fault line (the value of a `fault:` key). Throws a message naming the first token
    /// that does not fit the grammar.
    public static func parse(_ text: String) throws(FaultParseError) -> WorkloadFault {
        var tokens = FaultTokens(text)
        try tokens.expect("at")
        let at = try tokens.duration(after: "at")
        let verb = try tokens.next(expecting: "a fault verb (delay, kill, pause, restart, partition, add)")
        var action: Action
        var forRequired = false
        var forAllowed = true
        switch verb {
        case "delay":
            let target = try tokens.target(after: "delay")
            try tokens.expect("by")
            action = .delay(target, by: try tokens.duration(after: "by"))
        case "kill":
            if tokens.peek == "consumer" {
                _ = try tokens.next(expecting: "consumer")
                action = .killConsumer(try tokens.index(after: "consumer"))
                forAllowed = false
            } else {
                action = .kill(try tokens.target(after: "kill"))
            }
        case "pause":
            action = .pause(try tokens.target(after: "pause"))
            forRequired = true
        case "restart":
            action = .restart(try tokens.target(after: "restart"))
            forAllowed = false
        case "partition":
            action = .partition(try tokens.target(after: "partition"))
            forRequired = true
        case "add":
            try tokens.expect("consumer")
            action = .addConsumer
            forAllowed = false
        default:
            throw FaultParseError("unknown fault verb '\(verb)'; expected delay, kill, pause, restart, partition or add")
        }
        var duration: Duration?
        if tokens.peek == "for" {
            guard forAllowed else { throw FaultParseError("'\(verb)' takes no 'for <duration>'") }
            _ = try tokens.next(expecting: "for")
            let value = try tokens.duration(after: "for")
            guard value > .zero else { throw FaultParseError("'for' needs a duration above zero") }
            duration = value
        } else if forRequired {
            throw FaultParseError("'\(verb)' needs 'for <duration>' (how long until it is undone)")
        }
        if let extra = tokens.peek {
            throw FaultParseError("unexpected '\(extra)' at the end of the fault")
        }
        return WorkloadFault(at: at, action: action, duration: duration)
    }
}

/// Why a fault line did not parse; `message` names the offending token and what was expected.
public struct FaultParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, naming the token.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A cursor over the whitespace-separated words of a fault line.
private struct FaultTokens {
    private var words: [String]
    private var position = 0

    init(_ text: String) {
        words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    var peek: String? { position < words.count ? words[position] : nil }

    mutating func next(expecting what: String) throws(FaultParseError) -> String {
        guard let word = peek else { throw FaultParseError("expected \(what), found the end of the line") }
        position += 1
        return word
    }

    mutating func expect(_ word: String) throws(FaultParseError) {
        let found = try next(expecting: "'\(word)'")
        guard found == word else { throw FaultParseError("expected '\(word)', found '\(found)'") }
    }

    mutating func duration(after keyword: String) throws(FaultParseError) -> Duration {
        let word = try next(expecting: "a duration after '\(keyword)' (like 500ms, 10s, 2m)")
        guard let duration = SpecDuration.parse(word) else {
            throw FaultParseError("'\(word)' after '\(keyword)' is not a duration (like 500ms, 10s, 2m)")
        }
        return duration
    }

    mutating func index(after keyword: String) throws(FaultParseError) -> Int {
        let word = try next(expecting: "a number after '\(keyword)'")
        guard let value = Int(word), value >= 0 else {
            throw FaultParseError("'\(word)' after '\(keyword)' is not a non-negative integer")
        }
        return value
    }

    mutating func target(after verb: String) throws(FaultParseError) -> FaultTarget {
        let word = try next(expecting: "'broker <N>' or 'leader of partition <P>' after '\(verb)'")
        switch word {
        case "broker":
            return .broker(try index(after: "broker"))
        case "leader":
            try expect("of")
            try expect("partition")
            return .leaderOfPartition(try index(after: "partition"))
        default:
            throw FaultParseError("expected 'broker <N>' or 'leader of partition <P>' after '\(verb)', found '\(word)'")
        }
    }
}
