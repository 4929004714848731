/// One server address of an ensemble, as written in a connect string (`host:port`, `[v6]:port`).
public struct CoordinatorHost: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address (without brackets for IPv6).
    public var host: String
    /// TCP port.
    public var port: Int

    /// A server at `host`:`port`.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// ZooKeeper's default client port.
    public static let defaultPort = 2181

    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port` (port 2181 when omitted). Throws
    /// `CoordinatorError.invalidURL` naming `url` when the text is not a host and port.
    public init(parsing text: Substring, url: String) throws(CoordinatorError) {
        var hostPart = text
        var portPart: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw .invalidURL(url: url, reason: "unclosed [ in host \"\(text)\"")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw .invalidURL(url: url, reason: "unexpected \"\(rest)\" after host") }
                portPart = rest.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw .invalidURL(url: url, reason: "empty host in \"\(text)\"") }
        var port = Self.defaultPort
        if let portPart {
            guard let parsed = Int(portPart), (1...65535).contains(parsed) else {
                throw .invalidURL(url: url, reason: "port \"\(portPart)\" is not a number from 1 to 65535")
            }
            port = parsed
        }
        self.host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
