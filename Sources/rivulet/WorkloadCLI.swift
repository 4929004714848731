import ArgumentParser
import Foundation
import Logging
import RivuletCore
import RivuletWorkload
import Synchronization

/// What `rivulet run` and `rivulet compare` share: spec overrides from the command line, storage
/// shorthands (`--storage file` makes a temporary directory that is removed afterwards), and the
/// driver factory onto the Rivulet client.
enum WorkloadCLI {
    /// A `--storage` value as a spec `storage` URL. `memory`, `file` and `mmap` alone mean memory
    /// storage or a fresh temporary directory (returned, to be removed after the run).
    static func storageURL(_ text: String) throws -> (url: String, temporaryDirectory: String?) {
        switch text {
        case "memory", "memory://":
            return ("memory://", nil)
        case "file", "mmap", "file://", "mmap://":
            let scheme = text.hasPrefix("file") ? "file" : "mmap"
            let directory = NSTemporaryDirectory() + "rivulet-workload-\(scheme)-\(ProcessInfo.processInfo.processIdentifier)-"
                + String(UInt32.random(in: 0 ... .max), radix: 36)
            return ("\(scheme)://\(directory)", directory)
        default:
            guard text.hasPrefix("file:///") || text.hasPrefix("mmap:///") else {
                throw ValidationError("--storage \(text): expected memory, file, mmap, memory://, file:///dir or mmap:///dir")
            }
            return (text, nil)
        }
    }

    /// Sends log lines of warning level and above to standard error, so that an embedded broker's
    /// routine lines (segment rolls, retention) do not interleave with the report on stdout.
    /// Called once, first, by `run`, `compare` and `conform` (each runs in its own process).
    static func quietLogging() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
    }

    /// Temporary storage directories the command made; the driver removes them when it closes.
    static let temporaryDirectories = Mutex<Set<String>>([])

    /// Builds the driver of a spec: the Rivulet client against the spec's target.
    static func makeDriver(clock: any EngineClock, consumerMode: KafkaWorkloadDriver.ConsumerMode) -> WorkloadCommand.DriverFactory {
        { spec in
            var owned = false
            switch spec.storage {
            case .file(let directory), .mmap(let directory):
                owned = temporaryDirectories.withLock { $0.contains(directory) }
            case .memory:
                break
            }
            let driver = try await KafkaWorkloadDriver.start(spec: spec, clock: clock, ownsStorageDirectory: owned, consumerMode: consumerMode)
            return FailoverTrackingDriver.wrap(driver, spec: spec, clock: clock)
        }
    }

    /// Parses `--consumer-mode`.
    static func consumerMode(_ text: String) throws -> KafkaWorkloadDriver.ConsumerMode {
        guard let mode = KafkaWorkloadDriver.ConsumerMode(rawValue: text) else {
            throw ValidationError("--consumer-mode \(text): expected groups (consumer groups) or assigned (partitions assigned by the harness)")
        }
        return mode
    }

    /// Prints a spec or run error on standard error and turns it into an exit code (2 for a bad
    /// spec or bad options, 1 when the run could not start).
    static func fail(_ error: any Error) -> ExitCode {
        switch error {
        case let error as WorkloadSpecError:
            printError("error: \(error)")
            return ExitCode(2)
        case let error as WorkloadRunError:
            printError("error: \(error)")
            return ExitCode(1)
        case let error as KafkaWorkloadTarget.StartError:
            printError("error: \(error)")
            return ExitCode(1)
        default:
            printError("error: \(error)")
            return ExitCode(1)
        }
    }
}
