// libFuzzer entry point for the broker's request path: the input is a byte stream as a client
// would send it. It is split into frames by `KafkaFrameReader` (with a 1 MiB limit), each frame goes
// through `KafkaRequestDecoder`, and the answer the server would write is built. Invariants (a
// violation is a crash, which libFuzzer reports with the input):
// - decoding never traps;
// - a decoded request re-encodes to bytes that decode to the same request;
// - every answer frame's size prefix matches its length.
// When the stream has no valid size prefix, the input is also tried as a single frame body.

import NIOCore
import RivuletTransport
import RivuletWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    serve(frame: input)
    var stream = input
    let reader = KafkaFrameReader(maxFrameBytes: 1 << 20)
    while let frame = try? reader.nextFrame(from: &stream) { serve(frame: frame) }
    return 0
}

private func serve(frame: ByteBuffer) {
    let answer: ByteBuffer
    switch try? KafkaRequestDecoder.decode(frame: frame) {
    case nil:
        return  // Unreadable header: the server closes the connection.
    case let .request(header, body)?:
        var encoded = ByteBuffer()
        body.encode(into: &encoded, version: header.apiVersion)
        let again = try? KafkaRequestBody.decode(apiKey: header.apiKey, version: header.apiVersion, from: &encoded)
        precondition(again == body, "\(body.apiKey.name) v\(header.apiVersion) does not re-encode stably")
        answer = KafkaResponseEncoder.frame(KafkaResponseEncoder.errorBody(for: body.apiKey, errorCode: 0),
                                            correlationId: header.correlationId, apiVersion: header.apiVersion)
    case let .malformedBody(header, api, _)?:
        answer = KafkaResponseEncoder.frame(KafkaResponseEncoder.errorBody(for: api, errorCode: KafkaErrorCode.invalidRequest.rawValue),
                                            correlationId: header.correlationId, apiVersion: header.apiVersion)
    case let .unsupportedApiVersionsVersion(header)?:
        answer = KafkaResponseEncoder.unsupportedApiVersionsFrame(correlationId: header.correlationId,
                                                                  apiKeys: ApiVersionsResponse.supportedApiKeys())
    case let .unsupportedVersion(header, _)?, let .unknownApiKey(header)?:
        answer = KafkaResponseEncoder.genericErrorFrame(correlationId: header.correlationId)
    }
    precondition(answer.getInteger(at: answer.readerIndex, as: Int32.self) == Int32(answer.readableBytes - 4),
                 "answer frame size prefix does not match its length")
}
