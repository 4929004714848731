#!/usr/bin/env bash
# Runs a standalone ZooKeeper (Debian's `zookeeper` package) on 127.0.0.1 for multi-process Rivulet
# clusters and CI, with a throwaway data directory.
#
#   scripts/zookeeper.sh start [PORT]   start on PORT (a free port when omitted); waits until it answers
#                                       `ruok`, then prints port=, datadir=, pid=, url= lines
#   scripts/zookeeper.sh stop [PORT]    stop the server on PORT (every server this script started when
#                                       omitted) and delete its data directory
#   scripts/zookeeper.sh status         list the servers this script started
#
# Environment: ZOOKEEPER_TICK_MS (tickTime, default 2000; session timeouts are 2..20 ticks),
# ZOOKEEPER_MAX_SESSION_TIMEOUT_MS (default 20 ticks), ZOOKEEPER_KEEP_DATA=1 (keep the data directory
# on stop), RIVULET_ZOOKEEPER_STATE (where pid files live, default ${TMPDIR:-/tmp}/rivulet-zookeeper).
set -euo pipefail

jar=/usr/share/java/zookeeper.jar
state_dir=${RIVULET_ZOOKEEPER_STATE:-${TMPDIR:-/tmp}/rivulet-zookeeper}
tick_ms=${ZOOKEEPER_TICK_MS:-2000}
max_session_ms=${ZOOKEEPER_MAX_SESSION_TIMEOUT_MS:-$((20 * tick_ms))}

die() { echo "zookeeper.sh: $*" >&2; exit 1; }

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
}

valid_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local candidate
  for _ in $(seq 1 100); do
    candidate=$((20000 + RANDOM % 40000))
    if ! port_in_use "$candidate"; then echo "$candidate"; return; fi
  done
  die "no free port found"
}

answers_ruok() {
  local reply
  reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; printf ruok >&3; cat <&3" 2>/dev/null || true)
  [ "$reply" = imok ]
}

start() {
  [ -f "$jar" ] || die "ZooKeeper is not installed ($jar is missing); install it with: apt-get install -y zookeeper"
  command -v java >/dev/null 2>&1 || die "java is not installed; apt-get install -y zookeeper pulls it in"
  valid_port "$tick_ms" || die "ZOOKEEPER_TICK_MS must be a positive number of milliseconds"
  local port=${1:-}
  if [ -z "$port" ]; then port=$(free_port); fi
  valid_port "$port" || die "bad port: $port"
  if [ -f "$state_dir/$port.env" ]; then die "a server started by this script already runs on port $port"; fi
  if port_in_use "$port"; then die "port $port is already in use"; fi

  mkdir -p "$state_dir"
  local datadir
  datadir=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-zk.XXXXXX")
  mkdir -p "$datadir/data"
  cat >"$datadir/zoo.cfg" <<EOF
tickTime=$tick_ms
dataDir=$datadir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=$((2 * tick_ms))
maxSessionTimeout=$max_session_ms
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat
EOF
  local classpath="/etc/zookeeper/conf:$jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
  nohup java -Xmx512m -cp "$classpath" -Dzookeeper.root.logger=INFO,CONSOLE -Dzookeeper.jmx.log4j.disable=true \
    org.apache.zookeeper.server.ZooKeeperServerMain "$datadir/zoo.cfg" </dev/null >"$datadir/zk.log" 2>&1 &
  local pid=$!
  printf 'pid=%s\ndatadir=%s\n' "$pid" "$datadir" >"$state_dir/$port.env"

  local waited=0
  until answers_ruok "$port"; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$waited" -ge 300 ]; then
      echo "zookeeper.sh: ZooKeeper did not become ready on port $port; last log lines:" >&2
      tail -n 20 "$datadir/zk.log" >&2 || true
      stop_one "$port"
      exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  printf 'port=%s\ndatadir=%s\npid=%s\nurl=zk://127.0.0.1:%s\n' "$port" "$datadir" "$pid" "$port"
}

stop_one() {
  local port=$1 file="$state_dir/$1.env" pid datadir
  [ -f "$file" ] || die "no server started by this script on port $port"
  pid=$(sed -n 's/^pid=//p' "$file")
  datadir=$(sed -n 's/^datadir=//p' "$file")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  if [ "${ZOOKEEPER_KEEP_DATA:-0}" != 1 ] && [ -n "$datadir" ] && [ -d "$datadir" ]; then rm -rf "$datadir"; fi
  rm -f "$file"
  echo "stopped port=$port"
}

stop() {
  if [ -n "${1:-}" ]; then
    valid_port "$1" || die "bad port: $1"
    stop_one "$1"
    return
  fi
  local found=0 file
  for file in "$state_dir"/*.env; do
    [ -e "$file" ] || continue
    found=1
    stop_one "$(basename "$file" .env)"
  done
  [ "$found" = 1 ] || echo "no servers started by this script are running"
}

status() {
  local file port pid state
  for file in "$state_dir"/*.env; do
    [ -e "$file" ] || continue
    port=$(basename "$file" .env)
    pid=$(sed -n 's/^pid=//p' "$file")
    if kill -0 "$pid" 2>/dev/null && answers_ruok "$port"; then state=ready; else state=down; fi
    echo "port=$port pid=$pid $state"
  done
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  status) status ;;
  *) usage ;;
esac
