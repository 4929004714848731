"""kcat (Debian 12: kcat 1.7.1 with its own librdkafka 2.0.2) lists metadata, produces N lines and
consumes them back in order.

librdkafka 2.0.2 sends ApiVersions v3 and fails on a non-empty tagged section in the answer (see
/work/shared/kafka-protocol/README.md, note 1), so `-L` succeeding is itself a check."""

import subprocess

from common import expect, fail, parse_args

args = parse_args("kcat metadata, produce and consume", lambda p: p.add_argument("--kcat", default="kcat"))
kcat = [args.kcat, "-b", args.bootstrap]

listing = subprocess.run(kcat + ["-L", "-m", "10"], capture_output=True, text=True, timeout=60)
expect(listing.returncode == 0, f"kcat -L exited {listing.returncode}: {listing.stderr.strip()[-500:]}")
expect(" brokers:" in listing.stdout, f"kcat -L printed no broker list: {listing.stdout[:300]}")

lines = "".join(f"line-{i}\n" for i in range(args.records))
produce = subprocess.run(kcat + ["-P", "-t", args.topic, "-X", "linger.ms=5"], input=lines, capture_output=True,
                         text=True, timeout=120)
expect(produce.returncode == 0, f"kcat -P exited {produce.returncode}: {produce.stderr.strip()[-500:]}")

consume = subprocess.run(kcat + ["-C", "-t", args.topic, "-o", "beginning", "-c", str(args.records), "-e", "-q"],
                         capture_output=True, text=True, timeout=120)
expect(consume.returncode == 0, f"kcat -C exited {consume.returncode}: {consume.stderr.strip()[-500:]}")
got = consume.stdout.splitlines()
if got != lines.splitlines():
    missing = len(lines.splitlines()) - len(got)
    first_bad = next((i for i, (a, b) in enumerate(zip(got, lines.splitlines())) if a != b), None)
    fail(f"consumed {len(got)} lines ({missing} missing), first difference at {first_bad}")

# The topic is listed with its partition after the produce.
listing = subprocess.run(kcat + ["-L", "-t", args.topic], capture_output=True, text=True, timeout=60)
expect(f'topic "{args.topic}"' in listing.stdout, f"topic {args.topic} missing from kcat -L -t: {listing.stdout[:300]}")
print(f"kcat: metadata listed, {args.records} lines produced and consumed in order")
