import RivuletBroker

extension EmbeddedCluster.Configuration {
    /// Applies a spec's cluster settings: `coordinator` (a private in-memory ensemble by default),
    /// `brokerSessionTimeoutMs` (`zookeeper.session.timeout.ms`, how soon a dead broker's partitions move)
    /// `replicaLagTimeMaxMs` (`replica.lag.time.max.ms`) and `replicaFetchBackoffMs`, `replicaFetchWaitMaxMs`.
    mutating func applyFailoverSettings(of spec: WorkloadSpec) {
        sessionTimeoutMs = spec.brokerSessionTimeoutMs
        switch spec.coordinator {
        case .memory: coordinator = .automatic
        case .url(let url): coordinator = .url(url)
        }
        let lagMs = Int64(spec.replicaLagTimeMaxMs)
        let fetchBackoffMs = Int64(spec.replicaFetchBackoffMs)
        let fetchWaitMaxMs = Int64(spec.replicaFetchWaitMaxMs)
        let previous = customize
        customize = { config in
            previous(&config)
            config.replicaLagTimeMaxMs = lagMs
            config.replicaFetchBackoffMs = fetchBackoffMs
            config.replicaFetchWaitMaxMs = fetchWaitMaxMs
        }
    }
}
