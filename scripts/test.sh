#!/usr/bin/env bash
# Sets up (system packages, real Kafka clients, build) and runs every test tier:
#   1. unit and integration tests (swift test --no-parallel: timing tests need the cores to themselves on 2-core CI)
#   2. conformance suites on every storage backend (rivulet conform)
#   3. real clients against rivulet broker (scripts/test-clients.sh)
#   4. failover with a real ZooKeeper and three broker processes (scripts/test-failover.sh)
# Each tier can also be run alone; see the README's "What scripts/test.sh runs".
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

scripts/setup.sh --clients

echo "== unit and integration tests"
mkdir -p .build
swift test --no-parallel 2>&1 | tee .build/test.log | grep -E '^(✘|✔ Test run|Test Suite .All tests|error:)|failed|passed after' | grep -vE '^✔ (Test|Suite) [^r]' || true
if ! grep -qE '✔ Test run with [0-9]+ tests? .*passed' .build/test.log || grep -qE "Test Suite 'All tests' failed|✘ Test run" .build/test.log; then
  echo "swift test failed; see .build/test.log" >&2
  exit 1
fi

for tier in scripts/test-conformance.sh scripts/test-clients.sh scripts/test-failover.sh; do
  if [ -x "$tier" ]; then
    echo "== $tier"
    "$tier"
  fi
done

echo "== all tests passed in $(( $(date +%s) - started )) s"
