import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import RivuletWorkload

/// A result with three windows, faults, a probe and a backlog report, built without running.
func sampleResult(name: String = "sample <&> \"workload\"", target: String = "embedded-memory-inproc", rate: Double = 1000) -> WorkloadResult {
    func summary(_ base: Double) -> LatencySummary {
        LatencySummary(count: 1000, avg: base, p50: base, p75: base * 1.2, p95: base * 1.5, p99: base * 2, p999: base * 3,
                       p9999: base * 4, p99999: base * 5, max: base * 6)
    }
    var windows: [WorkloadWindow] = []
    for index in 0 ..< 3 {
        let offset = Double(index)
        let sent = Int64(rate * 10)
        let window = WorkloadWindow(
            startSeconds: offset * 10, endSeconds: (offset + 1) * 10, publishRate: rate + offset, publishErrorRate: 0,
            consumeRate: rate - 1, publishThroughputBytesPerSecond: rate * 1024, consumeThroughputBytesPerSecond: rate * 1024,
            backlog: Int64(index * 10), recordsSent: sent, recordsReceived: sent, publishErrors: 0,
            publishLatencyMs: summary(2 + offset), publishDelayLatencyUs: summary(50), endToEndLatencyMs: summary(3))
        windows.append(window)
    }
    let quantiles = [LatencyQuantile(percentile: 0, value: 1), LatencyQuantile(percentile: 50, value: 2),
                     LatencyQuantile(percentile: 99.90234375, value: 9)]
    return WorkloadResult(
        workload: name, driver: "in-memory", messageSize: 1024, topics: 1, partitions: 16, producersPerTopic: 1, consumersPerTopic: 1,
        aggregatedPublishLatency: summary(2.5), aggregatedPublishDelayLatency: summary(40), aggregatedEndToEndLatency: summary(3.5),
        aggregatedPublishLatencyQuantiles: quantiles, aggregatedPublishDelayLatencyQuantiles: quantiles,
        aggregatedEndToEndLatencyQuantiles: quantiles, windows: windows, target: target, stopReason: .completed, stopDetail: nil,
        startedAtWallMs: 1_700_000_000_123, warmupSeconds: 5, measuredSeconds: 30, trafficSeconds: 35, recordsSent: Int64(rate * 30),
        publishErrors: 2, recordsReceived: Int64(rate * 30), bytesSent: Int64(rate * 30 * 1024), bytesReceived: Int64(rate * 30 * 1024),
        aggregatedPublishRate: rate, aggregatedConsumeRate: rate, publishThroughputBytesPerSecond: rate * 1024,
        consumeThroughputBytesPerSecond: rate * 1024, publishErrorCounts: ["NOT_LEADER_OR_FOLLOWER": 2], unacknowledgedAtEnd: 0,
        scheduleLagRecordsAtEnd: 0, scheduleLagSecondsAtEnd: 0, endToEndUnmeasured: 0, clampedLatencySamples: 0, finalBacklog: 3, finalTargetRate: rate,
        faults: [WorkloadFaultEvent(fault: "at 15s kill broker 0 for 5s", verb: "kill", atSeconds: 15, endedAtSeconds: 20, brokerId: 0,
                                    consumerIndex: nil, error: nil, undoError: nil, recoveryTimeMs: 100, rebalanceTimeMs: nil,
                                    throughputRecoveryMs: 0, detail: "broker 0 killed")],
        maxRateProbe: MaxRateProbeReport(settledRate: 980, converged: true, convergedAfterSeconds: 4,
                                         steps: [.init(atSeconds: 1, targetRate: 1000, achievedRate: 999, sustained: true, reason: "",
                                                       nextRate: 980, phase: "hold")]),
        backlogReport: BacklogReport(requestedBytes: 1 << 30, buildSeconds: 3, drainSeconds: 2, peakBacklog: 1_048_576,
                                     drainLevel: 1000, drainConsumeRate: 5000),
        windowSeconds: 10, spec: [.init(key: "name", value: name), .init(key: "topics", value: "1")],
        environment: TestSupport.environment)
}

/// Parses XML and reports the root element, element counts and the first error.
private final class XMLProbe: NSObject, XMLParserDelegate {
    var root: String?
    var counts: [String: Int] = [:]
    var attributes: [String: [[String: String]]] = [:]
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = name }
        counts[name, default: 0] += 1
        self.attributes[name, default: []].append(attributes)
    }

    static func parse(_ text: String) -> (XMLProbe, Bool, String?) {
        let probe = XMLProbe()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = probe
        let ok = parser.parse()
        return (probe, ok, parser.parserError.map { "\($0)" })
    }
}

@Suite struct ResultWriterTests {
    static let ombFields = [
        "workload", "driver", "messageSize", "topics", "partitions", "producersPerTopic", "consumersPerTopic",
        "publishRate", "publishErrorRate", "consumeRate", "backlog",
        "publishLatencyAvg", "publishLatency50pct", "publishLatency75pct", "publishLatency95pct", "publishLatency99pct",
        "publishLatency999pct", "publishLatency9999pct", "publishLatency99999pct", "publishLatencyMax",
        "publishDelayLatencyAvg", "publishDelayLatency50pct", "publishDelayLatency75pct", "publishDelayLatency95pct",
        "publishDelayLatency99pct", "publishDelayLatency999pct", "publishDelayLatency9999pct", "publishDelayLatency99999pct",
        "publishDelayLatencyMax",
        "aggregatedPublishLatencyAvg", "aggregatedPublishLatency50pct", "aggregatedPublishLatency75pct",
        "aggregatedPublishLatency95pct", "aggregatedPublishLatency99pct", "aggregatedPublishLatency999pct",
        "aggregatedPublishLatency9999pct", "aggregatedPublishLatency99999pct", "aggregatedPublishLatencyMax",
        "aggregatedPublishDelayLatencyAvg", "aggregatedPublishDelayLatency50pct", "aggregatedPublishDelayLatency75pct",
        "aggregatedPublishDelayLatency95pct", "aggregatedPublishDelayLatency99pct", "aggregatedPublishDelayLatency999pct",
        "aggregatedPublishDelayLatency9999pct", "aggregatedPublishDelayLatency99999pct", "aggregatedPublishDelayLatencyMax",
        "aggregatedPublishLatencyQuantiles", "aggregatedPublishDelayLatencyQuantiles",
        "endToEndLatencyAvg", "endToEndLatency50pct", "endToEndLatency75pct", "endToEndLatency95pct", "endToEndLatency99pct",
        "endToEndLatency999pct", "endToEndLatency9999pct", "endToEndLatency99999pct", "endToEndLatencyMax",
        "aggregatedEndToEndLatencyQuantiles",
        "aggregatedEndToEndLatencyAvg", "aggregatedEndToEndLatency50pct", "aggregatedEndToEndLatency75pct",
        "aggregatedEndToEndLatency95pct", "aggregatedEndToEndLatency99pct", "aggregatedEndToEndLatency999pct",
        "aggregatedEndToEndLatency9999pct", "aggregatedEndToEndLatency99999pct", "aggregatedEndToEndLatencyMax",
    ]

    @Test func json_hasOMBTestResultFields_inOMBOrder_withOMBUnits() throws {
        let result = sampleResult()
        let text = result.jsonText
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        for field in Self.ombFields { #expect(object[field] != nil, "missing \(field)") }
        // OMB's order, then Rivulet's fields.
        let positions = Self.ombFields.map { text.range(of: "\"\($0)\" :")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        let ordered = positions.compactMap { $0 }
        #expect(ordered == ordered.sorted())
        #expect((object["publishRate"] as? [Double])?.count == 3)
        #expect((object["publishLatency99pct"] as? [Double]) == [4, 6, 8])
        #expect((object["publishDelayLatency99pct"] as? [Int]) == [100, 100, 100])
        #expect(object["aggregatedPublishDelayLatency50pct"] as? Int == 40)
        #expect(object["aggregatedEndToEndLatencyMax"] as? Double == 21)
        let quantiles = try #require(object["aggregatedPublishLatencyQuantiles"] as? [String: Double])
        #expect(quantiles["50.0"] == 2)
        #expect(quantiles["99.90234375"] == 9)
        #expect(object["workload"] as? String == "sample <&> \"workload\"")
        #expect(object["stopReason"] as? String == "completed")
        #expect(object["publishThroughputBytesPerSecond"] as? Double == 1_024_000)
        #expect((object["faults"] as? [[String: Any]])?.first?["brokerId"] as? Int == 0)
        #expect((object["environment"] as? [String: Any])?["host"] as? String == "test-host")
        #expect((object["spec"] as? [String: String])?["topics"] == "1")
        // Stable: the same result renders the same bytes.
        #expect(sampleResult().jsonText == text)
    }

    @Test func csv_isRectangular_withAHeader() throws {
        let lines = sampleResult().csvText.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "")
        let rows = lines.dropLast().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(rows.count == 4)
        #expect(rows[0].map(String.init) == WorkloadResult.csvColumns)
        for row in rows.dropFirst() {
            #expect(row.count == WorkloadResult.csvColumns.count)
            #expect(row.allSatisfy { Double($0) != nil })
        }
        #expect(rows[1][0] == "1")
        #expect(rows[3][2] == "30.000")
    }

    @Test func chart_isWellFormedSVG_withBothPanels() throws {
        let svg = sampleResult().chartSVG
        let (probe, ok, error) = XMLProbe.parse(svg)
        #expect(ok, "\(error ?? "")")
        #expect(probe.root == "svg")
        #expect(probe.counts["polyline"] == 4)
        #expect(probe.counts["circle"] == 12)
        // The fault at 15 s (10 s into the measured phase) is marked in both panels.
        #expect(probe.attributes["line"]?.filter { $0["stroke-dasharray"] != nil }.count == 2)
        #expect(svg.contains("sample &lt;&amp;&gt; &quot;workload&quot;"))
        #expect(!svg.contains("nan") && !svg.contains("inf"))
    }

    @Test func chart_handlesEmptyAndPartialResults() {
        var result = sampleResult()
        result.windows = []
        result.stopReason = .cancelled
        let (probe, ok, error) = XMLProbe.parse(result.chartSVG)
        #expect(ok, "\(error ?? "")")
        #expect(probe.counts["polyline"] == nil)
        #expect(result.csvText == WorkloadResult.csvColumns.joined(separator: ",") + "\n")
        #expect(!result.textReport.isEmpty)
    }

    @Test(arguments: [0.0, 0.3, 1, 7, 99, 3150, 1_234_567, 4.2e9, .nan, -5])
    func axisTicks_startAtZero_andReachTheMaximum(maximum: Double) {
        let ticks = SVGDrawing.niceTicks(maximum: maximum)
        #expect(ticks.first == 0)
        #expect((ticks.last ?? 0) >= (maximum.isFinite && maximum > 0 ? maximum : 1))
        #expect(ticks.count >= 2 && ticks.count <= 7, "\(ticks)")
        let step = ticks[1]
        let mantissa = step / pow(10, floor(log10(step)))
        #expect([1.0, 2, 5, 10].contains { abs($0 - mantissa) < 1e-9 }, "step \(step)")
    }

    @Test func summaryLine_hasKafkaPerfTestShape() throws {
        let line = sampleResult().summaryLine
        #expect(line == "30000 records sent, 1000.0 records/sec (0.98 MB/sec), 2.50 ms avg latency, 15.00 ms max latency, "
                + "2 ms 50th, 3 ms 95th, 5 ms 99th, 7 ms 99.9th.")
        let pattern = #/^\d+ records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, [\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$/#
        #expect(line.wholeMatch(of: pattern) != nil)
    }

    @Test func textReport_hasWindowsFaultsAndTheSummary() {
        let text = sampleResult().textReport
        #expect(text.contains("pub msg/s"))
        #expect(text.contains("at 15s kill broker 0 for 5s -> broker 0"))
        #expect(text.contains("max-rate probe: settled at 980 records/s"))
        #expect(text.hasSuffix(sampleResult().summaryLine + "\n"))
        #expect(text.split(separator: "\n").count > 12)
    }

    @Test func progressLine_showsRateThroughputP99AndBacklog() {
        let progress = WorkloadProgress(elapsedSeconds: 12, phase: "test", targetRate: 50000, publishRate: 50012,
                                        publishBytesPerSecond: 51_212_288, publishLatencyP99Ms: 3.214, consumeRate: 50001, backlog: 1200,
                                        errors: 0)
        #expect(progress.line == "[  12s test] 50,012 msg/s  48.84 MB/s  p99 3.21 ms | consume 50,001 msg/s | backlog 1,200 | errors 0 | target 50,000")
    }

    @Test func writer_writesFourFiles_namedByWorkloadTargetAndTime_withoutOverwriting() throws {
        let directory = try TestSupport.temporaryDirectory() + "/results"
        let result = sampleResult(name: "1 producer / 1 consumers")
        let files = try ResultWriter.write(result, to: directory)
        #expect(files.json == directory + "/1-producer-1-consumers-embedded-memory-inproc-2023-11-14-22-13-20.json")
        for path in [files.json, files.csv, files.svg, files.text] {
            #expect(FileManager.default.fileExists(atPath: path))
        }
        #expect(try String(contentsOfFile: files.text, encoding: .utf8) == result.textReport)
        let again = try ResultWriter.write(result, to: directory)
        #expect(again.json.hasSuffix("-2023-11-14-22-13-20-2.json"))
        #expect(throws: ResultWriter.WriteError.self) { try ResultWriter.write(result, to: "/proc/no-such-place/results") }
    }

    @Test func comparison_tableAndChart() throws {
        let results = [sampleResult(name: "w", target: "embedded-memory-inproc", rate: 1000),
                       sampleResult(name: "w", target: "embedded-file-inproc", rate: 800),
                       sampleResult(name: "w", target: "kafka-localhost-9092", rate: 1200)]
        let table = ResultComparison.table(results)
        let lines = table.split(separator: "\n")
        #expect(lines.count == 5)
        #expect(lines[2].contains("embedded-memory-inproc") && lines[2].contains("1,000"))
        #expect(lines[4].contains("kafka-localhost-9092") && lines[4].contains("1,200"))
        let (probe, ok, error) = XMLProbe.parse(ResultComparison.chartSVG(results, title: "storage <compare>"))
        #expect(ok, "\(error ?? "")")
        #expect(probe.root == "svg")
        #expect((probe.counts["rect"] ?? 0) >= 3 + 9)
        #expect(ResultComparison.labels([sampleResult(name: "a"), sampleResult(name: "b")]) == ["a on embedded-memory-inproc", "b on embedded-memory-inproc"])
        let directory = try TestSupport.temporaryDirectory()
        let written = try ResultWriter.writeComparison(results, title: "t", to: directory, baseName: "Storage Compare")
        #expect(written.svg == directory + "/storage-compare.svg")
    }

    @Test func realRun_producesParseableOutputs() async throws {
        var spec = TestSupport.runnerSpec(rate: 500, test: .milliseconds(400), window: .milliseconds(100))
        spec.faults = [try WorkloadFault.parse("at 100ms add consumer")]
        let result = try await WorkloadRunner(spec: spec, driver: InMemoryWorkloadDriver(), options: TestSupport.options()).run()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.jsonText.utf8)) as? [String: Any])
        for field in Self.ombFields { #expect(object[field] != nil, "missing \(field)") }
        #expect(XMLProbe.parse(result.chartSVG).1)
        #expect(result.csvText.split(separator: "\n").count == result.windows.count + 1)
        #expect(result.faults.count == 1)
    }
}
