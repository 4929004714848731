import NIOCore

/// ZooKeeper's client protocol records (`zookeeper.jute`), encoded and decoded with Jute. No I/O here:
/// requests become frames, frames become replies, and bad bytes throw `CoordinatorError`.
enum ZooKeeperProtocol {
    /// `ZooDefs.OpCode` values for the operations this client sends.
    enum OpCode: Int32, Sendable {
        case delete = 2
        case exists = 3
        case getData = 4
        case setData = 5
        case ping = 11
        case getChildren2 = 12
        case create2 = 15
        case setWatches = 101
        case closeSession = -11
    }

    /// Reserved xids: notifications, ping replies and SetWatches replies are not correlated to requests.
    enum Xid {
        static let notification: Int32 = -1
        static let ping: Int32 = -2
        static let setWatches: Int32 = -8
    }

    /// ZooKeeper's `KeeperState` values that a notification may carry.
    enum KeeperState {
        static let syncConnected: Int32 = 3
        static let expired: Int32 = -112
    }

    /// `ZooDefs.Perms.ALL` for the `world:anyone` ACL every node gets (`OPEN_ACL_UNSAFE`).
    static let permissionsAll: Int32 = 31

    /// The length of a session password (`ConnectResponse.passwd`).
    static let passwordBytes = 16

    /// ZooKeeper's `jute.maxbuffer` default on the server: larger requests make it drop the connection.
    static let serverRequestBytesMax = 0xFFFFF

    /// A SetWatches request is split into frames of at most this many path bytes (as the Java client does).
    static let setWatchesChunkBytesMax = 128 * 1024

    // MARK: Session handshake

    struct ConnectRequest: Sendable, Equatable {
        var protocolVersion: Int32 = 0
        var lastZxidSeen: Int64
        var timeoutMs: Int32
        var sessionID: Int64
        var password: [UInt8]
        var readOnly: Bool = false

        /// The request as a length-prefixed frame.
        func frame(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
            var buffer = allocator.buffer(capacity: 48)
            buffer.writeJuteInt(0)  // length, patched below
            buffer.writeJuteInt(protocolVersion)
            buffer.writeJuteLong(lastZxidSeen)
            buffer.writeJuteInt(timeoutMs)
            buffer.writeJuteLong(sessionID)
            buffer.writeJuteBuffer(password)
            buffer.writeJuteBool(readOnly)
            buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex, endianness: .big)
            return buffer
        }
    }

    struct ConnectResponse: Sendable, Equatable {
        var protocolVersion: Int32
        /// The negotiated timeout; 0 or less means the session is expired (or unknown, or the password
        /// did not match).
        var timeoutMs: Int32
        var sessionID: Int64
        var password: [UInt8]
        var readOnly: Bool

        /// Decodes the payload of the first frame a server sends. `readOnly` is optional (older servers).
        init(decoding frame: ByteBuffer) throws(CoordinatorError) {
            var buffer = frame
            protocolVersion = try buffer.readJuteInt("ConnectResponse.protocolVersion")
            timeoutMs = try buffer.readJuteInt("ConnectResponse.timeOut")
            sessionID = try buffer.readJuteLong("ConnectResponse.sessionId")
            password = try buffer.readJuteBuffer("ConnectResponse.passwd")
            readOnly = buffer.readableBytes > 0 ? try buffer.readJuteBool("ConnectResponse.readOnly") : false
        }
    }

    // MARK: Requests

    /// One request, with the fields of its Jute record. Paths are the server's (chroot applied).
    enum Request: Sendable, Equatable {
        case create(path: String, data: [UInt8], mode: CreateMode)
        case delete(path: String, version: Int32)
        case exists(path: String, watch: Bool)
        case getData(path: String, watch: Bool)
        case setData(path: String, data: [UInt8], version: Int32)
        case getChildren(path: String, watch: Bool)
        case setWatches(relativeZxid: Int64, data: [String], exists: [String], children: [String])
        case ping
        case closeSession

        var opCode: OpCode {
            switch self {
            case .create: .create2
            case .delete: .delete
            case .exists: .exists
            case .getData: .getData
            case .setData: .setData
            case .getChildren: .getChildren2
            case .setWatches: .setWatches
            case .ping: .ping
            case .closeSession: .closeSession
            }
        }

        /// The request as a length-prefixed frame: `RequestHeader(xid, type)` then the record.
        func frame(xid: Int32, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
            var buffer = allocator.buffer(capacity: 64)
            buffer.writeJuteInt(0)  // length, patched below
            buffer.writeJuteInt(xid)
            buffer.writeJuteInt(opCode.rawValue)
            switch self {
            case .create(let path, let data, let mode):
                buffer.writeJuteString(path)
                buffer.writeJuteBuffer(data)
                buffer.writeJuteInt(1)  // acl vector: world:anyone, all permissions
                buffer.writeJuteInt(ZooKeeperProtocol.permissionsAll)
                buffer.writeJuteString("world")
                buffer.writeJuteString("anyone")
                buffer.writeJuteInt(mode.rawValue)
            case .delete(let path, let version):
                buffer.writeJuteString(path)
                buffer.writeJuteInt(version)
            case .exists(let path, let watch), .getData(let path, let watch), .getChildren(let path, let watch):
                buffer.writeJuteString(path)
                buffer.writeJuteBool(watch)
            case .setData(let path, let data, let version):
                buffer.writeJuteString(path)
                buffer.writeJuteBuffer(data)
                buffer.writeJuteInt(version)
            case .setWatches(let relativeZxid, let data, let exists, let children):
                buffer.writeJuteLong(relativeZxid)
                buffer.writeJuteStringVector(data)
                buffer.writeJuteStringVector(exists)
                buffer.writeJuteStringVector(children)
            case .ping, .closeSession:
                break
            }
            buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex, endianness: .big)
            return buffer
        }

        /// SetWatches requests for the given paths, split so each carries at most
        /// `setWatchesChunkBytesMax` path bytes. Empty when there is nothing to re-register.
        static func setWatchesChunked(
            relativeZxid: Int64, data: [String], exists: [String], children: [String]
        ) -> [Request] {
            var requests: [Request] = []
            var chunk: ([String], [String], [String]) = ([], [], [])
            var chunkBytes = 0
            func flush() {
                if !chunk.0.isEmpty || !chunk.1.isEmpty || !chunk.2.isEmpty {
                    requests.append(.setWatches(relativeZxid: relativeZxid, data: chunk.0, exists: chunk.1, children: chunk.2))
                }
                chunk = ([], [], [])
                chunkBytes = 0
            }
            for (table, paths) in [(0, data), (1, exists), (2, children)] {
                for path in paths {
                    if chunkBytes + path.utf8.count + 4 > setWatchesChunkBytesMax { flush() }
                    switch table {
                    case 0: chunk.0.append(path)
                    case 1: chunk.1.append(path)
                    default: chunk.2.append(path)
                    }
                    chunkBytes += path.utf8.count + 4
                }
            }
            flush()
            return requests
        }
    }

    // MARK: Replies

    /// `ReplyHeader`: the request's xid (or a reserved one), the zxid the server had reached, the error
    /// code (0 for success).
    struct ReplyHeader: Sendable, Equatable {
        var xid: Int32
        var zxid: Int64
        var err: Int32

        init(xid: Int32, zxid: Int64, err: Int32) {
            self.xid = xid
            self.zxid = zxid
            self.err = err
        }

        init(decoding buffer: inout ByteBuffer) throws(CoordinatorError) {
            xid = try buffer.readJuteInt("ReplyHeader.xid")
            zxid = try buffer.readJuteLong("ReplyHeader.zxid")
            err = try buffer.readJuteInt("ReplyHeader.err")
        }
    }

    /// A decoded successful reply body.
    enum Response: Sendable, Equatable {
        case created(path: String, stat: NodeStat)
        case stat(NodeStat)
        case data([UInt8], NodeStat)
        case children([String], NodeStat)
        case empty

        /// Decodes the record that follows a successful `ReplyHeader` for `opCode`.
        init(decoding buffer: inout ByteBuffer, for opCode: OpCode) throws(CoordinatorError) {
            switch opCode {
            case .create2:
                let path = try buffer.readJuteString("Create2Response.path")
                self = .created(path: path, stat: try buffer.readJuteStat("Create2Response"))
            case .exists:
                self = .stat(try buffer.readJuteStat("ExistsResponse"))
            case .setData:
                self = .stat(try buffer.readJuteStat("SetDataResponse"))
            case .getData:
                let data = try buffer.readJuteBuffer("GetDataResponse.data")
                self = .data(data, try buffer.readJuteStat("GetDataResponse"))
            case .getChildren2:
                let children = try buffer.readJuteStringVector("GetChildren2Response.children")
                self = .children(children, try buffer.readJuteStat("GetChildren2Response"))
            case .delete, .ping, .closeSession, .setWatches:
                self = .empty
            }
        }
    }

    /// `WatcherEvent`, the body of a notification (xid -1).
    struct WatcherEvent: Sendable, Equatable {
        var type: Int32
        var state: Int32
        var path: String

        init(type: Int32, state: Int32, path: String) {
            self.type = type
            self.state = state
            self.path = path
        }

        init(decoding buffer: inout ByteBuffer) throws(CoordinatorError) {
            type = try buffer.readJuteInt("WatcherEvent.type")
            state = try buffer.readJuteInt("WatcherEvent.state")
            path = try buffer.readJuteString("WatcherEvent.path")
        }
    }
}
