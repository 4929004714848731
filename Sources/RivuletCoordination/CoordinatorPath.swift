/// ZooKeeper's path rules and the path arithmetic both backends share.
///
/// A valid path is absolute, has no empty, `.` or `..` components, no trailing slash (except `/`), and no
/// control, surrogate, private-use or non-BMP characters (`org.apache.zookeeper.common.PathUtils`).
public enum CoordinatorPath {
    /// Throws `CoordinatorError.invalidPath` naming the broken rule. For sequential creates a trailing
    /// slash is allowed, since the sequence number completes the last name (ZooKeeper's rule).
    public static func validate(_ path: String, sequential: Bool = false) throws(CoordinatorError) {
        if let reason = violation(in: sequential ? path + "1" : path) {
            throw .invalidPath(path: path, reason: reason)
        }
    }

    /// The rule `path` breaks, or `nil` if it is valid.
    static func violation(in path: String) -> String? {
        let scalars = Array(path.unicodeScalars)
        guard let first = scalars.first else { return "path length must be > 0" }
        guard first == "/" else { return "path must start with / character" }
        if scalars.count == 1 { return nil }
        if scalars.last == "/" { return "path must not end with / character" }
        var previous: Unicode.Scalar = "/"
        for index in 1..<scalars.count {
            let scalar = scalars[index]
            let value = scalar.value
            if value == 0 { return "null character not allowed @\(index)" }
            if scalar == "/" && previous == "/" { return "empty node name specified @\(index)" }
            if scalar == "." && previous == "." {
                let before = index >= 2 ? scalars[index - 2] : "/"
                let after: Unicode.Scalar = index + 1 < scalars.count ? scalars[index + 1] : "/"
                if before == "/" && after == "/" { return "relative paths not allowed @\(index)" }
            } else if scalar == "." {
                let after: Unicode.Scalar = index + 1 < scalars.count ? scalars[index + 1] : "/"
                if previous == "/" && after == "/" { return "relative paths not allowed @\(index)" }
            } else if (value > 0x00 && value <= 0x1F) || (value > 0x7F && value <= 0x9F)
                || (value > 0xD800 && value <= 0xF8FF) || (value > 0xFFF0 && value <= 0xFFFF) || value > 0xFFFF
            {
                // Java compares UTF-16 units with these exact bounds; non-BMP characters are surrogate
                // pairs there and always fail, so they fail here too.
                return "invalid character @\(index)"
            }
            previous = scalar
        }
        return nil
    }

    /// The parent of a valid path (`/` for top-level nodes); `nil` for `/` itself.
    public static func parent(of path: String) -> String? {
        guard path != "/", let slash = path.lastIndex(of: "/") else { return nil }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The last name of a valid path (empty for `/`).
    public static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// `parent` joined with a child `name`.
    public static func join(_ parent: String, _ name: String) -> String {
        parent == "/" ? "/" + name : parent + "/" + name
    }

    /// The ancestors of a valid path, outermost first, excluding `/` and the path itself.
    public static func ancestors(of path: String) -> [String] {
        var result: [String] = []
        var current = parent(of: path)
        while let node = current, node != "/" {
            result.append(node)
            current = parent(of: node)
        }
        return result.reversed()
    }

    /// The suffix a sequential create appends: the parent's `cversion`, formatted like Java's `%010d`.
    static func sequenceSuffix(_ counter: Int32) -> String {
        let digits = String(counter.magnitude)
        if counter < 0 {
            return "-" + String(repeating: "0", count: max(0, 9 - digits.count)) + digits
        }
        return String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    }
}

/// Translates between the caller's paths and the ensemble's paths under an optional chroot
/// (ZooKeeper's `host:port/chroot` connect strings).
struct Chroot: Sendable, Hashable {
    /// The prefix, a valid path other than `/`; `nil` for no chroot.
    let prefix: String?

    /// `path` is validated by the caller; `/` or empty means no chroot.
    init(_ path: String?) {
        if let path, !path.isEmpty, path != "/" { prefix = path } else { prefix = nil }
    }

    /// The ensemble's path for a caller's path.
    func serverPath(_ clientPath: String) -> String {
        guard let prefix else { return clientPath }
        return clientPath == "/" ? prefix : prefix + clientPath
    }

    /// The caller's path for an ensemble path; `nil` when it lies outside the chroot.
    func clientPath(_ serverPath: String) -> String? {
        guard let prefix else { return serverPath }
        if serverPath == prefix { return "/" }
        guard serverPath.hasPrefix(prefix + "/") else { return nil }
        return String(serverPath.dropFirst(prefix.count))
    }
}
