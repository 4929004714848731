import Foundation

/// Writes a result as files: `<dir>/<name>-<target>-<timestamp>.{json,csv,svg,txt}`, where name
/// is the workload name made file-safe, target is `WorkloadResult.target`, and timestamp is the
/// UTC start of traffic as `yyyy-MM-dd-HH-mm-ss` (OMB's format). An existing file is never
/// overwritten: a `-2`, `-3`... suffix is added.
public enum ResultWriter {
    /// The paths written.
    public struct Files: Sendable, Equatable {
        /// The JSON result (OMB's fields first).
        public var json: String
        /// One row per window.
        public var csv: String
        /// Throughput and p99 latency over time.
        public var svg: String
        /// The text report ending with the summary line.
        public var text: String
        /// Recovery per fault and partition, and the history check (`<base>-recovery.csv`), when the result has them.
        public var recoveryCSV: String? = nil
    }

    /// Why files could not be written.
    public struct WriteError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The file or directory that could not be written.
        public let path: String
        /// What the system said.
        public let reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// `<name>-<target>-<timestamp>` for `result`.
    public static func baseName(for result: WorkloadResult) -> String {
        "\(slug(result.workload))-\(slug(result.target))-\(timestamp(wallMilliseconds: result.startedAtWallMs))"
    }

    /// Writes the four files into `directory` (created if missing) and returns their paths.
    public static func write(_ result: WorkloadResult, to directory: String) throws(WriteError) -> Files {
        try createDirectory(directory)
        var base = directory + "/" + baseName(for: result)
        var suffix = 2
        while ["json", "csv", "svg", "txt"].contains(where: { FileManager.default.fileExists(atPath: base + "." + $0) }), suffix < 1000 {
            base = directory + "/" + baseName(for: result) + "-\(suffix)"
            suffix += 1
        }
        let files = Files(json: base + ".json", csv: base + ".csv", svg: base + ".svg", text: base + ".txt")
        try writeText(result.jsonText, to: files.json)
        try writeText(result.csvText, to: files.csv)
        try writeText(result.chartSVG, to: files.svg)
        try writeText(result.textReport, to: files.text)
        var written = files
        if let recovery = result.recoveryCSVText {
            written.recoveryCSV = base + "-recovery.csv"
            try writeText(recovery, to: base + "-recovery.csv")
        }
        return written
    }

    /// Writes a comparison of `results`: `<dir>/<base>.txt` (table) and `<dir>/<base>.svg` (bars).
    public static func writeComparison(_ results: [WorkloadResult], title: String, to directory: String,
                                       baseName: String) throws(WriteError) -> (text: String, svg: String) {
        try createDirectory(directory)
        let base = directory + "/" + slug(baseName)
        try writeText(ResultComparison.table(results), to: base + ".txt")
        try writeText(ResultComparison.chartSVG(results, title: title), to: base + ".svg")
        return (base + ".txt", base + ".svg")
    }

    /// Lowercase letters, digits, `.` and `-`; anything else becomes `-`, runs collapse.
    public static func slug(_ text: String) -> String {
        var result = ""
        for character in text.lowercased() {
            if character.isASCII, character.isLetter || character.isNumber || character == "." {
                result.append(character)
            } else if !result.hasSuffix("-") {
                result.append("-")
            }
        }
        while result.hasSuffix("-") { result.removeLast() }
        while result.hasPrefix("-") { result.removeFirst() }
        return result.isEmpty ? "workload" : String(result.prefix(80))
    }

    /// `yyyy-MM-dd-HH-mm-ss` in UTC.
    public static func timestamp(wallMilliseconds: Int64) -> String {
        var seconds = time_t(wallMilliseconds / 1000)
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return "unknown-time" }
        return String(format: "%04d-%02d-%02d-%02d-%02d-%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    private static func createDirectory(_ directory: String) throws(WriteError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw WriteError(path: directory, reason: "\(error)")
        }
    }

    private static func writeText(_ text: String, to path: String) throws(WriteError) {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw WriteError(path: path, reason: "the file could not be created")
        }
    }
}
