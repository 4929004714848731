/// A session's registered watches, keyed by the caller's path, in ZooKeeper's three client tables.
///
/// A ZooKeeper server notifies a session once per path and trigger; the client then decides which of
/// its watch objects that notification fires (`ZKWatchManager.materialize`). Both backends use this table
/// so they fire exactly the same watches. Not thread-safe: lives inside its owner's lock.
struct ClientWatchTable: Sendable {
    private(set) var data: [String: [Watch]] = [:]
    private(set) var exists: [String: [Watch]] = [:]
    private(set) var children: [String: [Watch]] = [:]

    var isEmpty: Bool { data.isEmpty && exists.isEmpty && children.isEmpty }

    /// Registers and returns a new watch on `path`.
    mutating func add(_ kind: WatchKind, path: String) -> Watch {
        let watch = Watch(path: path, kind: kind)
        switch kind {
        case .data: data[path, default: []].append(watch)
        case .exists: exists[path, default: []].append(watch)
        case .children: children[path, default: []].append(watch)
        }
        return watch
    }

    /// Removes and returns the watches that `event` fires, in registration order.
    mutating func materialize(_ event: WatchedEvent) -> [Watch] {
        var fired: [Watch] = []
        switch event.type {
        case .nodeCreated, .nodeDataChanged:
            fired += data.removeValue(forKey: event.path) ?? []
            fired += exists.removeValue(forKey: event.path) ?? []
        case .nodeDeleted:
            fired += data.removeValue(forKey: event.path) ?? []
            fired += exists.removeValue(forKey: event.path) ?? []
            fired += children.removeValue(forKey: event.path) ?? []
        case .nodeChildrenChanged:
            fired += children.removeValue(forKey: event.path) ?? []
        }
        return fired
    }

    /// Removes and returns every watch (the session ended).
    mutating func removeAll() -> [Watch] {
        defer {
            data.removeAll()
            exists.removeAll()
            children.removeAll()
        }
        return data.values.flatMap { $0 } + exists.values.flatMap { $0 } + children.values.flatMap { $0 }
    }

    /// The watched paths of each table, sorted, for re-registering after a reconnect (`SetWatches`).
    var paths: (data: [String], exists: [String], children: [String]) {
        (data.keys.sorted(), exists.keys.sorted(), children.keys.sorted())
    }
}
