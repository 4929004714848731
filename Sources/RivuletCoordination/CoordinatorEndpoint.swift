/// Where a coordinator lives, parsed from a URL:
///
/// - `memory://` or `memory://NAME[/CHROOT]`: a session on the process-wide `InMemoryEnsemble` named
///   NAME (`default` when empty), so every broker of an in-process cluster given the same URL shares it.
/// - `zk://HOST:PORT[,HOST:PORT...][/CHROOT]`: a ZooKeeper ensemble (port 2181 when omitted; IPv6 hosts
///   in brackets). CHROOT, as in ZooKeeper's connect strings, makes every path relative to that node.
public enum CoordinatorEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A named in-process ensemble.
    case memory(name: String, chroot: String?)
    /// A ZooKeeper ensemble.
    case zooKeeper(hosts: [CoordinatorHost], chroot: String?)

    /// The URL schemes `init(parsing:)` accepts.
    public static let supportedSchemes = ["memory", "zk"]

    /// Parses a coordinator URL. Throws `unsupportedScheme` (listing the supported ones) for another
    /// scheme, and `invalidURL`/`invalidPath` for a malformed host list or chroot.
    public init(parsing url: String) throws(CoordinatorError) {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else {
            throw .invalidURL(url: url, reason: "expected scheme://..., for example memory:// or zk://127.0.0.1:2181")
        }
        let scheme = url[..<colon].lowercased()
        let rest = url[url.index(colon, offsetBy: 3)...]
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var chroot: String?
        if !path.isEmpty && path != "/" {
            try CoordinatorPath.validate(String(path))
            chroot = String(path)
        }
        if authority.contains("?") || authority.contains("#") || path.contains("?") || path.contains("#") {
            throw .invalidURL(url: url, reason: "query strings and fragments are not supported")
        }
        switch scheme {
        case "memory":
            self = .memory(name: authority.isEmpty ? "default" : String(authority), chroot: chroot)
        case "zk":
            let hosts = try authority.split(separator: ",", omittingEmptySubsequences: false).map {
                (text: Substring) throws(CoordinatorError) -> CoordinatorHost in
                try CoordinatorHost(parsing: text, url: url)
            }
            guard !authority.isEmpty, !hosts.isEmpty else {
                throw .invalidURL(url: url, reason: "no hosts; expected zk://host:port[,host:port][/chroot]")
            }
            self = .zooKeeper(hosts: hosts, chroot: chroot)
        default:
            throw .unsupportedScheme(scheme: scheme, supportedSchemes: Self.supportedSchemes)
        }
    }

    public var description: String {
        switch self {
        case .memory(let name, let chroot): "memory://\(name)\(chroot ?? "")"
        case .zooKeeper(let hosts, let chroot): "zk://\(hosts.map(\.description).joined(separator: ","))\(chroot ?? "")"
        }
    }
}
