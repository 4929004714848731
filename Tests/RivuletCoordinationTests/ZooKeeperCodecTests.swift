import NIOCore
import RivuletCore
import Testing

@testable import RivuletCoordination

/// The Jute codec and the frame decoder, without any I/O: golden request bytes, reply decoding, and
/// hostile input (truncations at every offset, random bytes, absurd lengths) that must throw, never trap.
@Suite struct ZooKeeperCodecTests {
    typealias ZK = ZooKeeperProtocol

    private func hex(_ buffer: ByteBuffer) -> String {
        buffer.readableBytesView.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }

    private func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return result
    }

    static let stat = NodeStat(
        czxid: 0x0102, mzxid: 0x0304, ctimeMs: 1_700_000_000_000, mtimeMs: 1_700_000_000_500, version: 3, cversion: 4,
        aversion: 0, ephemeralOwner: 0x1234_5678, dataLength: 2, numChildren: 1, pzxid: 0x0506)

    // MARK: Golden requests

    @Test func connectRequest_matchesTheJuteLayout() {
        let frame = ZK.ConnectRequest(lastZxidSeen: 0x10, timeoutMs: 6000, sessionID: 0, password: Array(repeating: 0, count: 16)).frame()
        #expect(hex(frame) == "0000002d" + "00000000" + "0000000000000010" + "00001770" + "0000000000000000"
            + "00000010" + String(repeating: "00", count: 16) + "00")
    }

    @Test func create2Request_carriesOpenAclAndFlags() {
        let frame = ZK.Request.create(path: "/a", data: [1, 2], mode: .ephemeral).frame(xid: 1)
        let world = "776f726c64", anyone = "616e796f6e65"
        let body = "00000001" + "0000000f" + "00000002" + "2f61" + "00000002" + "0102"
            + "00000001" + "0000001f" + "00000005" + world + "00000006" + anyone + "00000001"
        #expect(hex(frame) == format8(body.count / 2) + body)
    }

    @Test func otherRequests_matchTheirRecords() {
        func framed(_ body: String) -> String { format8(body.count / 2) + body }
        let pathA = "00000002" + "2f61"
        #expect(hex(ZK.Request.delete(path: "/a", version: -1).frame(xid: 2)) == framed("00000002" + "00000002" + pathA + "ffffffff"))
        #expect(hex(ZK.Request.exists(path: "/a", watch: true).frame(xid: 3)) == framed("00000003" + "00000003" + pathA + "01"))
        #expect(hex(ZK.Request.getData(path: "/a", watch: false).frame(xid: 4)) == framed("00000004" + "00000004" + pathA + "00"))
        #expect(hex(ZK.Request.setData(path: "/a", data: [], version: 7).frame(xid: 5))
            == framed("00000005" + "00000005" + pathA + "00000000" + "00000007"))
        #expect(hex(ZK.Request.getChildren(path: "/", watch: true).frame(xid: 6)) == framed("00000006" + "0000000c" + "000000012f" + "01"))
        #expect(hex(ZK.Request.ping.frame(xid: -2)) == "00000008" + "fffffffe" + "0000000b")
        #expect(hex(ZK.Request.closeSession.frame(xid: 9)) == "00000008" + "00000009" + "fffffff5")
        #expect(hex(ZK.Request.setWatches(relativeZxid: 5, data: ["/d"], exists: [], children: ["/c"]).frame(xid: -8))
            == framed("fffffff8" + "00000065" + "0000000000000005" + "00000001000000022f64" + "00000000" + "00000001000000022f63"))
    }

    private func format8(_ value: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    @Test func setWatches_isSplitIntoChunks_keepingEveryPath() {
        let paths = (0..<5_000).map { "/brokers/topics/topic-\($0)/partitions" }
        let requests = ZK.Request.setWatchesChunked(relativeZxid: 9, data: paths, exists: ["/x"], children: paths)
        #expect(requests.count > 1)
        var data: [String] = [], exists: [String] = [], children: [String] = []
        for request in requests {
            guard case .setWatches(let zxid, let d, let e, let c) = request else {
                Issue.record("not a SetWatches request")
                continue
            }
            #expect(zxid == 9)
            #expect((d + e + c).reduce(0) { $0 + $1.utf8.count + 4 } <= ZK.setWatchesChunkBytesMax)
            data += d
            exists += e
            children += c
        }
        #expect(data == paths && exists == ["/x"] && children == paths)
        #expect(ZK.Request.setWatchesChunked(relativeZxid: 1, data: [], exists: [], children: []).isEmpty)
    }

    // MARK: Replies

    private func replyBody(for opCode: ZK.OpCode) -> ByteBuffer {
        var body = ByteBuffer()
        switch opCode {
        case .create2:
            body.writeJuteString("/a0000000001")
            body.writeJuteStat(Self.stat)
        case .exists, .setData:
            body.writeJuteStat(Self.stat)
        case .getData:
            body.writeJuteBuffer([0xCA, 0xFE])
            body.writeJuteStat(Self.stat)
        case .getChildren2:
            body.writeJuteStringVector(["b", "a"])
            body.writeJuteStat(Self.stat)
        case .delete, .ping, .closeSession, .setWatches:
            break
        }
        return body
    }

    @Test func replies_decodeForEveryOp() throws {
        var created = replyBody(for: .create2)
        #expect(try ZK.Response(decoding: &created, for: .create2) == .created(path: "/a0000000001", stat: Self.stat))
        var exists = replyBody(for: .exists)
        #expect(try ZK.Response(decoding: &exists, for: .exists) == .stat(Self.stat))
        var data = replyBody(for: .getData)
        #expect(try ZK.Response(decoding: &data, for: .getData) == .data([0xCA, 0xFE], Self.stat))
        var children = replyBody(for: .getChildren2)
        #expect(try ZK.Response(decoding: &children, for: .getChildren2) == .children(["b", "a"], Self.stat))
        var empty = ByteBuffer()
        #expect(try ZK.Response(decoding: &empty, for: .delete) == .empty)

        var header = ByteBuffer(bytes: bytes(hex: "00000007" + "0000000000000042" + "ffffff9b"))
        #expect(try ZK.ReplyHeader(decoding: &header) == ZK.ReplyHeader(xid: 7, zxid: 0x42, err: -101))

        var event = ByteBuffer(bytes: bytes(hex: "00000004" + "00000003" + "000000022f61"))
        #expect(try ZK.WatcherEvent(decoding: &event) == ZK.WatcherEvent(type: 4, state: 3, path: "/a"))

        let withReadOnly = ByteBuffer(bytes: bytes(hex: "00000000" + "00000258" + "0000000000000abc" + "00000002" + "0102" + "01"))
        let response = try ZK.ConnectResponse(decoding: withReadOnly)
        #expect(response.timeoutMs == 600 && response.sessionID == 0xABC && response.password == [1, 2] && response.readOnly)
        let withoutReadOnly = ByteBuffer(bytes: bytes(hex: "00000000" + "00000000" + "0000000000000000" + "ffffffff"))
        #expect(try ZK.ConnectResponse(decoding: withoutReadOnly).timeoutMs == 0)
    }

    @Test(arguments: [ZK.OpCode.create2, .exists, .getData, .setData, .getChildren2])
    func truncatedReplies_throwNamingTheField(opCode: ZK.OpCode) {
        let full = replyBody(for: opCode)
        for length in 0..<full.readableBytes {
            var truncated = full.getSlice(at: full.readerIndex, length: length) ?? ByteBuffer()
            #expect(throws: CoordinatorError.self, "truncated at \(length)") {
                _ = try ZK.Response(decoding: &truncated, for: opCode)
            }
        }
    }

    @Test func hostileLengths_throwWithoutAllocating() {
        var hugeVector = ByteBuffer(bytes: bytes(hex: "7fffffff"))
        #expect(throws: CoordinatorError.self) { _ = try hugeVector.readJuteStringVector("children") }
        var negativeVector = ByteBuffer(bytes: bytes(hex: "fffffff0"))
        #expect(throws: CoordinatorError.self) { _ = try negativeVector.readJuteStringVector("children") }
        var hugeBuffer = ByteBuffer(bytes: bytes(hex: "7fffffff00"))
        #expect(throws: CoordinatorError.self) { _ = try hugeBuffer.readJuteBuffer("data") }
        var negativeBuffer = ByteBuffer(bytes: bytes(hex: "fffffffe"))
        #expect(throws: CoordinatorError.self) { _ = try negativeBuffer.readJuteBuffer("data") }
        var null = ByteBuffer(bytes: bytes(hex: "ffffffff"))
        #expect((try? null.readJuteBuffer("data")) == [])
        var badUTF8 = ByteBuffer(bytes: bytes(hex: "00000002c328"))
        #expect(throws: CoordinatorError.malformedResponse(reason: "WatcherEvent.path is not valid UTF-8")) {
            _ = try badUTF8.readJuteString("WatcherEvent.path")
        }
    }

    @Test func randomBytes_neverTrap() {
        var generator = SeededGenerator(seed: 0x5EED)
        let ops: [ZK.OpCode] = [.create2, .exists, .getData, .setData, .getChildren2, .delete]
        var decoded = 0, rejected = 0
        for _ in 0..<3_000 {
            let length = Int.random(in: 0...160, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if length >= 4 && Bool.random(using: &generator) {
                // Small plausible lengths reach deeper into the records.
                bytes[0] = 0; bytes[1] = 0; bytes[2] = 0; bytes[3] = UInt8.random(in: 0...8, using: &generator)
            }
            let buffer = ByteBuffer(bytes: bytes)
            for op in ops {
                var copy = buffer
                do {
                    _ = try ZK.Response(decoding: &copy, for: op)
                    decoded += 1
                } catch {
                    rejected += 1
                }
            }
            var header = buffer
            _ = try? ZK.ReplyHeader(decoding: &header)
            var event = buffer
            _ = try? ZK.WatcherEvent(decoding: &event)
            _ = try? ZK.ConnectResponse(decoding: buffer)
            var frames = buffer
            while let frame = try? ZooKeeperFrameDecoder.nextFrame(from: &frames, frameBytesMax: 64) { _ = frame }
        }
        #expect(decoded > 0 && rejected > 0)
    }

    // MARK: Frames

    private func stream(of payloads: [[UInt8]]) -> [UInt8] {
        var buffer = ByteBuffer()
        for payload in payloads {
            buffer.writeJuteInt(Int32(payload.count))
            buffer.writeBytes(payload)
        }
        return Array(buffer.readableBytesView)
    }

    private func decodeAll(_ chunks: [[UInt8]], frameBytesMax: Int = 1024) throws -> [[UInt8]] {
        var accumulated = ByteBuffer()
        var frames: [[UInt8]] = []
        for chunk in chunks {
            accumulated.writeBytes(chunk)
            while let frame = try ZooKeeperFrameDecoder.nextFrame(from: &accumulated, frameBytesMax: frameBytesMax) {
                frames.append(Array(frame.readableBytesView))
            }
        }
        #expect(accumulated.readableBytes == 0)
        return frames
    }

    @Test func frames_decodeDripFedCoalescedAndSplitAtEveryOffset() throws {
        let payloads: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 0xAB, count: 300), [9]]
        let all = stream(of: payloads)
        #expect(try decodeAll([all]) == payloads)
        #expect(try decodeAll(all.map { [$0] }) == payloads)
        for split in 0...all.count {
            #expect(try decodeAll([Array(all[..<split]), Array(all[split...])]) == payloads, "split at \(split)")
        }
    }

    @Test func frames_withBadLengths_throwFrameTooLarge() {
        var negative = ByteBuffer(bytes: bytes(hex: "ffffffff00"))
        #expect(throws: CoordinatorError.frameTooLarge(bytes: -1, limitBytes: 16)) {
            _ = try ZooKeeperFrameDecoder.nextFrame(from: &negative, frameBytesMax: 16)
        }
        var large = ByteBuffer(bytes: bytes(hex: "00000011"))
        #expect(throws: CoordinatorError.frameTooLarge(bytes: 17, limitBytes: 16)) {
            _ = try ZooKeeperFrameDecoder.nextFrame(from: &large, frameBytesMax: 16)
        }
        var short = ByteBuffer(bytes: bytes(hex: "000000"))
        #expect((try? ZooKeeperFrameDecoder.nextFrame(from: &short, frameBytesMax: 16)) == .some(nil))
        #expect(short.readableBytes == 3)
    }
}
