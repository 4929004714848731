#!/usr/bin/env python3
"""Decodes Swift-encoded record batches with kafka-python (the other direction of the interop check).

    RIVULET_EXPORT_SWIFT_BATCHES=/tmp/swift-batches swift test --filter RecordFixtureTests
    python3 Tests/RivuletWireTests/Fixtures/records/check_swift_batches.py /tmp/swift-batches

For every batch RecordBatchBuilder wrote (one per codec), kafka-python's DefaultRecordBatch must
accept the CRC and decode every record (decompressing with its own gzip, xerial snappy, LZ4 frame
and zstd code) to exactly the records in expected.json. Exits non-zero on any difference.
"""

import json
import os
import sys

from kafka.record.default_records import DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def main(directory):
    with open(os.path.join(directory, "expected.json")) as f:
        expected = json.load(f)
    want = [
        (r["offsetDelta"], r["timestampMs"],
         None if r["key"] is None else bytes.fromhex(r["key"]),
         None if r["value"] is None else bytes.fromhex(r["value"]),
         [(h["key"], None if h["value"] is None else bytes.fromhex(h["value"])) for h in r["headers"]])
        for r in expected["records"]
    ]
    failures = 0
    for name in expected["batches"]:
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        batch = DefaultRecordBatch(data)
        codec = CODECS[batch.compression_type]
        problems = []
        if not batch.validate_crc():
            problems.append("CRC rejected")
        # Also through MemoryRecords, the path kafka-python's consumer takes.
        memory = MemoryRecords(data)
        via_memory = memory.next_batch()
        if via_memory is None or memory.has_next():
            problems.append("MemoryRecords did not find exactly one batch")
        got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]
        if got != want:
            problems.append("records differ (%d decoded, %d expected)" % (len(got), len(want)))
        if (batch.producer_id, batch.producer_epoch, batch.base_sequence) != (77, 2, 10):
            problems.append("producer fields differ")
        status = "OK" if not problems else "FAIL: " + "; ".join(problems)
        print("%-18s codec=%-6s bytes=%-7d records=%d  %s" % (name, codec, len(data), len(got), status))
        failures += bool(problems)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/swift-batches")
