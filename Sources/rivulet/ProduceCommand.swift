import ArgumentParser
import NIOCore
import RivuletClient
import RivuletWire
import Synchronization

/// `rivulet produce`: Kafka's console producer. Reads lines from stdin and sends one record per
/// line; with `--property parse.key=true` a line is `key<key.separator>value`, with
/// `parse.headers=true` it starts with `k:v,k2:v2<headers.delimiter>`.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce", abstract: "Produce lines from stdin (like kafka-console-producer)",
        discussion: """
        Properties (--property name=value): parse.key (false), key.separator (\\t), parse.headers (false), \
        headers.delimiter (\\t), headers.separator (,), headers.key.separator (:), null.marker (unset), \
        ignore.error (false). Producer settings (--producer-property name=value) use Kafka's names.
        """)

    @OptionGroup var connection: ClientOptions

    @Option(help: "The topic to produce to.")
    var topic: String

    @Option(help: "Send every record to this partition (default: the partitioner decides).")
    var partition: Int32?

    @Option(name: .customLong("property"), parsing: .singleValue, help: "A line-reader property name=value. Repeatable.")
    var properties: [String] = []

    @Option(name: .customLong("producer-property"), parsing: .singleValue, help: "A producer setting name=value. Repeatable.")
    var producerProperties: [String] = []

    @Option(name: .customLong("compression-codec"), help: "none, gzip, snappy, lz4 or zstd.")
    var compressionCodec: String?

    @Option(name: .customLong("request-required-acks"), help: "0, 1 or all.")
    var acks: String?

    @Flag(name: .customLong("sync"), help: "Send each record and wait for it before reading the next line.")
    var sync = false

    /// How lines become records.
    struct LineFormat {
        var parseKey = false
        var keySeparator = "\t"
        var parseHeaders = false
        var headersDelimiter = "\t"
        var headersSeparator = ","
        var headersKeySeparator = ":"
        var nullMarker: String?
        var ignoreError = false

        init(properties: [(String, String)]) throws {
            for (name, value) in properties {
                switch name {
                case "parse.key": parseKey = try KeyValue.bool(value, name: name)
                case "key.separator": keySeparator = KeyValue.unescape(value)
                case "parse.headers": parseHeaders = try KeyValue.bool(value, name: name)
                case "headers.delimiter": headersDelimiter = KeyValue.unescape(value)
                case "headers.separator": headersSeparator = KeyValue.unescape(value)
                case "headers.key.separator": headersKeySeparator = KeyValue.unescape(value)
                case "null.marker": nullMarker = value
                case "ignore.error": ignoreError = try KeyValue.bool(value, name: name)
                default: throw ValidationError("--property \(name): unknown (see --help)")
                }
            }
            for (name, separator) in [("key.separator", keySeparator), ("headers.delimiter", headersDelimiter),
                                      ("headers.separator", headersSeparator), ("headers.key.separator", headersKeySeparator)]
                where separator.isEmpty {
                throw ValidationError("--property \(name) must not be empty")
            }
        }

        /// Splits a line into headers, key and value, as Kafka's `LineMessageReader` does.
        func parse(_ line: String, lineNumber: Int) throws -> (headers: [RecordHeader], key: String?, value: String?) {
            var rest = Substring(line)
            var headers: [RecordHeader] = []
            if parseHeaders {
                guard let range = rest.firstRange(of: headersDelimiter) else {
                    if ignoreError { return ([], nil, marker(String(rest))) }
                    throw ValidationError("line \(lineNumber): no headers delimiter \(headersDelimiter.debugDescription)")
                }
                let text = rest[..<range.lowerBound]
                rest = rest[range.upperBound...]
                if nullMarker.map({ text != $0[...] }) ?? true {
                    for part in text.split(separator: Substring(headersSeparator), omittingEmptySubsequences: true) {
                        if let separator = part.firstRange(of: headersKeySeparator) {
                            let value = String(part[separator.upperBound...])
                            headers.append(RecordHeader(key: String(part[..<separator.lowerBound]),
                                                        value: value == nullMarker ? nil : Array(value.utf8)))
                        } else {
                            headers.append(RecordHeader(key: String(part), value: nil as [UInt8]?))
                        }
                    }
                }
            }
            guard parseKey else { return (headers, nil, marker(String(rest))) }
            guard let range = rest.firstRange(of: keySeparator) else {
                if ignoreError { return (headers, nil, marker(String(rest))) }
                throw ValidationError("line \(lineNumber): no key separator \(keySeparator.debugDescription) (use --property ignore.error=true to send it without a key)")
            }
            return (headers, marker(String(rest[..<range.lowerBound])), marker(String(rest[range.upperBound...])))
        }

        private func marker(_ text: String) -> String? { text == nullMarker ? nil : text }
    }

    func run() async throws {
        let format = try LineFormat(properties: KeyValue.parse(properties, option: "--property"))
        var config = ProducerConfig()
        for (name, value) in try KeyValue.parse(producerProperties, option: "--producer-property") {
            guard try config.set(name, value) else { throw ValidationError("--producer-property \(name): not a producer setting") }
        }
        if let compressionCodec { _ = try config.set("compression.type", compressionCodec) }
        if let acks { _ = try config.set("acks", acks) }
        let session = try await connection.open()
        let failures = Failures()
        var lineNumber = 0
        do {
            let producer = try Producer(cluster: session.cluster, config: config)
            while let line = readLine(strippingNewline: true) {
                lineNumber += 1
                let (headers, key, value) = try format.parse(line, lineNumber: lineNumber)
                let keyBuffer = key.map { ByteBuffer(string: $0) }
                let valueBuffer = value.map { ByteBuffer(string: $0) }
                if sync {
                    do {
                        _ = try await producer.send(topic: topic, partition: partition, key: keyBuffer, value: valueBuffer, headers: headers)
                    } catch {
                        failures.record(error)
                    }
                } else {
                    try await producer.send(topic: topic, partition: partition, key: keyBuffer, value: valueBuffer, headers: headers) {
                        if case let .failure(error) = $0 { failures.record(error) }
                    }
                }
            }
            await producer.close()
        } catch {
            await session.close()
            throw error
        }
        await session.close()
        let (count, first) = failures.summary
        if count > 0 {
            printError("\(count) of \(lineNumber) records failed; first error: \(first ?? "")")
            throw ExitCode.failure
        }
    }
}

/// Counts delivery failures reported by completions.
final class Failures: Sendable {
    private let state = Mutex<(count: Int, first: String?)>((0, nil))

    func record(_ error: any Error) {
        state.withLock { state in
            state.count += 1
            if state.first == nil { state.first = "\(error)" }
        }
    }

    var summary: (Int, String?) { state.withLock { ($0.count, $0.first) } }
}
