import NIOCore

/// Jute, ZooKeeper's record encoding: big-endian `int` (4 bytes) and `long` (8), one-byte `boolean`,
/// `buffer` and `ustring` as an `int` length (-1 for null) then bytes, `vector` as an `int` count (-1 for
/// null) then elements. Reads never trap: short or inconsistent input throws
/// `CoordinatorError.malformedResponse` naming the record and field.
extension ByteBuffer {
    mutating func writeJuteInt(_ value: Int32) {
        writeInteger(value, endianness: .big)
    }

    mutating func writeJuteLong(_ value: Int64) {
        writeInteger(value, endianness: .big)
    }

    mutating func writeJuteBool(_ value: Bool) {
        writeInteger(value ? 1 : 0, as: UInt8.self)
    }

    mutating func writeJuteBuffer(_ bytes: [UInt8]) {
        writeJuteInt(Int32(clamping: bytes.count))
        writeBytes(bytes)
    }

    mutating func writeJuteString(_ string: String) {
        let lengthIndex = writerIndex
        writeJuteInt(0)
        let written = writeString(string)
        setInteger(Int32(clamping: written), at: lengthIndex, endianness: .big)
    }

    mutating func writeJuteStringVector(_ strings: [String]) {
        writeJuteInt(Int32(clamping: strings.count))
        for string in strings { writeJuteString(string) }
    }

    mutating func readJuteInt(_ field: @autoclosure () -> String) throws(CoordinatorError) -> Int32 {
        guard let value = readInteger(endianness: .big, as: Int32.self) else {
            throw .malformedResponse(reason: "truncated int \(field())")
        }
        return value
    }

    mutating func readJuteLong(_ field: @autoclosure () -> String) throws(CoordinatorError) -> Int64 {
        guard let value = readInteger(endianness: .big, as: Int64.self) else {
            throw .malformedResponse(reason: "truncated long \(field())")
        }
        return value
    }

    mutating func readJuteBool(_ field: @autoclosure () -> String) throws(CoordinatorError) -> Bool {
        guard let value = readInteger(as: UInt8.self) else {
            throw .malformedResponse(reason: "truncated boolean \(field())")
        }
        return value != 0
    }

    /// A `buffer`; null (-1) reads as empty.
    mutating func readJuteBuffer(_ field: @autoclosure () -> String) throws(CoordinatorError) -> [UInt8] {
        let length = try readJuteInt(field())
        if length == -1 { return [] }
        guard length >= 0, Int(length) <= readableBytes, let bytes = readBytes(length: Int(length)) else {
            throw .malformedResponse(reason: "\(field()) announces \(length) bytes, \(readableBytes) remain")
        }
        return bytes
    }

    /// A `ustring`, which must be valid UTF-8; null (-1) reads as empty.
    mutating func readJuteString(_ field: @autoclosure () -> String) throws(CoordinatorError) -> String {
        let bytes = try readJuteBuffer(field())
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw .malformedResponse(reason: "\(field()) is not valid UTF-8")
        }
        return string
    }

    /// A `vector<ustring>`; null (-1) reads as empty. The count is checked against the bytes left (each
    /// element takes at least 4), so a hostile count cannot make it allocate.
    mutating func readJuteStringVector(_ field: @autoclosure () -> String) throws(CoordinatorError) -> [String] {
        let count = try readJuteInt(field())
        if count == -1 { return [] }
        guard count >= 0, Int(count) <= readableBytes / 4 else {
            throw .malformedResponse(reason: "\(field()) announces \(count) elements, \(readableBytes) bytes remain")
        }
        var strings: [String] = []
        strings.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            strings.append(try readJuteString("\(field())[\(index)]"))
        }
        return strings
    }

    /// A `Stat` record (68 bytes).
    mutating func readJuteStat(_ record: String) throws(CoordinatorError) -> NodeStat {
        NodeStat(
            czxid: try readJuteLong("\(record).stat.czxid"),
            mzxid: try readJuteLong("\(record).stat.mzxid"),
            ctimeMs: try readJuteLong("\(record).stat.ctime"),
            mtimeMs: try readJuteLong("\(record).stat.mtime"),
            version: try readJuteInt("\(record).stat.version"),
            cversion: try readJuteInt("\(record).stat.cversion"),
            aversion: try readJuteInt("\(record).stat.aversion"),
            ephemeralOwner: try readJuteLong("\(record).stat.ephemeralOwner"),
            dataLength: try readJuteInt("\(record).stat.dataLength"),
            numChildren: try readJuteInt("\(record).stat.numChildren"),
            pzxid: try readJuteLong("\(record).stat.pzxid"))
    }

    mutating func writeJuteStat(_ stat: NodeStat) {
        writeJuteLong(stat.czxid)
        writeJuteLong(stat.mzxid)
        writeJuteLong(stat.ctimeMs)
        writeJuteLong(stat.mtimeMs)
        writeJuteInt(stat.version)
        writeJuteInt(stat.cversion)
        writeJuteInt(stat.aversion)
        writeJuteLong(stat.ephemeralOwner)
        writeJuteInt(stat.dataLength)
        writeJuteInt(stat.numChildren)
        writeJuteLong(stat.pzxid)
    }
}
