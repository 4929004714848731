import NIOCore
import RivuletCore
import Testing
@testable import RivuletWorkload

@Suite struct PayloadTests {
    @Test func timestamp_isTheFirst8BytesBigEndian() {
        var buffer = ByteBuffer(bytes: [UInt8](repeating: 0xAA, count: 16))
        PayloadTimestamp.stamp(0x0102_0304_0506_0708, into: &buffer, at: buffer.readerIndex)
        #expect(Array(buffer.readableBytesView.prefix(8)) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(Array(buffer.readableBytesView.suffix(8)) == [UInt8](repeating: 0xAA, count: 8))
        #expect(PayloadTimestamp.read(from: buffer) == 0x0102_0304_0506_0708)
        #expect(PayloadTimestamp.read(from: ByteBuffer(bytes: [1, 2, 3])) == nil)
    }

    @Test func randomizedPool_isRandomThenZeros_andSeeded() {
        var spec = WorkloadSpec(name: "p")
        spec.messageSize = 100
        spec.randomBytesRatio = 0.3
        spec.randomizedPayloadPoolSize = 5
        var generator = SeededGenerator(seed: 9)
        let pool = PayloadPool(spec: spec, generator: &generator)
        #expect(pool.payloads.count == 5)
        for payload in pool.payloads {
            #expect(payload.count == 100)
            #expect(payload[30...].allSatisfy { $0 == 0 })
            #expect(payload[..<30].contains { $0 != 0 })
        }
        #expect(Set(pool.payloads.map { $0[..<30].map { $0 } }).count == 5)
        var again = SeededGenerator(seed: 9)
        #expect(PayloadPool(spec: spec, generator: &again).payloads == pool.payloads)
    }

    @Test func filePool_usesThePayloadBytes_andStampsEachRecord() {
        var spec = WorkloadSpec(name: "p")
        spec.messageSize = 12
        spec.useRandomizedPayloads = false
        spec.payloadData = Array(0 ..< 12)
        var generator = SeededGenerator(seed: 1)
        let pool = PayloadPool(spec: spec, generator: &generator)
        #expect(pool.payloads == [Array(0 ..< 12)])
        var buffer = ByteBufferAllocator().buffer(capacity: 24)
        pool.write(payload: 0, intendedNanoseconds: 42, into: &buffer)
        pool.write(payload: 0, intendedNanoseconds: 43, into: &buffer)
        #expect(buffer.readableBytes == 24)
        #expect(buffer.getInteger(at: 0, as: UInt64.self) == 42)
        #expect(Array(buffer.getBytes(at: 8, length: 4) ?? []) == [8, 9, 10, 11])
        #expect(buffer.getInteger(at: 12, as: UInt64.self) == 43)
    }

    @Test func keyPool_holds10000Base64UrlKeysOf10Characters() {
        var generator = SeededGenerator(seed: 3)
        let keys = KeyPool(generator: &generator)
        #expect(keys.storage.readableBytes == 100_000)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var distinct = Set<[UInt8]>()
        for index in 0 ..< KeyPool.keyCount {
            let key = Array(keys.key(index).readableBytesView)
            #expect(key.count == 10)
            #expect(key.allSatisfy(alphabet.contains))
            distinct.insert(key)
        }
        #expect(distinct.count > 9_990)
        #expect(Array(keys.key(KeyPool.keyCount).readableBytesView) == Array(keys.key(0).readableBytesView))
    }

    @Test func keyChooser_followsOMB() {
        var generator = SeededGenerator(seed: 5)
        var none = KeyChooser(type: .noKey)
        #expect(none.next(using: &generator) == nil)
        var roundRobin = KeyChooser(type: .keyRoundRobin)
        #expect(roundRobin.next(using: &generator) == 1)
        #expect(roundRobin.next(using: &generator) == 2)
        for _ in 0 ..< 9_997 { _ = roundRobin.next(using: &generator) }
        #expect(roundRobin.next(using: &generator) == 0)
        var random = KeyChooser(type: .randomNano)
        let picks = (0 ..< 1000).compactMap { _ in random.next(using: &generator) }
        #expect(picks.count == 1000)
        #expect(picks.allSatisfy { (0 ..< KeyPool.keyCount).contains($0) })
        #expect(Set(picks).count > 900)
    }
}
