import RivuletWire

extension Broker {
    /// ApiVersions: the table of every API and version range this broker handles. A version newer
    /// than 4 gets Kafka's fallback answer (UNSUPPORTED_VERSION with the table; the transport writes it
    /// as v0), after which clients retry with a version both know. v3+ client software names and
    /// versions must match Kafka's pattern, else INVALID_REQUEST. No tagged fields are written
    /// (librdkafka 2.0.2 misparses non-empty tag sections).
    func handleApiVersions(_ request: ApiVersionsRequest, version: Int16) -> ApiVersionsResponse {
        guard ApiKey.apiVersions.validVersions.contains(version), supportedVersions[.apiVersions]?.contains(version) ?? false else {
            return ApiVersionsResponse.unsupportedVersionAnswer(apiKeys: apiVersionsTable)
        }
        if version >= 3,
           !Self.isValidClientSoftware(request.clientSoftwareName) || !Self.isValidClientSoftware(request.clientSoftwareVersion) {
            return ApiVersionsResponse(errorCode: KafkaErrorCode.invalidRequest.rawValue, apiKeys: [], throttleTimeMs: 0)
        }
        return ApiVersionsResponse(errorCode: 0, apiKeys: apiVersionsTable, throttleTimeMs: 0)
    }

    /// Kafka's pattern for client software names and versions: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
    static func isValidClientSoftware(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
        }
        guard isAlphanumeric(first), isAlphanumeric(last) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }
}
