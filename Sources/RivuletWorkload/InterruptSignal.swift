import Dispatch
import Foundation
import Synchronization

/// Turns Ctrl-C (SIGINT) into a graceful stop for the command line: the first Ctrl-C calls
/// `onInterrupt` (typically `runner.stop()` or cancelling the run task, which still produces the
/// partial result); a second Ctrl-C exits the process with status 130 at once.
///
/// ```swift
/// let interrupt = InterruptSignal.install { runner.stop() }
/// defer { interrupt.uninstall() }
/// ```
/// Isolation: `Sendable`; the handler runs on a global dispatch queue.
public final class InterruptSignal: @unchecked Sendable {
    // @unchecked: `source` is set once in init and dispatch sources are thread-safe; `presses` is atomic.
    private let source: any DispatchSourceSignal
    private let presses = Atomic<Int>(0)

    private init(source: any DispatchSourceSignal) { self.source = source }

    /// Installs the handler; SIGINT's default action is disabled until `uninstall()`.
    public static func install(_ onInterrupt: @escaping @Sendable () -> Void) -> InterruptSignal {
        signal(SIGINT, SIG_IGN)
        let interrupt = InterruptSignal(source: DispatchSource.makeSignalSource(signal: SIGINT, queue: .global()))
        interrupt.source.setEventHandler { [weak interrupt] in
            interrupt?.pressed(onInterrupt)
        }
        interrupt.source.resume()
        return interrupt
    }

    private func pressed(_ onInterrupt: @Sendable () -> Void) {
        let (count, _) = presses.add(1, ordering: .relaxed)
        if count >= 2 { exit(130) }
        FileHandle.standardError.write(Data("\ninterrupted: stopping (Ctrl-C again to quit at once)\n".utf8))
        onInterrupt()
    }

    /// Removes the handler and restores SIGINT's default action.
    public func uninstall() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
