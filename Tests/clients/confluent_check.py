"""confluent-kafka (librdkafka 2.16) produces and consumes with each of gzip, snappy, lz4 and zstd,
with headers, explicit timestamps, null keys and null values; every record comes back exactly
(key, value, headers, timestamp, order, offsets 0..N-1)."""

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from common import Deadline, expect, fail, parse_args

args = parse_args("confluent-kafka with every compression codec")
BASE_TIMESTAMP_MS = 1_700_000_000_000
CLIENT_VERSION = confluent_kafka.version()
CLIENT_VERSION = CLIENT_VERSION if isinstance(CLIENT_VERSION, str) else CLIENT_VERSION[0]


def record(i):
    """Record i: every 7th key is null, every 5th value is null, every 3rd has no headers."""
    key = None if i % 7 == 0 else f"key-{i}".encode()
    value = None if i % 5 == 0 else (f"value-{i}-" + "x" * (i % 50)).encode()
    headers = [] if i % 3 == 0 else [("h1", f"a{i}".encode()), ("h2", None), ("h1", b"dup")]
    return key, value, headers, BASE_TIMESTAMP_MS + i


for codec in ["gzip", "snappy", "lz4", "zstd"]:
    topic = f"{args.topic}-{codec}"
    errors = []
    producer = Producer({"bootstrap.servers": args.bootstrap, "compression.type": codec, "linger.ms": 5,
                         "enable.idempotence": codec in ("lz4", "zstd"), "acks": "all"})

    def delivered(err, _msg):
        if err is not None:
            errors.append(str(err))

    for i in range(args.records):
        key, value, headers, timestamp = record(i)
        producer.produce(topic, key=key, value=value, headers=headers, timestamp=timestamp, partition=0,
                         on_delivery=delivered)
        producer.poll(0)
    remaining = producer.flush(60)
    expect(remaining == 0, f"{codec}: {remaining} records not delivered within 60 s")
    expect(not errors, f"{codec}: delivery errors: {errors[:3]}")

    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": f"check-{topic}",
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
    got = []
    deadline = Deadline(60)
    while len(got) < args.records and deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                continue
            fail(f"{codec}: consume error {message.error()}")
        got.append(message)
    consumer.close()
    expect(len(got) == args.records, f"{codec}: consumed {len(got)} of {args.records}")
    for i, message in enumerate(got):
        key, value, headers, timestamp = record(i)
        expect(message.offset() == i, f"{codec}: record {i} has offset {message.offset()}")
        expect(message.key() == key, f"{codec}: record {i} key {message.key()!r}, expected {key!r}")
        expect(message.value() == value, f"{codec}: record {i} value {message.value()!r}, expected {value!r}")
        expect((message.headers() or []) == headers, f"{codec}: record {i} headers {message.headers()!r}, expected {headers!r}")
        kind, ts = message.timestamp()
        expect(kind == confluent_kafka.TIMESTAMP_CREATE_TIME and ts == timestamp,
               f"{codec}: record {i} timestamp {(kind, ts)}, expected create time {timestamp}")
    print(f"confluent-kafka {CLIENT_VERSION} (librdkafka {confluent_kafka.libversion()[0]}) {codec}: "
          f"{args.records} records with headers, timestamps, null keys and values round-tripped")
