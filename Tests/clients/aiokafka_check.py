"""aiokafka produces (plain and gzip) and consumes back every record, without a consumer group."""

import asyncio

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from common import Deadline, expect, parse_args

args = parse_args("aiokafka produce and consume")


async def round_trip(codec):
    topic = f"{args.topic}-{codec or 'none'}"
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, compression_type=codec, linger_ms=5, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, key=None if i % 4 == 0 else f"k{i}".encode(),
                                       value=None if i % 10 == 5 else f"v{i}".encode(),
                                       headers=[("n", str(i).encode())], partition=0,
                                       timestamp_ms=1_700_000_000_000 + i)
                   for i in range(args.records)]
        offsets = [(await f).offset for f in futures]
    finally:
        await producer.stop()
    expect(offsets == list(range(args.records)), f"{codec}: offsets {offsets[:5]}... are not 0..{args.records - 1}")

    consumer = AIOKafkaConsumer(bootstrap_servers=args.bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    got = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        deadline = Deadline(60)
        while len(got) < args.records and deadline:
            batches = await consumer.getmany(partition, timeout_ms=500)
            for records in batches.values():
                got.extend(records)
    finally:
        await consumer.stop()
    expect(len(got) == args.records, f"{codec}: consumed {len(got)} of {args.records}")
    for i, message in enumerate(got):
        expect(message.offset == i, f"{codec}: record {i} offset {message.offset}")
        expect(message.key == (None if i % 4 == 0 else f"k{i}".encode()), f"{codec}: record {i} key {message.key!r}")
        expect(message.value == (None if i % 10 == 5 else f"v{i}".encode()), f"{codec}: record {i} value {message.value!r}")
        expect(list(message.headers) == [("n", str(i).encode())], f"{codec}: record {i} headers {message.headers!r}")
        expect(message.timestamp == 1_700_000_000_000 + i, f"{codec}: record {i} timestamp {message.timestamp}")
    print(f"aiokafka {aiokafka.__version__} ({codec or 'no compression'}): {args.records} records round-tripped")


async def main():
    for codec in [None, "gzip"]:
        await round_trip(codec)


asyncio.run(main())
