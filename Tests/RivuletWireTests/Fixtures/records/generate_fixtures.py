#!/usr/bin/env python3
"""Generates golden record batches with a real Kafka client implementation.

Every batch here comes from kafka-python's pure-Python DefaultRecordBatchBuilder (the same code
kafka-python's producer runs), with its own codec helpers (kafka.codec): gzip from the standard
library, xerial-framed snappy through python-snappy, LZ4 frames through the `lz4` module and
zstd through `zstandard`. A few extra batches ("variant") re-frame the records of an
uncompressed kafka-python batch with the same libraries in encodings other clients produce
(multi-member gzip, a raw snappy block, LZ4 frames with checksums and linked blocks,
concatenated frames, zstd without a content size), to prove the decoder accepts every valid form.

Requirements (fixture generation only, not needed to run the tests):
    pip install kafka-python==3.0.12 python-snappy cramjam lz4 zstandard

Run from anywhere:
    python3 Tests/RivuletWireTests/Fixtures/records/generate_fixtures.py

It rewrites the *.bin files and manifest.json next to this script. The Swift tests
(RecordFixtureTests) decode every file and compare with the manifest.
"""

import gzip
import io
import json
import os
import random
import struct

import kafka
import lz4.frame
import snappy
import zstandard
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c

HERE = os.path.dirname(os.path.abspath(__file__))
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
BASE_TIMESTAMP = 1_700_000_000_000


def make_records(count, value_size, seed, with_headers=True):
    """Deterministic, compressible records: null keys and values, headers, timestamps out of order."""
    rng = random.Random(seed)
    words = [b"kafka", b"rivulet", b"partition", b"offset", b"broker", b"replica", b"segment", b"batch"]
    records = []
    for i in range(count):
        key = None if i % 5 == 4 else (b"" if i % 11 == 10 else b"key-%d" % i)
        if i % 7 == 6:
            value = None
        else:
            parts = [b"value %d:" % i]
            while sum(len(p) + 1 for p in parts) < value_size:
                parts.append(rng.choice(words))
            value = b" ".join(parts)[:value_size]
        timestamp = BASE_TIMESTAMP + i * 3 - (50 if i % 4 == 3 else 0)
        headers = []
        if with_headers and i % 3 == 0:
            headers = [
                ("trace-id", bytes(rng.getrandbits(8) for _ in range(8))),
                ("empty", b""),
                ("null-value", None),
                ("h\u00e9ader-\u043a\u043b\u044e\u0447", b"\xff\x00\x01"),
            ]
        records.append((i, timestamp, key, value, headers))
    return records


def build(codec, records, producer_id=-1, producer_epoch=-1, base_sequence=-1, transactional=False):
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=CODECS[codec], is_transactional=transactional,
        producer_id=producer_id, producer_epoch=producer_epoch, base_sequence=base_sequence,
        batch_size=16 * 1024 * 1024)
    for offset, timestamp, key, value, headers in records:
        if builder.append(offset, timestamp, key, value, headers) is None:
            raise RuntimeError("record did not fit")
    data = bytes(builder.build())
    attributes = struct.unpack_from(">h", data, 21)[0]
    if attributes & 7 != CODECS[codec]:
        raise RuntimeError("kafka-python fell back to another codec for %s (records not compressible?)" % codec)
    return data


def reframe(uncompressed_batch, codec, block):
    """Replaces the records of an uncompressed kafka-python batch by `block`, compressed with `codec`."""
    header = bytearray(uncompressed_batch[:61])
    attributes = struct.unpack_from(">h", header, 21)[0]
    struct.pack_into(">h", header, 21, (attributes & ~7) | CODECS[codec])
    data = header + block
    struct.pack_into(">i", data, 8, len(data) - 12)
    struct.pack_into(">I", data, 17, calc_crc32c(bytes(data[21:])))
    return bytes(data)


def set_base_offset(data, base_offset):
    """Stamps the base offset as a broker does (outside the CRC)."""
    data = bytearray(data)
    struct.pack_into(">q", data, 0, base_offset)
    return bytes(data)


def check_with_kafka_python(data, records):
    """kafka-python must read back what it wrote (CRC included)."""
    batch = DefaultRecordBatch(data)
    if not batch.validate_crc():
        raise RuntimeError("CRC mismatch")
    decoded = list(batch)
    if len(decoded) != len(records):
        raise RuntimeError("record count mismatch")
    for record, (offset, timestamp, key, value, headers) in zip(decoded, records):
        if (record.key, record.value, record.timestamp) != (key, value, timestamp):
            raise RuntimeError("record mismatch at %d" % offset)
        if [(k, v) for k, v in record.headers] != headers:
            raise RuntimeError("header mismatch at %d" % offset)


def describe(name, data, codec, producer, framing, record_set):
    header = struct.unpack_from(">qiibIhiqqqhii", data, 0)
    (base_offset, batch_length, leader_epoch, magic, crc, attributes, last_offset_delta,
     base_timestamp, max_timestamp, producer_id, producer_epoch, base_sequence, record_count) = header
    return {
        "file": name + ".bin",
        "codec": codec,
        "producer": producer,
        "framing": framing,
        "sizeBytes": len(data),
        "baseOffset": base_offset,
        "partitionLeaderEpoch": leader_epoch,
        "attributes": attributes,
        "lastOffsetDelta": last_offset_delta,
        "baseTimestamp": base_timestamp,
        "maxTimestamp": max_timestamp,
        "producerId": producer_id,
        "producerEpoch": producer_epoch,
        "baseSequence": base_sequence,
        "recordCount": record_count,
        "crc": crc,
        "recordSet": record_set,
    }


def describe_records(records):
    hexval = lambda b: None if b is None else b.hex()
    return [
        {
            "offsetDelta": offset,
            "timestampMs": timestamp,
            "key": hexval(key),
            "value": hexval(value),
            "headers": [{"key": k, "value": hexval(v)} for k, v in headers],
        }
        for offset, timestamp, key, value, headers in records
    ]


def main():
    client = "kafka-python %s DefaultRecordBatchBuilder" % kafka.__version__
    fixtures = []
    record_sets = {}

    def emit(name, data, codec, producer, framing, records):
        check_with_kafka_python(data, records)
        with open(os.path.join(HERE, name + ".bin"), "wb") as f:
            f.write(data)
        set_name = next(k for k, v in sets.items() if v is records)
        record_sets[set_name] = describe_records(records)
        fixtures.append(describe(name, data, codec, producer, framing, set_name))

    sets = {
        "small": make_records(10, 40, seed=1),
        "idempotent": make_records(6, 30, seed=2, with_headers=False),
        "medium": make_records(50, 200, seed=3),
        "large": make_records(300, 400, seed=4),
    }
    small, idem, medium, large = sets["small"], sets["idempotent"], sets["medium"], sets["large"]
    emit("none-basic", build("none", small), "none", client, "uncompressed", small)
    emit("none-transactional", set_base_offset(build("none", idem, 4242, 3, 17, True), 1000),
         "none", client, "uncompressed, idempotent + transactional, base offset stamped 1000", idem)

    framings = {
        "gzip": "one gzip member (kafka.codec.gzip_encode, level 9)",
        "snappy": "xerial framing, 32 KiB blocks (kafka.codec.snappy_encode)",
        "lz4": "LZ4 frame, independent 64 KiB blocks, content size stored (lz4.frame via kafka.codec)",
        "zstd": "one zstd frame with content size (zstandard via kafka.codec)",
    }
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        emit(codec + "-medium", build(codec, medium), codec, client, framings[codec], medium)
        emit(codec + "-large", build(codec, large), codec, client, framings[codec] + ", multi-block", large)

    # Variants: the records of an uncompressed kafka-python batch in other valid encodings.
    plain = build("none", large)
    records_bytes = plain[61:]
    half = len(records_bytes) // 2
    variant = client + " records, re-framed with "
    emit("gzip-multimember",
         reframe(plain, "gzip", gzip.compress(records_bytes[:half], mtime=0) + gzip.compress(records_bytes[half:], mtime=0)),
         "gzip", variant + "Python gzip", "two concatenated gzip members", large)
    emit("snappy-raw-block", reframe(plain, "snappy", snappy.compress(records_bytes)),
         "snappy", variant + "python-snappy", "one raw snappy block, no xerial header", large)
    emit("lz4-linked-checksums",
         reframe(plain, "lz4", lz4.frame.compress(
             records_bytes, block_size=lz4.frame.BLOCKSIZE_MAX64KB, block_linked=True,
             content_checksum=True, block_checksum=True, store_size=False)),
         "lz4", variant + "lz4.frame", "LZ4 frame, linked 64 KiB blocks (two), block and content checksums, no size", large)
    stream = io.BytesIO()
    with zstandard.ZstdCompressor(level=3).stream_writer(stream, closefd=False) as writer:
        for start in range(0, len(records_bytes), 7000):
            writer.write(records_bytes[start:start + 7000])
    emit("zstd-streamed-no-size", reframe(plain, "zstd", stream.getvalue()),
         "zstd", variant + "zstandard stream_writer", "one zstd frame without content size (streamed)", large)
    compressor = zstandard.ZstdCompressor(level=1, write_content_size=False)
    emit("zstd-two-frames",
         reframe(plain, "zstd", compressor.compress(records_bytes[:half]) + compressor.compress(records_bytes[half:])),
         "zstd", variant + "zstandard", "two concatenated zstd frames without content size", large)

    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump({"generator": "generate_fixtures.py", "client": client, "fixtures": fixtures,
                   "recordSets": record_sets}, f, indent=1)
        f.write("\n")
    print("wrote %d fixtures" % len(fixtures))


if __name__ == "__main__":
    main()
