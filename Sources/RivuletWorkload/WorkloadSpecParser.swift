import Foundation
import RivuletWire

/// Command-line changes applied on top of a spec file: `--duration 10s` and `--set key=value`.
public struct WorkloadSpecOverrides: Sendable, Equatable {
    /// One `--set key=value`.
    public struct Setting: Sendable, Equatable {
        /// The spec key.
        public var key: String
        /// The value, as it would follow `key:` in a spec file.
        public var value: String
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    /// `--duration`: replaces `testDurationMinutes`/`testDurationSeconds`.
    public var testDuration: Duration?
    /// `--set` settings in command-line order; later ones win, `fault` ones add faults.
    public var settings: [Setting]

    public init(testDuration: Duration? = nil, settings: [Setting] = []) {
        self.testDuration = testDuration
        self.settings = settings
    }

    /// Parses `--duration <d>`, `--duration=<d>`, `--set key=value` and `--set=key=value` from
    /// `arguments`; any other argument is an error naming it.
    public static func parse(arguments: [String]) throws(WorkloadSpecError) -> WorkloadSpecOverrides {
        var overrides = WorkloadSpecOverrides()
        var index = 0
        func value(for flag: String) throws(WorkloadSpecError) -> String {
            if let equals = arguments[index].firstIndex(of: "="), arguments[index].hasPrefix(flag + "=") {
                return String(arguments[index][arguments[index].index(after: equals)...])
            }
            index += 1
            guard index < arguments.count else {
                throw WorkloadSpecError(source: flag, line: nil, key: nil, kind: .syntax, message: "needs a value")
            }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--duration" || argument.hasPrefix("--duration=") {
                let text = try value(for: "--duration")
                guard let duration = SpecDuration.parse(text), duration > .zero else {
                    throw WorkloadSpecError(source: "--duration", line: nil, key: WorkloadSpecKey.testDurationSeconds.rawValue,
                                            kind: .badValue, message: "'\(text)' is not a duration above zero (like 30s, 2m)")
                }
                overrides.testDuration = duration
            } else if argument == "--set" || argument.hasPrefix("--set=") {
                let text = try value(for: "--set")
                guard let equals = text.firstIndex(of: "=") else {
                    throw WorkloadSpecError(source: "--set \(text)", line: nil, key: nil, kind: .syntax,
                                            message: "expected key=value")
                }
                overrides.settings.append(Setting(key: String(text[..<equals]).trimmingSpaces(),
                                                  value: String(text[text.index(after: equals)...]).trimmingSpaces()))
            } else {
                throw WorkloadSpecError(source: argument, line: nil, key: nil, kind: .syntax,
                                        message: "unknown override; expected --duration <d> or --set key=value")
            }
            index += 1
        }
        return overrides
    }
}

extension WorkloadSpec {
    /// Reads, parses and validates the spec file at `path`, applies `overrides`, and reads the
    /// payload file. Throws the first problem found, naming the file, line and key.
    /// `environment` feeds `${VAR}` placeholders (default: the process environment).
    public static func load(path: String, overrides: WorkloadSpecOverrides = WorkloadSpecOverrides(),
                            environment: [String: String] = ProcessInfo.processInfo.environment)
    throws(WorkloadSpecError) -> WorkloadSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WorkloadSpecError(source: path, line: nil, key: nil, kind: .unreadableFile,
                                    message: "cannot read the spec file (missing or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw WorkloadSpecError(source: path, line: nil, key: nil, kind: .unreadableFile, message: "the spec file is not UTF-8 text")
        }
        let base = (path as NSString).deletingLastPathComponent
        let fileName = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return try parse(text: text, source: path, baseDirectory: base.isEmpty ? "." : base,
                         defaultName: fileName, overrides: overrides, environment: environment)
    }

    /// Parses and validates spec `text`. `source` names it in errors; relative payload files are
    /// tried against `baseDirectory`, its parent, then the working directory; `defaultName` is the name
    /// when the text has no `name` key.
    public static func parse(text: String, source: String = "<spec>", baseDirectory: String? = nil,
                             defaultName: String? = nil, overrides: WorkloadSpecOverrides = WorkloadSpecOverrides(),
                             environment: [String: String] = [:])
    throws(WorkloadSpecError) -> WorkloadSpec {
        var parser = SpecParser(source: source, environment: environment)
        try parser.readLines(text)
        try parser.apply(overrides)
        var spec = try parser.build(defaultName: defaultName ?? "workload")
        spec.sourcePath = source
        try spec.validate(locate: parser.locate, faultLocations: parser.faultLocations)
        try parser.loadPayload(into: &spec, baseDirectory: baseDirectory)
        return spec
    }

    /// Checks every constraint (ranges, combinations, fault targets) for a spec built in code.
    /// Errors name `sourcePath` (or `<spec>`) and the key, without a line.
    public func validate() throws(WorkloadSpecError) {
        let source = sourcePath ?? "<spec>"
        try validate(locate: { _ in (source, nil) }, faultLocations: faults.map { _ in (source, nil) })
        if !useRandomizedPayloads, let payloadData, payloadData.count != messageSize {
            throw WorkloadSpecError(source: source, line: nil, key: WorkloadSpecKey.payloadFile.rawValue, kind: .unreadablePayloadFile,
                                    message: "payload is \(payloadData.count) bytes but messageSize is \(messageSize)")
        }
    }

    fileprivate func validate(locate: (WorkloadSpecKey) -> (String, Int?), faultLocations: [(String, Int?)])
    throws(WorkloadSpecError) {
        func fail(_ key: WorkloadSpecKey, _ message: String, kind: WorkloadSpecError.Kind = .badValue) -> WorkloadSpecError {
            let (source, line) = locate(key)
            return WorkloadSpecError(source: source, line: line, key: key.rawValue, kind: kind, message: message)
        }
        guard !name.trimmingSpaces().isEmpty else { throw fail(.name, "must not be empty") }
        guard (1 ... 100_000).contains(topics) else { throw fail(.topics, "must be in 1...100000 (got \(topics))") }
        guard partitionsPerTopic >= 1 else { throw fail(.partitionsPerTopic, "must be at least 1 (got \(partitionsPerTopic))") }
        guard saturatingProduct(topics, partitionsPerTopic) <= 1_000_000 else {
            throw fail(.partitionsPerTopic, "topics x partitionsPerTopic must be at most 1000000")
        }
        guard messageSize >= 8 else {
            throw fail(.messageSize, "must be at least 8 bytes, the intended send time fills the first 8 (got \(messageSize))")
        }
        guard messageSize <= 64 << 20 else { throw fail(.messageSize, "must be at most 67108864 bytes (got \(messageSize))") }
        guard producersPerTopic >= 1 else { throw fail(.producersPerTopic, "must be at least 1 (got \(producersPerTopic))") }
        guard totalProducers <= 100_000 else { throw fail(.producersPerTopic, "topics x producersPerTopic must be at most 100000") }
        guard subscriptionsPerTopic >= 0 else { throw fail(.subscriptionsPerTopic, "must not be negative (got \(subscriptionsPerTopic))") }
        guard consumerPerSubscription >= 0 else {
            throw fail(.consumerPerSubscription, "must not be negative (got \(consumerPerSubscription))")
        }
        if subscriptionsPerTopic > 0, consumerPerSubscription == 0 {
            throw fail(.consumerPerSubscription, "must be at least 1 when subscriptionsPerTopic is \(subscriptionsPerTopic)")
        }
        guard totalConsumers <= 100_000 else { throw fail(.consumerPerSubscription, "the total number of consumers must be at most 100000") }
        guard producerRate.isFinite, producerRate >= 0 else {
            throw fail(.producerRate, "must not be negative (got \(formatNumber(producerRate))); 0 probes for the maximum rate")
        }
        guard producerRate <= 1e9 else { throw fail(.producerRate, "must be at most 1e9 records/s") }
        guard consumerBacklogSizeGB.isFinite, consumerBacklogSizeGB >= 0 else {
            throw fail(.consumerBacklogSizeGB, "must not be negative (got \(formatNumber(consumerBacklogSizeGB)))")
        }
        guard consumerBacklogSizeGB <= 1_048_576 else {
            throw fail(.consumerBacklogSizeGB, "must be at most 1048576 (1 PiB)")
        }
        if consumerBacklogSizeGB > 0 {
            if producerRate == 0 {
                throw fail(.consumerBacklogSizeGB, "cannot probe the maximum rate (producerRate: 0) while building a backlog; set a producerRate",
                           kind: .conflict)
            }
            if subscriptionsPerTopic == 0 {
                throw fail(.consumerBacklogSizeGB, "a backlog needs consumers; subscriptionsPerTopic is 0", kind: .conflict)
            }
        }
        guard (0 ... 1).contains(backlogDrainRatio) else { throw fail(.backlogDrainRatio, "must be in 0...1 (got \(backlogDrainRatio))") }
        guard (0 ... 1).contains(randomBytesRatio) else { throw fail(.randomBytesRatio, "must be in 0...1 (got \(randomBytesRatio))") }
        if useRandomizedPayloads {
            guard randomizedPayloadPoolSize >= 1 else {
                throw fail(.randomizedPayloadPoolSize, "must be at least 1 when useRandomizedPayloads is true (got \(randomizedPayloadPoolSize))")
            }
            guard saturatingProduct(randomizedPayloadPoolSize, messageSize) <= 1 << 30 else {
                throw fail(.randomizedPayloadPoolSize, "randomizedPayloadPoolSize x messageSize must be at most 1 GiB")
            }
        } else if payloadFile == nil, payloadData == nil {
            throw fail(.payloadFile, "is required unless useRandomizedPayloads is true", kind: .missingKey)
        }
        guard testDuration > .zero else { throw fail(.testDurationSeconds, "the test duration must be above zero") }
        guard testDuration <= SpecDuration.maximum, warmupDuration <= SpecDuration.maximum else {
            throw fail(.testDurationSeconds, "durations must be at most 10000 hours")
        }
        guard window >= .milliseconds(1) else { throw fail(.windowSeconds, "must be at least 0.001 seconds") }
        if consumerBacklogSizeGB == 0, testDuration.secondsDouble / window.secondsDouble > 100_000 {
            throw fail(.windowSeconds, "gives more than 100000 windows over the test; use longer windows")
        }
        guard (0 ... 3_600_000).contains(lingerMs) else { throw fail(.lingerMs, "must be in 0...3600000 (got \(lingerMs))") }
        guard (0 ... 1 << 30).contains(batchSizeBytes) else { throw fail(.batchSizeBytes, "must be in 0...1073741824 (got \(batchSizeBytes))") }
        guard (1 ... 1000).contains(brokers) else { throw fail(.brokers, "must be in 1...1000 (got \(brokers))") }
        guard replicationFactor >= 1 else { throw fail(.replicationFactor, "must be at least 1 (got \(replicationFactor))") }
        if target == .embedded, replicationFactor > brokers {
            throw fail(.replicationFactor, "must be at most brokers (\(brokers)) (got \(replicationFactor))", kind: .conflict)
        }
        guard (1 ... replicationFactor).contains(minInsyncReplicas) else {
            throw fail(.minInsyncReplicas, "must be in 1...replicationFactor (\(replicationFactor)) (got \(minInsyncReplicas))")
        }
        if case .kafka(let servers) = target, servers.isEmpty { throw fail(.target, "needs at least one host:port") }
        guard (100 ... 600_000).contains(brokerSessionTimeoutMs) else {
            throw fail(.brokerSessionTimeoutMs, "must be in 100...600000 (got \(brokerSessionTimeoutMs))")
        }
        guard (1 ... 3_600_000).contains(replicaLagTimeMaxMs) else {
            throw fail(.replicaLagTimeMaxMs, "must be in 1...3600000 (got \(replicaLagTimeMaxMs))")
        }
        guard (0 ... 3_600_000).contains(replicaFetchBackoffMs) else {
            throw fail(.replicaFetchBackoffMs, "must be in 0...3600000 (got \(replicaFetchBackoffMs))")
        }
        guard (0 ... 3_600_000).contains(replicaFetchWaitMaxMs) else {
            throw fail(.replicaFetchWaitMaxMs, "must be in 0...3600000 (got \(replicaFetchWaitMaxMs))")
        }
        guard (1 ... 3_600_000).contains(requestTimeoutMs) else {
            throw fail(.requestTimeoutMs, "must be in 1...3600000 (got \(requestTimeoutMs))")
        }
        guard (1 ... 3_600_000).contains(retryBackoffMaxMs) else {
            throw fail(.retryBackoffMaxMs, "must be in 1...3600000 (got \(retryBackoffMaxMs))")
        }
        if checkHistory, messageSize < 16 {
            throw fail(.checkHistory, "needs messageSize >= 16: bytes 8...15 carry each record's id (messageSize is \(messageSize))",
                       kind: .conflict)
        }
        if checkHistory, producerRate == 0 {
            throw fail(.checkHistory, "needs a fixed producerRate (the history of a max-rate probe is unbounded)", kind: .conflict)
        }
        if checkHistory, producerRate * (warmupDuration + testDuration).secondsDouble > Double(FailoverTracking.historyRecordsMax) {
            throw fail(.checkHistory, "producerRate x (warm-up + test) must be at most \(FailoverTracking.historyRecordsMax) records to check the history",
                       kind: .conflict)
        }

        // Faults: targets must exist, consumer indices must exist when the fault fires.
        var consumersAt: [(Duration, Int)] = []
        var added = 0
        for fault in faults.sorted(by: { $0.at < $1.at }) where fault.action == .addConsumer {
            added += 1
            consumersAt.append((fault.at, added))
        }
        for (index, fault) in faults.enumerated() {
            let (source, line) = index < faultLocations.count ? faultLocations[index] : (sourcePath ?? "<spec>", nil)
            func faultError(_ message: String) -> WorkloadSpecError {
                WorkloadSpecError(source: source, line: line, key: WorkloadSpecKey.fault.rawValue, kind: .badValue, message: message)
            }
            switch fault.target {
            case .broker(let id)?:
                if target == .embedded, id >= brokers {
                    throw faultError("broker \(id) does not exist; brokers are numbered 0...\(brokers - 1)")
                }
            case .leaderOfPartition(let partition)?:
                if partition >= partitionsPerTopic {
                    throw faultError("partition \(partition) does not exist; partitions are numbered 0...\(partitionsPerTopic - 1)")
                }
            case nil:
                break
            }
            if case .killConsumer(let consumer) = fault.action {
                let addedBefore = consumersAt.last(where: { $0.0 <= fault.at })?.1 ?? 0
                if consumer >= totalConsumers + addedBefore {
                    throw faultError("consumer \(consumer) does not exist at \(SpecDuration.format(fault.at)); there are \(totalConsumers + addedBefore)")
                }
            }
            if fault.action == .addConsumer, subscriptionsPerTopic == 0 {
                throw faultError("'add consumer' needs a subscription; subscriptionsPerTopic is 0")
            }
            if consumerBacklogSizeGB == 0, fault.at >= warmupDuration + testDuration {
                throw faultError("fires at \(SpecDuration.format(fault.at)), after the run ends at \(SpecDuration.format(warmupDuration + testDuration))")
            }
        }
    }
}

/// The line-by-line reader behind `WorkloadSpec.parse`.
private struct SpecParser {
    struct Entry {
        var value: String
        var source: String
        var line: Int?
    }

    let source: String
    let environment: [String: String]
    var entries: [WorkloadSpecKey: Entry] = [:]
    var faultEntries: [Entry] = []

    init(source: String, environment: [String: String]) {
        self.source = source
        self.environment = environment
    }

    var faultLocations: [(String, Int?)] { faultEntries.map { ($0.source, $0.line) } }

    func locate(_ key: WorkloadSpecKey) -> (String, Int?) {
        if let entry = entries[key] { return (entry.source, entry.line) }
        // A duration problem belongs to whichever duration key was given.
        let siblings: [WorkloadSpecKey: WorkloadSpecKey] = [
            .testDurationSeconds: .testDurationMinutes, .testDurationMinutes: .testDurationSeconds,
            .warmupDurationSeconds: .warmupDurationMinutes, .warmupDurationMinutes: .warmupDurationSeconds,
        ]
        if let sibling = siblings[key], let entry = entries[sibling] { return (entry.source, entry.line) }
        return (source, nil)
    }

    mutating func readLines(_ text: String) throws(WorkloadSpecError) {
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = try stripComment(String(rawLine), line: lineNumber).trimmingSpaces()
            if line.isEmpty || line == "---" { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw WorkloadSpecError(source: source, line: lineNumber, key: nil, kind: .syntax,
                                        message: "expected 'key: value', found '\(line)'")
            }
            let keyText = String(line[..<colon]).trimmingSpaces()
            let valueText = String(line[line.index(after: colon)...]).trimmingSpaces()
            try add(keyText: keyText, rawValue: valueText, source: source, line: lineNumber)
        }
    }

    mutating func add(keyText: String, rawValue: String, source: String, line: Int?) throws(WorkloadSpecError) {
        guard let key = WorkloadSpecKey(rawValue: keyText) else {
            var message = "unknown key"
            if let suggestion = Self.closestKey(to: keyText) { message += "; did you mean '\(suggestion)'?" }
            message += " (SPEC-KEYS.md lists every key)"
            throw WorkloadSpecError(source: source, line: line, key: keyText, kind: .unknownKey, message: message)
        }
        let expanded = try expandPlaceholders(rawValue, key: key, source: source, line: line)
        let value = try unquote(expanded, key: key, source: source, line: line)
        let entry = Entry(value: value, source: source, line: line)
        if key.isRepeatable {
            faultEntries.append(entry)
        } else if let previous = entries[key], previous.source == source, source == self.source {
            let firstLine = previous.line.map { " on line \($0)" } ?? ""
            throw WorkloadSpecError(source: source, line: line, key: key.rawValue, kind: .duplicateKey,
                                    message: "is already set\(firstLine)")
        } else {
            entries[key] = entry
        }
    }

    mutating func apply(_ overrides: WorkloadSpecOverrides) throws(WorkloadSpecError) {
        for setting in overrides.settings {
            let label = "--set \(setting.key)=\(setting.value)"
            // An override of one duration key replaces its sibling from the file.
            switch WorkloadSpecKey(rawValue: setting.key) {
            case .testDurationSeconds?: entries[.testDurationMinutes] = nil
            case .testDurationMinutes?: entries[.testDurationSeconds] = nil
            case .warmupDurationSeconds?: entries[.warmupDurationMinutes] = nil
            case .warmupDurationMinutes?: entries[.warmupDurationSeconds] = nil
            default: break
            }
            try add(keyText: setting.key, rawValue: setting.value, source: label, line: nil)
        }
        if let duration = overrides.testDuration {
            entries[.testDurationMinutes] = nil
            entries[.testDurationSeconds] = Entry(value: formatNumber(duration.secondsDouble), source: "--duration", line: nil)
        }
    }

    func build(defaultName: String) throws(WorkloadSpecError) -> WorkloadSpec {
        var spec = WorkloadSpec(name: entries[.name]?.value ?? defaultName)
        // Required keys first, in documentation order, so the first missing one is reported.
        for key in [WorkloadSpecKey.topics, .partitionsPerTopic, .messageSize, .subscriptionsPerTopic, .producersPerTopic,
                    .consumerPerSubscription, .producerRate] where entries[key] == nil {
            throw WorkloadSpecError(source: source, line: nil, key: key.rawValue, kind: .missingKey, message: "is required")
        }
        if entries[.testDurationMinutes] == nil, entries[.testDurationSeconds] == nil {
            throw WorkloadSpecError(source: source, line: nil, key: WorkloadSpecKey.testDurationMinutes.rawValue, kind: .missingKey,
                                    message: "is required (or testDurationSeconds, or --duration)")
        }
        for (minutes, seconds) in [(WorkloadSpecKey.testDurationMinutes, WorkloadSpecKey.testDurationSeconds),
                                   (.warmupDurationMinutes, .warmupDurationSeconds)] {
            if let first = entries[minutes], let second = entries[seconds] {
                let later = (second.line ?? 0) >= (first.line ?? 0) ? (seconds, second) : (minutes, first)
                let other = later.0 == seconds ? minutes : seconds
                throw WorkloadSpecError(source: later.1.source, line: later.1.line, key: later.0.rawValue, kind: .conflict,
                                        message: "conflicts with '\(other.rawValue)'; give one of them")
            }
        }

        spec.topics = try int(.topics)
        spec.partitionsPerTopic = try int(.partitionsPerTopic)
        if let entry = entries[.keyDistributor] {
            guard let value = KeyDistributorType.allCases.first(where: { $0.rawValue.lowercased() == entry.value.lowercased() }) else {
                throw bad(.keyDistributor, entry, "expected NO_KEY, KEY_ROUND_ROBIN or RANDOM_NANO")
            }
            spec.keyDistributor = value
        }
        spec.messageSize = try int(.messageSize)
        spec.useRandomizedPayloads = try bool(.useRandomizedPayloads) ?? false
        spec.randomBytesRatio = try double(.randomBytesRatio) ?? 0
        spec.randomizedPayloadPoolSize = try optionalInt(.randomizedPayloadPoolSize) ?? 0
        spec.payloadFile = entries[.payloadFile]?.value
        if let entry = entries[.payloadFile], entry.value.isEmpty { throw bad(.payloadFile, entry, "needs a path") }
        spec.subscriptionsPerTopic = try int(.subscriptionsPerTopic)
        spec.producersPerTopic = try int(.producersPerTopic)
        spec.consumerPerSubscription = try int(.consumerPerSubscription)
        spec.producerRate = try double(.producerRate) ?? 0
        spec.consumerBacklogSizeGB = try double(.consumerBacklogSizeGB) ?? 0
        spec.backlogDrainRatio = try double(.backlogDrainRatio) ?? 1.0
        // Durations: at most 10,000 hours (600,000 minutes), like SpecDuration.
        if let minutes = try optionalInt(.testDurationMinutes) {
            guard (1 ... 600_000).contains(minutes) else { throw bad(.testDurationMinutes, entries[.testDurationMinutes], "must be in 1...600000") }
            spec.testDuration = .seconds(60 * Int64(minutes))
        } else if let seconds = try double(.testDurationSeconds) {
            guard seconds > 0, seconds <= 36_000_000 else {
                throw bad(.testDurationSeconds, entries[.testDurationSeconds], "must be above zero and at most 36000000")
            }
            spec.testDuration = .secondsDouble(seconds)
        }
        if let minutes = try optionalInt(.warmupDurationMinutes) {
            guard minutes <= 600_000 else { throw bad(.warmupDurationMinutes, entries[.warmupDurationMinutes], "must be at most 600000") }
            spec.warmupDuration = .seconds(60 * Int64(minutes))
        } else if let seconds = try double(.warmupDurationSeconds) {
            guard seconds <= 36_000_000 else { throw bad(.warmupDurationSeconds, entries[.warmupDurationSeconds], "must be at most 36000000") }
            spec.warmupDuration = .secondsDouble(seconds)
        } else {
            spec.warmupDuration = .seconds(60)
        }
        if let seconds = try double(.windowSeconds) {
            guard seconds > 0, seconds <= 36_000_000 else {
                throw bad(.windowSeconds, entries[.windowSeconds], "must be above zero and at most 36000000")
            }
            spec.window = .secondsDouble(seconds)
        }
        if let entry = entries[.acks] {
            guard let acks = WorkloadAcks(text: entry.value) else { throw bad(.acks, entry, "expected 0, 1, all or -1") }
            spec.acks = acks
        }
        spec.lingerMs = try optionalInt(.lingerMs) ?? 5
        spec.batchSizeBytes = try optionalInt(.batchSizeBytes) ?? 16384
        if let entry = entries[.compression] {
            guard let codec = CompressionCodec.parseSpecValue(entry.value) else {
                throw bad(.compression, entry, "expected none, gzip, snappy, lz4 or zstd")
            }
            spec.compression = codec
        }
        if let entry = entries[.storage] {
            switch WorkloadStorage.parse(entry.value) {
            case .success(let storage): spec.storage = storage
            case .failure(let error): throw bad(.storage, entry, error.message)
            }
        }
        if let entry = entries[.transport] {
            let text = entry.value.hasSuffix("://") ? String(entry.value.dropLast(3)) : entry.value
            guard let transport = WorkloadTransport(rawValue: text.lowercased()) else {
                throw bad(.transport, entry, "expected inproc or tcp")
            }
            spec.transport = transport
        }
        if let entry = entries[.target] {
            switch WorkloadTarget.parse(entry.value) {
            case .success(let target): spec.target = target
            case .failure(let error): throw bad(.target, entry, error.message)
            }
        }
        spec.brokers = try optionalInt(.brokers) ?? 1
        spec.replicationFactor = try optionalInt(.replicationFactor) ?? 1
        spec.minInsyncReplicas = try optionalInt(.minInsyncReplicas) ?? 1
        if let entry = entries[.coordinator] {
            switch WorkloadCoordinator.parse(entry.value) {
            case .success(let coordinator): spec.coordinator = coordinator
            case .failure(let error): throw bad(.coordinator, entry, error.message)
            }
        }
        spec.brokerSessionTimeoutMs = try optionalInt(.brokerSessionTimeoutMs) ?? 6000
        spec.replicaLagTimeMaxMs = try optionalInt(.replicaLagTimeMaxMs) ?? 30_000
        spec.replicaFetchBackoffMs = try optionalInt(.replicaFetchBackoffMs) ?? 1000
        spec.replicaFetchWaitMaxMs = try optionalInt(.replicaFetchWaitMaxMs) ?? 500
        spec.requestTimeoutMs = try optionalInt(.requestTimeoutMs) ?? 30_000
        spec.retryBackoffMaxMs = try optionalInt(.retryBackoffMaxMs) ?? 500
        if let entry = entries[.seed] {
            guard let seed = UInt64(entry.value.replacingUnderscores()) else { throw bad(.seed, entry, "expected an integer in 0...2^64-1") }
            spec.seed = seed
        }
        for entry in faultEntries {
            do {
                spec.faults.append(try WorkloadFault.parse(entry.value))
            } catch {
                throw WorkloadSpecError(source: entry.source, line: entry.line, key: WorkloadSpecKey.fault.rawValue,
                                        kind: .badValue, message: error.message)
            }
        }
        // On by default with faults that take brokers away, when the history can be recorded (an id fits in
        // the value, a fixed rate, a bounded number of records); an explicit `true` is validated instead.
        spec.checkHistory = try bool(.checkHistory) ?? (spec.faults.contains(where: \.losesBrokers) && spec.messageSize >= 16
            && spec.producerRate > 0
            && spec.producerRate * (spec.warmupDuration + spec.testDuration).secondsDouble <= Double(FailoverTracking.historyRecordsMax))
        return spec
    }

    func loadPayload(into spec: inout WorkloadSpec, baseDirectory: String?) throws(WorkloadSpecError) {
        guard !spec.useRandomizedPayloads, let path = spec.payloadFile else { return }
        var candidates: [String] = []
        if path.hasPrefix("/") {
            candidates = [path]
        } else {
            // The spec's directory, its parent (OMB keeps payload/ next to workloads/), the working directory.
            if let baseDirectory {
                candidates.append(baseDirectory + "/" + path)
                candidates.append(baseDirectory + "/../" + path)
            }
            candidates.append(path)
        }
        let entry = entries[.payloadFile]
        for candidate in candidates {
            if let data = FileManager.default.contents(atPath: candidate) {
                guard data.count == spec.messageSize else {
                    throw WorkloadSpecError(source: entry?.source ?? source, line: entry?.line, key: WorkloadSpecKey.payloadFile.rawValue,
                                            kind: .unreadablePayloadFile,
                                            message: "'\(candidate)' is \(data.count) bytes but messageSize is \(spec.messageSize)")
                }
                spec.payloadData = [UInt8](data)
                return
            }
        }
        throw WorkloadSpecError(source: entry?.source ?? source, line: entry?.line, key: WorkloadSpecKey.payloadFile.rawValue,
                                kind: .unreadablePayloadFile,
                                message: "cannot read '\(path)' (tried \(candidates.joined(separator: ", ")))")
    }

    // MARK: Values

    private func bad(_ key: WorkloadSpecKey, _ entry: Entry?, _ message: String) -> WorkloadSpecError {
        let shown = entry.map { " (got '\($0.value)')" } ?? ""
        return WorkloadSpecError(source: entry?.source ?? source, line: entry?.line, key: key.rawValue, kind: .badValue,
                                 message: message + shown)
    }

    private func int(_ key: WorkloadSpecKey) throws(WorkloadSpecError) -> Int {
        guard let value = try optionalInt(key) else {
            throw WorkloadSpecError(source: source, line: nil, key: key.rawValue, kind: .missingKey, message: "is required")
        }
        return value
    }

    private func optionalInt(_ key: WorkloadSpecKey) throws(WorkloadSpecError) -> Int? {
        guard let entry = entries[key] else { return nil }
        guard let value = Int(entry.value.replacingUnderscores()) else { throw bad(key, entry, "expected an integer") }
        guard value >= 0 else { throw bad(key, entry, "must not be negative") }
        return value
    }

    private func double(_ key: WorkloadSpecKey) throws(WorkloadSpecError) -> Double? {
        guard let entry = entries[key] else { return nil }
        let text = entry.value.replacingUnderscores()
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
              let value = Double(text), value.isFinite else {
            throw bad(key, entry, "expected a number")
        }
        guard value >= 0 else { throw bad(key, entry, "must not be negative") }
        return value
    }

    private func bool(_ key: WorkloadSpecKey) throws(WorkloadSpecError) -> Bool? {
        guard let entry = entries[key] else { return nil }
        switch entry.value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw bad(key, entry, "expected true or false")
        }
    }

    // MARK: Text

    /// Cuts a `#` comment that starts the line or follows a space or tab, outside quotes.
    private func stripComment(_ line: String, line number: Int) throws(WorkloadSpecError) -> String {
        var quote: Character?
        var previous: Character = " "
        var result = ""
        var escaped = false
        for character in line {
            if let open = quote {
                if escaped {
                    escaped = false
                } else if character == "\\", open == "\"" {
                    escaped = true
                } else if character == open {
                    quote = nil
                }
            } else if character == "#", previous == " " || previous == "\t" {
                break
            } else if character == "\"" || character == "'", previous == " " || previous == ":" || previous == "\t" {
                quote = character
            }
            result.append(character)
            previous = character
        }
        return result
    }

    /// Removes surrounding quotes: `"..."` with backslash escapes, `'...'` with `''` for a quote.
    private func unquote(_ value: String, key: WorkloadSpecKey, source: String, line: Int?) throws(WorkloadSpecError) -> String {
        guard let first = value.first, first == "\"" || first == "'" else { return value }
        guard value.count >= 2, value.last == first else {
            throw WorkloadSpecError(source: source, line: line, key: key.rawValue, kind: .syntax,
                                    message: "unterminated quoted value \(value)")
        }
        let inner = value.dropFirst().dropLast()
        if first == "'" { return inner.replacingOccurrencesOfSubstring("''", with: "'") }
        var result = ""
        var escaped = false
        for character in inner {
            if escaped {
                switch character {
                case "n": result.append("\n")
                case "t": result.append("\t")
                default: result.append(character)
                }
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// Expands `${NAME}` and `${NAME:-default}` from the environment, as OMB does.
    private func expandPlaceholders(_ value: String, key: WorkloadSpecKey, source: String, line: Int?) throws(WorkloadSpecError) -> String {
        guard value.contains("${") else { return value }
        var result = ""
        var rest = Substring(value)
        while let start = rest.firstRange(of: "${") {
            result += rest[..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            guard let close = afterOpen.firstIndex(of: "}") else {
                throw WorkloadSpecError(source: source, line: line, key: key.rawValue, kind: .syntax, message: "unterminated placeholder '${'")
            }
            let body = afterOpen[..<close]
            let name: Substring
            var fallback: Substring?
            if let separator = body.firstRange(of: ":-") {
                name = body[..<separator.lowerBound]
                fallback = body[separator.upperBound...]
            } else {
                name = body
            }
            let lookup = environment[String(name)]
                ?? environment.first(where: { $0.key.lowercased() == name.lowercased() })?.value
            if let replacement = lookup ?? fallback.map(String.init) {
                result += replacement
            } else {
                throw WorkloadSpecError(source: source, line: line, key: key.rawValue, kind: .badValue,
                                        message: "placeholder '${\(name)}' is not set in the environment and has no ':-default'")
            }
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        return result + rest
    }

    /// The known key closest to `text` (case-insensitive edit distance at most 3), for suggestions.
    static func closestKey(to text: String) -> String? {
        let lowered = Array(text.lowercased())
        var best: (String, Int)?
        for key in WorkloadSpecKey.allCases {
            let distance = editDistance(lowered, Array(key.rawValue.lowercased()))
            if distance <= 3, distance < (best?.1 ?? Int.max) { best = (key.rawValue, distance) }
        }
        return best?.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0 ... b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1 ... a.count {
            current[0] = i
            for j in 1 ... b.count {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

extension Substring {
    fileprivate func replacingOccurrencesOfSubstring(_ target: String, with replacement: String) -> String {
        String(self).replacingOccurrencesOf(target, with: replacement)
    }
}
