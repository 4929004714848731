// Hand-written helpers for building a broker's ApiVersions answer.

extension ApiVersionsResponse {
    /// The ApiVersions table for every API Rivulet implements: each API's full `validVersions`,
    /// deprecated low versions included (librdkafka 2.0.2 enables features only when, for example,
    /// Produce 3 and Fetch 4 are advertised). Like a stock Kafka broker, it leaves out an API's
    /// latest version when Kafka marks it unstable, unless `includingUnstable` is true.
    public static func supportedApiKeys(includingUnstable: Bool = false) -> [ApiVersion] {
        ApiKey.allCases.compactMap { api in
            var maxVersion = api.validVersions.upperBound
            if api.latestVersionUnstable && !includingUnstable { maxVersion -= 1 }
            guard maxVersion >= api.validVersions.lowerBound else { return nil }
            return ApiVersion(apiKey: api.rawValue, minVersion: api.validVersions.lowerBound, maxVersion: maxVersion)
        }
    }

    /// The answer Kafka gives an ApiVersions request whose version it does not support (a newer
    /// client): error 35 (UNSUPPORTED_VERSION) with the full table. Write it as **version 0** with
    /// response header version 0, whatever version the request had; the client then retries with
    /// a version both sides know.
    public static func unsupportedVersionAnswer(apiKeys: [ApiVersion] = supportedApiKeys()) -> ApiVersionsResponse {
        ApiVersionsResponse(errorCode: KafkaErrorCode.unsupportedVersion.rawValue, apiKeys: apiKeys)
    }
}
