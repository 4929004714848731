import RivuletWire

/// The APIs and versions the broker itself answers, all of them handled in every listed version.
///
/// The ranges are Kafka's full `validVersions` (deprecated low versions included: librdkafka 2.0.2
/// enables features only when, for example, Produce 3 and Fetch 4 are advertised). Record data is
/// always record batch v2: Produce v0-2 with magic 0/1 message sets is answered with
/// UNSUPPORTED_FOR_MESSAGE_FORMAT, and Fetch v0-3 returns v2 batches (no down-conversion).
/// Group APIs come from a `GroupCoordinatorService` when the broker has one.
public enum SupportedApiVersions {
    /// The broker's own APIs and version ranges.
    public static let broker: [ApiKey: ClosedRange<Int16>] = [
        .produce: 0 ... 11,
        .fetch: 0 ... 17,
        .listOffsets: 0 ... 10,
        .metadata: 0 ... 12,
        .findCoordinator: 0 ... 6,
        .apiVersions: 0 ... 4,
        .createTopics: 0 ... 7,
        .deleteTopics: 0 ... 6,
        .deleteRecords: 0 ... 2,
        .initProducerId: 0 ... 5,
        .offsetForLeaderEpoch: 0 ... 4,
        .describeConfigs: 0 ... 4,
        .alterConfigs: 0 ... 2,
        .createPartitions: 0 ... 3,
        .describeCluster: 0 ... 1,
    ]

    /// The ApiVersions table for `ranges`, sorted by API key.
    public static func table(_ ranges: [ApiKey: ClosedRange<Int16>]) -> [ApiVersionsResponse.ApiVersion] {
        ranges.sorted { $0.key.rawValue < $1.key.rawValue }.map { api, range in
            ApiVersionsResponse.ApiVersion(apiKey: api.rawValue, minVersion: range.lowerBound, maxVersion: range.upperBound)
        }
    }
}
