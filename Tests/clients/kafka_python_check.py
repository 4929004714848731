"""kafka-python produces (plain and gzip) and consumes back every record, without a consumer group."""

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from common import Deadline, expect, parse_args

args = parse_args("kafka-python produce and consume")

for codec in [None, "gzip"]:
    topic = f"{args.topic}-{codec or 'none'}"
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, compression_type=codec, linger_ms=5, acks="all",
                             request_timeout_ms=30000)
    futures = [producer.send(topic, key=None if i % 4 == 0 else f"k{i}".encode(),
                             value=None if i % 10 == 5 else f"v{i}".encode(),
                             headers=[("n", str(i).encode())], partition=0, timestamp_ms=1_700_000_000_000 + i)
               for i in range(args.records)]
    producer.flush(60)
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close(10)
    expect(offsets == list(range(args.records)), f"{codec}: offsets {offsets[:5]}... are not 0..{args.records - 1}")

    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    got = []
    deadline = Deadline(60)
    while len(got) < args.records and deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    consumer.close()
    expect(len(got) == args.records, f"{codec}: consumed {len(got)} of {args.records}")
    for i, message in enumerate(got):
        expect(message.offset == i, f"{codec}: record {i} offset {message.offset}")
        expect(message.key == (None if i % 4 == 0 else f"k{i}".encode()), f"{codec}: record {i} key {message.key!r}")
        expect(message.value == (None if i % 10 == 5 else f"v{i}".encode()), f"{codec}: record {i} value {message.value!r}")
        expect(list(message.headers) == [("n", str(i).encode())], f"{codec}: record {i} headers {message.headers!r}")
        expect(message.timestamp == 1_700_000_000_000 + i, f"{codec}: record {i} timestamp {message.timestamp}")
    print(f"kafka-python {kafka.__version__} ({codec or 'no compression'}): {args.records} records round-tripped")
