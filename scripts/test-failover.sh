#!/usr/bin/env bash
# Multi-process failover check: a real ZooKeeper (scripts/zookeeper.sh), three `rivulet broker`
# processes on free 127.0.0.1 ports, confluent-kafka producing with acks=all (idempotent) into an RF=3
# topic with min.insync.replicas=2; the partition leader's process is SIGKILLed mid-stream, every
# acknowledged record must be read back, and the killed broker is restarted and must rejoin the ISR.
# Prints the recovery figures (kill -> first acknowledged write, kill -> new leader in metadata,
# restart -> back in the ISR).
#
#   scripts/test-failover.sh            build (debug) and run
#
# Environment: RIVULET_BIN (a rivulet binary to use instead of building), FAILOVER_SESSION_TIMEOUT_MS
# (zookeeper.session.timeout.ms of the brokers, default 2000), FAILOVER_KEEP=1 (keep logs and data).
set -euo pipefail
cd "$(dirname "$0")/.."

session_timeout_ms=${FAILOVER_SESSION_TIMEOUT_MS:-2000}

if ! python3 -c 'import confluent_kafka' 2>/dev/null; then
  echo "test-failover.sh: confluent-kafka is missing; run scripts/setup.sh --clients" >&2
  exit 1
fi

if [ -n "${RIVULET_BIN:-}" ]; then
  rivulet=$RIVULET_BIN
else
  if ! build_log=$(swift build --product rivulet 2>&1); then
    printf '%s\n' "$build_log" | grep -E 'error' >&2 || printf '%s\n' "$build_log" | tail -n 20 >&2
    echo "test-failover.sh: building rivulet failed" >&2
    exit 1
  fi
  rivulet="$(swift build --show-bin-path)/rivulet"
fi
[ -x "$rivulet" ] || { echo "test-failover.sh: no rivulet binary at $rivulet" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-failover.XXXXXX")
zk_port=""
restarter=""

# Every broker process's pid is in $work/broker-N.pid (restarts overwrite it); cleanup stops them by pid.
cleanup() {
  local status=$?
  if [ -n "$restarter" ] && kill -0 "$restarter" 2>/dev/null; then kill "$restarter" 2>/dev/null || true; fi
  for file in "$work"/broker-*.pid; do
    [ -f "$file" ] || continue
    pid=$(cat "$file")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for file in "$work"/broker-*.pid; do
    [ -f "$file" ] || continue
    pid=$(cat "$file")
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  done
  if [ -n "$zk_port" ]; then scripts/zookeeper.sh stop "$zk_port" >/dev/null 2>&1 || true; fi
  if [ "$status" -ne 0 ]; then
    echo "test-failover.sh: failed; broker logs:" >&2
    for log in "$work"/broker-*.log; do [ -f "$log" ] && { echo "--- $log" >&2; tail -n 40 "$log" >&2; }; done
  fi
  if [ "${FAILOVER_KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
  exit "$status"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# A short tick so that a 2 s session timeout is allowed (2..20 ticks).
zk_env=$(ZOOKEEPER_TICK_MS=200 scripts/zookeeper.sh start)
zk_port=$(printf '%s\n' "$zk_env" | sed -n 's/^port=//p')
[ -n "$zk_port" ] || { echo "test-failover.sh: ZooKeeper did not start: $zk_env" >&2; exit 1; }
echo "ZooKeeper on 127.0.0.1:$zk_port"

ports=()
start_broker() {
  local id=$1
  "$rivulet" broker --coordinator "zk://127.0.0.1:$zk_port" --node-id "$id" --rack "rack-$id" \
    --listen "127.0.0.1:${ports[$id]}" --storage "file://$work/broker-$id" --log-level info \
    --config "zookeeper.session.timeout.ms=$session_timeout_ms" --config min.insync.replicas=2 \
    --config replica.lag.time.max.ms=10000 --config replica.fetch.backoff.ms=100 \
    --config default.replication.factor=3 >>"$work/broker-$id.log" 2>&1 &
  echo $! >"$work/broker-$id.pid"
}

for id in 0 1 2; do ports[$id]=$(free_port); done
for id in 0 1 2; do start_broker "$id"; done

wait_for_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "test-failover.sh: nothing listens on port $1" >&2
  return 1
}
for id in 0 1 2; do wait_for_port "${ports[$id]}"; done
bootstrap="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
pid_of() { cat "$work/broker-$1.pid"; }
echo "brokers: $bootstrap (pids $(pid_of 0) $(pid_of 1) $(pid_of 2))"

# The driver kills the leader (SIGKILL, by pid) and asks this script to restart it through a FIFO.
control="$work/control"
mkfifo "$control.restart" "$control.done"
(
  read -r id <"$control.restart"
  start_broker "$id"
  pid_of "$id" >"$control.done"
) &
restarter=$!

set +e
python3 - "$bootstrap" "$session_timeout_ms" "$control" "$(pid_of 0)" "$(pid_of 1)" "$(pid_of 2)" <<'PY'
import os, signal, sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, session_ms, control = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pids = {0: int(sys.argv[4]), 1: int(sys.argv[5]), 2: int(sys.argv[6])}
topic = "failover"
quiet = {"log_level": 3}

def partition_state(client):
    md = client.list_topics(topic, timeout=5)
    t = md.topics.get(topic)
    if t is None or t.error is not None or 0 not in t.partitions:
        return None, []
    p = t.partitions[0]
    return p.leader, list(p.isrs)

admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})
futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3,
                                        config={"min.insync.replicas": "2"})])
futures[topic].result(timeout=30)
deadline = time.time() + 30
while True:
    leader, isr = partition_state(admin)
    if leader is not None and leader >= 0 and len(isr) == 3:
        break
    if time.time() > deadline:
        sys.exit(f"FAIL: the topic never got a leader and a full ISR (leader {leader}, ISR {isr})")
    time.sleep(0.1)
print(f"topic {topic}: leader {leader}, ISR {isr}")

acked = {}      # value -> offset
failed = 0
ack_times = []  # (monotonic time, value)

def delivered(err, msg):
    global failed
    if err is not None:
        failed += 1
        return
    value = int(msg.value())
    acked[value] = msg.offset()
    ack_times.append((time.monotonic(), value))

producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "linger.ms": 2, "message.timeout.ms": 30000, "retry.backoff.ms": 50,
                     "topic.metadata.refresh.fast.interval.ms": 100, **quiet})
rate_per_s = 500
value = 0
def produce_for(seconds):
    global value
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        producer.produce(topic, str(value).encode(), partition=0, on_delivery=delivered)
        value += 1
        producer.poll(0)
        time.sleep(1.0 / rate_per_s)

produce_for(2.0)
producer.flush(10)
victim = leader
killed_at = time.monotonic()
os.kill(pids[victim], signal.SIGKILL)
print(f"SIGKILLed broker {victim} (pid {pids[victim]}), the leader, after {len(acked)} acknowledged records")
sent_before_kill = value
new_leader_at = None
end = time.monotonic() + max(8.0, 4 * session_ms / 1000)
while time.monotonic() < end:
    producer.produce(topic, str(value).encode(), partition=0, on_delivery=delivered)
    value += 1
    producer.poll(0)
    if new_leader_at is None and value % 50 == 0:
        try:
            current, _ = partition_state(admin)
            if current is not None and current >= 0 and current != victim:
                new_leader_at = time.monotonic()
        except Exception:
            pass
    time.sleep(1.0 / rate_per_s)
remaining = producer.flush(30)
after_kill = sorted(t for t, v in ack_times if t > killed_at)
if not after_kill:
    sys.exit("FAIL: no write was acknowledged after the leader was killed")
first_ack_ms = (after_kill[0] - killed_at) * 1000
leader_ms = (new_leader_at - killed_at) * 1000 if new_leader_at else float("nan")

# Restart the killed broker; it must truncate, catch up and rejoin the ISR.
restart_at = time.monotonic()
with open(control + ".restart", "w") as f:
    f.write(f"{victim}\n")
with open(control + ".done") as f:
    f.read()
rejoin_ms = float("nan")
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        current, isr = partition_state(admin)
        if len(isr) == 3:
            rejoin_ms = (time.monotonic() - restart_at) * 1000
            break
    except Exception:
        pass
    time.sleep(0.1)

consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "failover-check", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "enable.partition.eof": True, **quiet})
consumer.assign([TopicPartition(topic, 0, 0)])
read = {}
deadline = time.time() + 60
while time.time() < deadline:
    msg = consumer.poll(1.0)
    if msg is None:
        continue
    if msg.error():
        if msg.error().code() == -191:  # _PARTITION_EOF
            if all(v in read for v in acked):
                break
            continue
        continue
    read.setdefault(int(msg.value()), msg.offset())
consumer.close()
lost = [v for v, off in acked.items() if read.get(v) != off]
duplicates = sum(1 for _ in read) - len(set(read))
print(f"produced {value} records ({sent_before_kill} before the kill), acknowledged {len(acked)}, "
      f"failed deliveries {failed}, unflushed {remaining}")
print(f"read back {len(read)} records; acknowledged but missing or moved: {len(lost)}")
print(f"RESULT session_timeout_ms={session_ms} kill_to_first_acked_write_ms={first_ack_ms:.0f} "
      f"kill_to_new_leader_in_metadata_ms={leader_ms:.0f} restart_to_isr_ms={rejoin_ms:.0f} "
      f"acked={len(acked)} lost={len(lost)}")
if lost:
    sys.exit(f"FAIL: {len(lost)} acknowledged records were lost, e.g. {sorted(lost)[:10]}")
if rejoin_ms != rejoin_ms:
    sys.exit("FAIL: the restarted broker did not rejoin the ISR within 60 s")
PY
status=$?
set -e
if kill -0 "$restarter" 2>/dev/null; then kill "$restarter" 2>/dev/null || true; fi
[ "$status" -eq 0 ] || exit "$status"
echo "test-failover.sh: passed"
