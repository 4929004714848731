import NIOCore
import RivuletWire

/// One request frame as the server understood it. Every case but `.request` is answered by the
/// transport itself (an error response); only a frame whose header cannot be read closes the
/// connection (`KafkaRequestDecoder.decode` throws then).
public enum DecodedKafkaRequest: Sendable {
    /// A request this broker can hand to its `KafkaRequestHandler`.
    case request(RequestHeader, KafkaRequestBody)
    /// The header parsed but the body did not: answered with INVALID_REQUEST in the request's API
    /// and version.
    case malformedBody(RequestHeader, ApiKey, WireError)
    /// An ApiVersions request at a version this broker does not know (a newer client): answered,
    /// as Kafka does, with a v0 body carrying UNSUPPORTED_VERSION and the supported ranges.
    case unsupportedApiVersionsVersion(RequestHeader)
    /// A known API at a version outside its range (not ApiVersions): answered with the generic error
    /// frame (see `KafkaResponseEncoder.genericErrorFrame`).
    case unsupportedVersion(RequestHeader, ApiKey)
    /// An API key this broker does not know: answered with the generic error frame.
    case unknownApiKey(RequestHeader)

    /// The request header, whatever the case.
    public var header: RequestHeader {
        switch self {
        case let .request(header, _), let .malformedBody(header, _, _), let .unsupportedApiVersionsVersion(header),
             let .unsupportedVersion(header, _), let .unknownApiKey(header):
            header
        }
    }
}

/// Turns one request frame (the bytes after the size prefix) into a typed request. Pure: no I/O, no
/// traps on any input (fuzzed by the tests and by `Fuzz/`).
public enum KafkaRequestDecoder {
    /// Decodes `frame`.
    ///
    /// - Throws: the `WireError` of the header field that could not be read; the connection must
    ///   close then, because no correlation id is known to answer with.
    public static func decode(frame: ByteBuffer) throws(WireError) -> DecodedKafkaRequest {
        var buffer = frame
        let header: RequestHeader
        do {
            header = try RequestHeader.decode(from: &buffer)
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError.invalidValue(field: "RequestHeader", reason: "\(error)")
        }
        guard let api = header.api else { return .unknownApiKey(header) }
        guard api.validVersions.contains(header.apiVersion) else {
            if api == .apiVersions, header.apiVersion > api.validVersions.upperBound {
                return .unsupportedApiVersionsVersion(header)
            }
            return .unsupportedVersion(header, api)
        }
        do {
            let body = try KafkaRequestBody.decode(apiKey: header.apiKey, version: header.apiVersion, from: &buffer)
            return .request(header, body)
        } catch let error as WireError {
            return .malformedBody(header, api, error)
        } catch {
            return .malformedBody(header, api, .invalidValue(field: "\(api.name) body", reason: "\(error)"))
        }
    }
}
