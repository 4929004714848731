/// Everything that can go wrong on the coordination seam, with ZooKeeper's error vocabulary.
///
/// Both backends throw these: the in-memory ensemble produces the same codes a ZooKeeper server
/// would, and the ZooKeeper client maps the server's error codes once, here, through
/// `init(zooKeeperCode:path:expectedVersion:)`. Paths in cases are the caller's paths (inside the
/// chroot, if any).
public enum CoordinatorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The node (for `create`: its parent) does not exist (`NONODE`, -101).
    /// Remedy: create the parents first (`createRecursively`) or treat as "already gone".
    case noNode(path: String)
    /// A node already exists at that path (`NODEEXISTS`, -110). Remedy: read it, or use a sequential mode.
    case nodeExists(path: String)
    /// The conditional version did not match the node's current version (`BADVERSION`, -103).
    /// Remedy: re-read the node and retry with its current `NodeStat.version`.
    case badVersion(path: String, expectedVersion: Int32)
    /// The node still has children and cannot be deleted (`NOTEMPTY`, -111). Remedy: `deleteRecursively`.
    case notEmpty(path: String)
    /// Ephemeral nodes cannot have children (`NOCHILDRENFOREPHEMERALS`, -108).
    case noChildrenForEphemerals(path: String)
    /// The server refused the arguments (`BADARGUMENTS`, -8), for example deleting `/` or `/zookeeper`.
    case badArguments(path: String, reason: String)
    /// The path breaks ZooKeeper's path rules; checked before anything is sent. `reason` says which rule.
    case invalidPath(path: String, reason: String)
    /// The node's data is larger than the coordination limit (`nodeDataBytesMax`). Remedy: store less.
    case dataTooLarge(path: String, bytes: Int, limitBytes: Int)
    /// The session has expired (`SESSIONEXPIRED`, -112): its ephemeral nodes and watches are gone.
    /// Remedy: open a new session and re-register (re-create ephemerals, re-set watches).
    case sessionExpired(sessionID: Int64)
    /// The session was closed by its owner; open a new one to continue.
    case sessionClosed(sessionID: Int64)
    /// The connection dropped while a request was in flight (`CONNECTIONLOSS`, -4); the request may or may
    /// not have been applied. The session itself may still be alive: re-read and retry.
    case connectionLoss(reason: String)
    /// The server did not answer in time (`OPERATIONTIMEOUT`, -7). Retry after re-reading.
    case operationTimeout
    /// No session could be established with any of the hosts within the connection timeout.
    case connectionFailed(hosts: String, reason: String)
    /// The server sent bytes that do not decode (`MARSHALLINGERROR`, -5 on the server side).
    /// The connection is dropped and re-established.
    case malformedResponse(reason: String)
    /// A frame announced a length above the limit or below zero; the connection is dropped.
    case frameTooLarge(bytes: Int, limitBytes: Int)
    /// The coordinator URL's scheme is not one of `supportedSchemes`.
    case unsupportedScheme(scheme: String, supportedSchemes: [String])
    /// The coordinator URL is malformed; `reason` says what is wrong.
    case invalidURL(url: String, reason: String)
    /// A subscriber of `events()` fell more than `limit` events behind; its stream ends with this error.
    /// Remedy: subscribe again and re-read the state you care about.
    case eventsOverflow(limit: Int)
    /// Any other ZooKeeper error code (for example `NOAUTH` -102, `UNIMPLEMENTED` -6).
    case server(code: Int32, path: String)

    /// Maps a ZooKeeper error code (`KeeperException.Code`) to a typed error for the request on `path`.
    /// Code 0 (OK) is not an error; callers never pass it.
    public init(zooKeeperCode code: Int32, path: String, expectedVersion: Int32 = -1, sessionID: Int64 = 0) {
        switch code {
        case -101: self = .noNode(path: path)
        case -110: self = .nodeExists(path: path)
        case -103: self = .badVersion(path: path, expectedVersion: expectedVersion)
        case -111: self = .notEmpty(path: path)
        case -108: self = .noChildrenForEphemerals(path: path)
        case -8: self = .badArguments(path: path, reason: "rejected by the server")
        case -112: self = .sessionExpired(sessionID: sessionID)
        case -4: self = .connectionLoss(reason: "reported by the server")
        case -7: self = .operationTimeout
        case -5: self = .malformedResponse(reason: "the server could not decode the request")
        default: self = .server(code: code, path: path)
        }
    }

    /// The ZooKeeper error code for this error, when ZooKeeper has one.
    public var zooKeeperCode: Int32? {
        switch self {
        case .noNode: -101
        case .nodeExists: -110
        case .badVersion: -103
        case .notEmpty: -111
        case .noChildrenForEphemerals: -108
        case .badArguments: -8
        case .sessionExpired: -112
        case .connectionLoss: -4
        case .operationTimeout: -7
        case .malformedResponse: -5
        case .server(let code, _): code
        case .invalidPath, .dataTooLarge, .sessionClosed, .connectionFailed, .frameTooLarge,
             .unsupportedScheme, .invalidURL, .eventsOverflow: nil
        }
    }

    public var description: String {
        switch self {
        case .noNode(let path): "no node at \(path)"
        case .nodeExists(let path): "node already exists at \(path)"
        case .badVersion(let path, let expected): "version of \(path) is not \(expected)"
        case .notEmpty(let path): "\(path) has children"
        case .noChildrenForEphemerals(let path): "cannot create \(path): its parent is ephemeral"
        case .badArguments(let path, let reason): "bad arguments for \(path): \(reason)"
        case .invalidPath(let path, let reason): "invalid path \"\(path)\": \(reason)"
        case .dataTooLarge(let path, let bytes, let limit): "data for \(path) is \(bytes) bytes, limit \(limit)"
        case .sessionExpired(let id): "session 0x\(String(UInt64(bitPattern: id), radix: 16)) expired"
        case .sessionClosed(let id): "session 0x\(String(UInt64(bitPattern: id), radix: 16)) is closed"
        case .connectionLoss(let reason): "connection lost: \(reason)"
        case .operationTimeout: "operation timed out"
        case .connectionFailed(let hosts, let reason): "could not connect to \(hosts): \(reason)"
        case .malformedResponse(let reason): "malformed response: \(reason)"
        case .frameTooLarge(let bytes, let limit): "frame of \(bytes) bytes exceeds the limit of \(limit)"
        case .unsupportedScheme(let scheme, let supported):
            "unsupported coordinator scheme \"\(scheme)\"; supported: \(supported.map { "\($0)://" }.joined(separator: ", "))"
        case .invalidURL(let url, let reason): "invalid coordinator URL \"\(url)\": \(reason)"
        case .eventsOverflow(let limit): "event subscriber fell more than \(limit) events behind"
        case .server(let code, let path): "ZooKeeper error \(code) for \(path)"
        }
    }
}
