import Logging
import RivuletCore
import RivuletWire

/// Opens a durable log: finds its segments, checks them from the recovery point on, truncates a torn
/// or corrupt tail (and every later segment), rebuilds missing or wrong indexes, and reports it all.
///
/// Segments wholly below the checkpointed recovery point were synced with their indexes, so they are
/// trusted: only their tail after the last index entry is walked, after checking that entry (and the
/// time index entry before it) against the bytes. Everything from the recovery point on is walked
/// batch by batch: length, magic, header fields, contiguous offsets and CRC-32C.
enum LogLoader {
    static func open(backend: any DurableLogBackend, topicPartition: TopicPartition, config: LogConfig,
                     clock: any EngineClock, logger: Logger, fullRecovery: Bool) throws(StorageError) -> SegmentedLog {
        var logger = logger
        logger[metadataKey: "partition"] = "\(topicPartition)"
        let now = clock.wallMilliseconds()
        let directory = backend.directory
        try directory.removeStrayFiles(logger: logger)
        let checkpoint = directory.readCheckpoint(logger: logger)
        let recoveryPoint: Int64? = fullRecovery ? nil : checkpoint?.recoveryPoint
        var report = RecoveryReport(checkpointedRecoveryPoint: checkpoint?.recoveryPoint,
                                    hadCleanShutdown: checkpoint?.cleanShutdown ?? false)
        let baseOffsets = try directory.segmentBaseOffsets()
        report.segmentCount = baseOffsets.count

        var segments: [LogSegment] = []
        do throws(StorageError) {
            for baseOffset in baseOffsets {
                let segment = LogSegment(baseOffset: baseOffset, storage: try backend.openSegment(baseOffset: baseOffset), nowMs: now)
                segment.lastModifiedMs = segment.storage.lastModifiedMs
                segment.isSealed = true
                segments.append(segment)
            }
            var index = 0
            while index < segments.count {
                let segment = segments[index]
                let nextBaseOffset = index + 1 < segments.count ? segments[index + 1].baseOffset : nil
                let problem = try recover(segment, nextBaseOffset: nextBaseOffset, recoveryPoint: recoveryPoint,
                                          config: config, logger: logger, report: &report)
                if index + 1 < segments.count, problem != nil || segment.nextOffset != segments[index + 1].baseOffset {
                    for later in segments[(index + 1)...] {
                        let dataBytes = later.storage.preallocates ? try later.storage.dataEnd(from: 0) : later.sizeBytes
                        report.preallocatedBytesTrimmed += later.sizeBytes - dataBytes
                        let truncation = RecoveryTruncation(segmentBaseOffset: later.baseOffset, position: 0, bytesDropped: dataBytes,
                                                            segmentDeleted: true,
                                                            reason: .followsTruncation(expectedBaseOffset: segment.nextOffset))
                        report.truncations.append(truncation)
                        logger.warning("deleting segment after the end of the recovered log", metadata: metadata(truncation))
                        try later.storage.delete()
                    }
                    segments.removeSubrange((index + 1)...)
                }
                index += 1
            }
            if segments.isEmpty {
                let start = checkpoint?.logStartOffset ?? 0
                let storage = try backend.createSegment(baseOffset: start, capacityBytes: config.segmentBytes, nowMs: now)
                segments = [LogSegment(baseOffset: start, storage: storage, nowMs: now)]
            } else {
                for segment in segments.dropLast() { segment.appendFinalTimeIndexEntry() }
                let active = segments[segments.count - 1]
                try active.storage.reactivate(capacityBytes: max(config.segmentBytes, active.sizeBytes))
                active.isSealed = false
            }
        } catch {
            for segment in segments { segment.storage.abandon() }
            throw error
        }

        let firstBaseOffset = segments[0].baseOffset
        let logEndOffset = segments[segments.count - 1].nextOffset
        let logStartOffset = min(max(checkpoint?.logStartOffset ?? firstBaseOffset, firstBaseOffset), logEndOffset)
        report.logStartOffset = logStartOffset
        report.logEndOffset = logEndOffset
        if report.truncatedAnything || !report.rebuiltIndexes.isEmpty {
            logger.warning("recovered log", metadata: [
                "logStartOffset": "\(logStartOffset)", "logEndOffset": "\(logEndOffset)",
                "bytesDropped": "\(report.bytesDropped)", "truncations": "\(report.truncations.count)",
                "rebuiltIndexes": "\(report.rebuiltIndexes)",
            ])
        } else {
            logger.debug("opened log", metadata: [
                "logStartOffset": "\(logStartOffset)", "logEndOffset": "\(logEndOffset)",
                "segments": "\(segments.count)", "bytesScanned": "\(report.bytesScanned)",
            ])
        }
        let log = SegmentedLog(topicPartition: topicPartition, config: config, backend: backend, clock: clock, logger: logger,
                               segments: segments, logStartOffset: logStartOffset,
                               recoveryPoint: min(recoveryPoint ?? firstBaseOffset, logEndOffset), recoveryReport: report)
        // Make what recovery kept durable, and mark the log open (not cleanly shut down) on disk.
        try log.completeOpening()
        return log
    }

    /// Recovers one segment; returns the problem that ended its data early, if any.
    private static func recover(_ segment: LogSegment, nextBaseOffset: Int64?, recoveryPoint: Int64?, config: LogConfig,
                                logger: Logger, report: inout RecoveryReport) throws(StorageError) -> RecoveryReason? {
        let storage = segment.storage
        let physicalBytes = storage.sizeBytes
        var indexTrouble: String?
        let (offsetBytes, timeBytes) = try storage.loadIndexes()
        if let offsetBytes {
            let decoded = OffsetIndex.decode(offsetBytes, segmentSizeBytes: physicalBytes)
            segment.offsetIndex = OffsetIndex(loaded: decoded.entries)
            if let problem = decoded.problem { indexTrouble = "offset index: \(problem)" }
        } else if physicalBytes > 0 {
            indexTrouble = "offset index file missing"
        }
        if let timeBytes {
            let maxRelative = nextBaseOffset.map { $0 - 1 - segment.baseOffset } ?? Int64(Int32.max)
            let decoded = TimeIndex.decode(timeBytes, maxRelativeOffset: maxRelative)
            segment.timeIndex = TimeIndex(loaded: decoded.entries)
            if let problem = decoded.problem { indexTrouble = indexTrouble ?? "time index: \(problem)" }
        } else if physicalBytes > 0 {
            indexTrouble = indexTrouble ?? "time index file missing"
        }

        var startEntry: Int?
        if indexTrouble == nil, let recoveryPoint, recoveryPoint > segment.baseOffset,
           let entry = segment.offsetIndex.lastIndex(atMostRelativeOffset: recoveryPoint - 1 - segment.baseOffset) {
            if try startEntryMatches(entry, of: segment, physicalBytes: physicalBytes) {
                startEntry = entry
            } else {
                indexTrouble = "index entries do not match the segment's batches"
            }
        }

        let walk: SegmentWalkResult
        if let startEntry {
            var firstTimestamp: Int64?
            if physicalBytes > 0 { firstTimestamp = try storage.header(at: 0)?.maxTimestamp }
            segment.resetForWalk(fromEntry: startEntry, firstBatchMaxTimestampMs: firstTimestamp)
            walk = try walkSegment(segment, from: Int(segment.offsetIndex.entries[startEntry].position), expectedBaseOffset: nil,
                                   verifyChecksums: true, indexIntervalBytes: config.indexIntervalBytes)
        } else {
            if let indexTrouble, physicalBytes > 0 {
                report.rebuiltIndexes.append(segment.baseOffset)
                logger.warning("rebuilding segment indexes", metadata: ["segment": "\(segment.baseOffset)", "reason": "\(indexTrouble)"])
            }
            segment.resetForWalkFromStart()
            walk = try walkSegment(segment, from: 0, expectedBaseOffset: segment.baseOffset, verifyChecksums: true,
                                   indexIntervalBytes: config.indexIntervalBytes)
            if physicalBytes > 0 { report.segmentsScanned += 1 }
        }
        report.batchesScanned += walk.batches
        report.bytesScanned += walk.bytes

        if walk.validEnd < physicalBytes {
            var dropped = physicalBytes - walk.validEnd
            if walk.problem != nil, storage.preallocates {
                // Count the preallocated zeros after the lost data as preallocation, not loss.
                let dataEnd = max(walk.validEnd, try storage.dataEnd(from: walk.validEnd))
                report.preallocatedBytesTrimmed += physicalBytes - dataEnd
                dropped = dataEnd - walk.validEnd
            }
            if let problem = walk.problem {
                let truncation = RecoveryTruncation(segmentBaseOffset: segment.baseOffset, position: walk.validEnd,
                                                    bytesDropped: dropped, segmentDeleted: false, reason: problem)
                report.truncations.append(truncation)
                logger.warning("truncating segment at a torn or corrupt batch", metadata: metadata(truncation))
            } else {
                report.preallocatedBytesTrimmed += dropped
            }
            try storage.truncate(toSizeBytes: walk.validEnd)
        }
        // Bytes past the recovery point may not have reached the disk yet; the opening flush syncs them.
        let trusted = recoveryPoint.map { segment.nextOffset <= $0 } ?? false
        segment.syncedBytes = trusted && walk.problem == nil ? segment.sizeBytes : 0
        return walk.problem
    }

    /// Whether an offset index entry, and the time index entry at or before it, match the batches.
    private static func startEntryMatches(_ entryIndex: Int, of segment: LogSegment, physicalBytes: Int) throws(StorageError) -> Bool {
        let storage = segment.storage
        let entry = segment.offsetIndex.entries[entryIndex]
        let entryLastOffset = segment.baseOffset + Int64(entry.relativeOffset)
        guard let header = try storage.header(at: Int(entry.position)), header.storageProblem == nil,
              header.lastOffset == entryLastOffset, Int(entry.position) + header.totalSize <= physicalBytes
        else { return false }

        guard let timeEntry = segment.timeIndex.entries.last(where: { $0.relativeOffset <= entry.relativeOffset }) else {
            // No time entry by then means no timestamps so far: the first batch and this one have none.
            let first = try storage.header(at: 0)
            return (first?.maxTimestamp ?? -1) < 0 && header.maxTimestamp < 0
        }
        // Find the batch the time entry names: scan from the offset index entry at or before it.
        let target = segment.baseOffset + Int64(timeEntry.relativeOffset)
        var position = 0
        if let from = segment.offsetIndex.lookup(relativeOffset: Int64(timeEntry.relativeOffset)) {
            position = Int(from.position)
        }
        while position < physicalBytes {
            guard let batch = try storage.header(at: position), batch.storageProblem == nil,
                  batch.totalSize <= physicalBytes - position else { return false }
            if batch.lastOffset >= target {
                return batch.lastOffset == target && batch.maxTimestamp == timeEntry.timestampMs
            }
            position += batch.totalSize
        }
        return false
    }

    private static func metadata(_ truncation: RecoveryTruncation) -> Logger.Metadata {
        [
            "segment": "\(truncation.segmentBaseOffset)", "position": "\(truncation.position)",
            "bytesDropped": "\(truncation.bytesDropped)", "segmentDeleted": "\(truncation.segmentDeleted)",
            "reason": "\(truncation.reason)",
        ]
    }
}
