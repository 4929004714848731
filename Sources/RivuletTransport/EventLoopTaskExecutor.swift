import NIOCore

/// A Swift `TaskExecutor` that runs jobs on one NIO event loop, so a task started from a channel
/// handler (with this executor as its preference) keeps running on that channel's thread: no thread
/// switch between reading a request, handling it and writing its response.
///
/// Jobs are queued with `EventLoop.execute`, so they never run inline in `enqueue`.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop jobs run on.
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
