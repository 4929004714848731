import Testing
@testable import RivuletCore

#if canImport(Glibc)
import Glibc
#endif

@Suite struct WallClockMillisecondCacheTests {
    private static func systemMilliseconds() -> Int64 { SystemClock().wallMilliseconds() }

    @Test("every reading lies between the system clock's readings before and after it, over 60 ms of calls")
    func readings_matchTheSystemClock() {
        var cache = WallClockMillisecondCache()
        let start = Self.systemMilliseconds()
        var calls = 0
        var mismatches: [(before: Int64, cached: Int64, after: Int64)] = []
        // Bounded: at most 60 ms of wall time and 50 M calls.
        while Self.systemMilliseconds() - start < 60, calls < 50_000_000 {
            let before = Self.systemMilliseconds()
            let cached = cache.milliseconds()
            let after = Self.systemMilliseconds()
            calls += 1
            if cached < before || cached > after, mismatches.count < 5 { mismatches.append((before, cached, after)) }
        }
        #expect(mismatches.isEmpty, "readings outside [before, after]: \(mismatches)")
        #expect(calls > 1000)
    }

    @Test("once the counter rate is known, most readings skip the system clock (where the counter is the clock source)",
          .enabled(if: WallClockMillisecondCache.counterIsClockSource))
    func readings_areCached() {
        var cache = WallClockMillisecondCache()
        let start = SystemClock().monotonicNanoseconds()
        // The rate is measured over the first 10 ms.
        while SystemClock().monotonicNanoseconds() - start < 15_000_000 { _ = cache.milliseconds() }
        let readsBefore = cache.clockReads
        var last: Int64 = 0
        for _ in 0 ..< 200_000 {
            let now = cache.milliseconds()
            #expect(now >= last)
            last = now
        }
        let reads = cache.clockReads - readsBefore
        // One read per millisecond crossed (and a few more for the early prediction), not per call.
        #expect(reads < 2_000, "\(reads) clock reads for 200,000 readings")

        // A new cache (a new producer) uses the rate measured already: it caches from the start.
        var second = WallClockMillisecondCache()
        for _ in 0 ..< 200_000 { _ = second.milliseconds() }
        #expect(second.clockReads < 2_000, "\(second.clockReads) clock reads for a new cache's first 200,000 readings")
    }
}
