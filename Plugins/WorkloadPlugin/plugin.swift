import Foundation
import PackagePlugin

/// `swift package workload -- [options]`: builds `rivulet` in release and runs `rivulet run`
/// with the arguments after `--`. Pass `--debug` before `--` to use a debug build instead.
@main
struct WorkloadPlugin: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        var extractor = ArgumentExtractor(arguments)
        let debug = extractor.extractFlag(named: "debug") > 0
        let toolArguments = extractor.remainingArguments.filter { $0 != "--" }
        let executable: URL
        if debug {
            executable = try context.tool(named: "rivulet").url
        } else {
            let result = try packageManager.build(.product("rivulet"), parameters: .init(configuration: .release))
            guard result.succeeded,
                  let built = result.builtArtifacts.first(where: { $0.kind == .executable && $0.url.lastPathComponent == "rivulet" })
            else {
                Diagnostics.error("building rivulet in release failed:\n\(result.logText)")
                return
            }
            executable = built.url
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = ["run"] + toolArguments
        process.currentDirectoryURL = context.package.directoryURL
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            Diagnostics.error("rivulet run exited with status \(process.terminationStatus)")
        }
    }
}
