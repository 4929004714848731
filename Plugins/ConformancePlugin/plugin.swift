import Foundation
import PackagePlugin

/// `swift package conformance -- [rivulet conform options]`: builds `rivulet` in release and runs
/// `rivulet conform ...` in the package directory.
///
/// Put `--` before the tool's arguments (SwiftPM otherwise swallows some of them). Pass
/// `--debug` before `--` to run a debug build instead. Linux has no plugin sandbox; on macOS the
/// tool writes files and opens sockets, so run it as
/// `swift package --disable-sandbox conformance -- ...`. The plugin exits with the tool's status.
@main
struct ConformancePlugin: CommandPlugin {
    /// Why the plugin failed.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func performCommand(context: PluginContext, arguments: [String]) async throws {
        var extractor = ArgumentExtractor(arguments)
        let debug = extractor.extractFlag(named: "debug") > 0
        let toolArguments = extractor.remainingArguments.filter { $0 != "--" }
        let configuration: PackageManager.BuildConfiguration = debug ? .debug : .release
        var parameters = PackageManager.BuildParameters(configuration: configuration)
        parameters.logging = .concise
        let result = try packageManager.build(.product("rivulet"), parameters: parameters)
        guard result.succeeded,
              let built = result.builtArtifacts.first(where: { $0.kind == .executable && $0.url.lastPathComponent == "rivulet" })
        else {
            throw Failure(description: "building rivulet (\(configuration)) failed:\n\(result.logText)")
        }
        let process = Process()
        process.executableURL = built.url
        process.arguments = ["conform"] + toolArguments
        process.currentDirectoryURL = context.package.directoryURL
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            throw Failure(description: "rivulet conform exited with status \(process.terminationStatus)")
        }
    }
}
