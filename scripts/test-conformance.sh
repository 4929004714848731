#!/usr/bin/env bash
# Conformance tier: `rivulet conform` on every storage backend (memory, file, mmap) over the
# in-process transport, and on file over TCP. Prints PASS|FAIL per check and "N passed, M failed";
# exits non-zero when any check fails. A debug build is enough (about 30 s once built).
# Extra arguments go to every `rivulet conform` call (for example --suite durability).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product rivulet > .build/conformance-build.log 2>&1 || { cat .build/conformance-build.log >&2; exit 1; }
bin="$(swift build --show-bin-path)/rivulet"
started=$(date +%s)
status=0
"$bin" conform --storage memory,file,mmap --transport inproc "$@" || status=1
"$bin" conform --storage file --transport tcp "$@" || status=1
echo "== conformance finished in $(( $(date +%s) - started )) s (status $status)"
exit $status
