"""The Swift client (`rivulet produce` / `rivulet consume` over TCP with --bootstrap) against an
external Kafka-compatible broker (Tansu in the test runner): lines produced with two codecs come
back in order, exactly."""

import argparse
import subprocess
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--rivulet", required=True)
parser.add_argument("--bootstrap", required=True)
parser.add_argument("--topic", required=True)
parser.add_argument("--records", type=int, default=5000)
args = parser.parse_args()

for codec in ["none", "lz4"]:
    topic = f"{args.topic}-{codec}"
    lines = "".join(f"swift-{codec}-{i}\n" for i in range(args.records))
    produce = subprocess.run([args.rivulet, "produce", "--bootstrap", args.bootstrap, "--topic", topic,
                              "--partition", "0", "--compression-codec", codec, "--request-required-acks", "all"],
                             input=lines, text=True, capture_output=True, timeout=120)
    if produce.returncode != 0:
        print(f"FAILED: rivulet produce ({codec}) exited {produce.returncode}: {produce.stderr[-800:]}", file=sys.stderr)
        sys.exit(1)
    consume = subprocess.run([args.rivulet, "consume", "--bootstrap", args.bootstrap, "--topic", topic, "--partition", "0",
                              "--from-beginning", "--max-messages", str(args.records), "--timeout-ms", "15000"],
                             text=True, capture_output=True, timeout=120)
    if consume.returncode != 0:
        print(f"FAILED: rivulet consume ({codec}) exited {consume.returncode}: {consume.stderr[-800:]}", file=sys.stderr)
        sys.exit(1)
    got = consume.stdout.splitlines()
    want = lines.splitlines()
    if got != want:
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        print(f"FAILED: {codec}: consumed {len(got)} of {len(want)} lines; first difference at line {first}", file=sys.stderr)
        sys.exit(1)
print(f"swift client: {args.records} lines each with no compression and lz4 produced and consumed in order via {args.bootstrap}")
