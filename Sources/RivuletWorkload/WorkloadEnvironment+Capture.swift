import Foundation

extension WorkloadEnvironment {
    /// Describes this machine: host name, online cores, `uname -sr`, the compiler version this
    /// module was built with, and the git commit (`RIVULET_GIT_COMMIT`, else `git rev-parse HEAD`
    /// in the working directory, else nil). Never throws; unknown parts read `unknown`.
    public static func current() -> WorkloadEnvironment {
        var hostBuffer = [CChar](repeating: 0, count: 256)
        let host = gethostname(&hostBuffer, hostBuffer.count - 1) == 0
            ? String(decoding: hostBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
        var name = utsname()
        let os: String
        if uname(&name) == 0 {
            let system = withUnsafeBytes(of: &name.sysname) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            os = "\(system) \(release)"
        } else {
            os = "unknown"
        }
        return WorkloadEnvironment(host: host, cores: ProcessInfo.processInfo.activeProcessorCount, os: os,
                                   swiftVersion: compilerVersion, gitCommit: gitCommit())
    }

    /// The compiler that built this module, to the minor version.
    static var compilerVersion: String {
        #if compiler(>=6.4)
        "6.4 or later"
        #elseif compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #elseif compiler(>=6.1)
        "6.1"
        #else
        "6.0"
        #endif
    }

    private static func gitCommit() -> String? {
        if let commit = ProcessInfo.processInfo.environment["RIVULET_GIT_COMMIT"], !commit.isEmpty { return commit }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "rev-parse", "HEAD"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return nil
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingSpaces().replacingOccurrencesOf("\n", with: "")
        return text.count == 40 && text.allSatisfy(\.isHexDigit) ? text : nil
    }
}
