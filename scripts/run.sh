#!/usr/bin/env bash
# Sets up and runs the main job: the quickstart workload on the embedded broker, printing results.
# Extra arguments go to `rivulet run` (for example --duration 5s or --set messageSize=1024).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release
exec .build/release/rivulet run workloads/quickstart.spec "$@"
