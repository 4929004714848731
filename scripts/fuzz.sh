#!/usr/bin/env bash
# Builds and runs the libFuzzer target for the broker's request path (frame reader, request
# decoder, error answers): Fuzz/Sources/FuzzRequestDecoder. Kept out of the normal build because it
# needs `-sanitize=fuzzer` (and `-parse-as-library`, since libFuzzer supplies `main`).
#
#   scripts/fuzz.sh               fuzz for 60 s
#   scripts/fuzz.sh 600           fuzz for 10 minutes
#   scripts/fuzz.sh 60 -jobs=2    extra arguments go to libFuzzer
#
# Seeds: the request frames captured from kcat and kafka-python in
# Tests/RivuletWireTests/Fixtures/CapturedFrames.swift. The growing corpus stays in
# Fuzz/.corpus/request-decoder (not committed); crashes are written to Fuzz/.artifacts/.
# Exit status: 0 when no input crashed, libFuzzer's non-zero status otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[ $# -gt 0 ] && shift

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat > "$probe/probe.swift" <<'SWIFT'
@_cdecl("LLVMFuzzerTestOneInput") public func probe(_ d: UnsafePointer<UInt8>, _ n: Int) -> CInt { 0 }
SWIFT
if ! swiftc -sanitize=fuzzer -parse-as-library "$probe/probe.swift" -o "$probe/probe" >/dev/null 2>&1; then
  echo "fuzz.sh: this Swift toolchain does not support -sanitize=fuzzer; nothing to do" >&2
  exit 0
fi

echo "== building Fuzz/FuzzRequestDecoder (release, -sanitize=fuzzer)"
swift build --package-path Fuzz -c release --product FuzzRequestDecoder \
  -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library > Fuzz/.build-fuzz.log 2>&1 \
  || { tail -n 30 Fuzz/.build-fuzz.log >&2; exit 1; }
binary=$(swift build --package-path Fuzz -c release --show-bin-path)/FuzzRequestDecoder

corpus=Fuzz/.corpus/request-decoder
seeds=Fuzz/.corpus/seeds
mkdir -p "$corpus" "$seeds" Fuzz/.artifacts
python3 - "$seeds" <<'PY'
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
text = pathlib.Path("Tests/RivuletWireTests/Fixtures/CapturedFrames.swift").read_text()
pattern = re.compile(r'isRequest: true, apiKey: (\d+), apiVersion: (\d+),\s*hex: """\s*(.*?)\s*"""', re.S)
count = 0
for i, (key, version, hexes) in enumerate(pattern.findall(text)):
    data = bytes.fromhex("".join(hexes.split()))
    (out / f"captured-{i:03d}-api{key}-v{version}").write_bytes(data)
    count += 1
print(f"fuzz.sh: {count} seed frames from real clients")
PY

echo "== fuzzing for $seconds s"
"$binary" "$corpus" "$seeds" -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
  -artifact_prefix=Fuzz/.artifacts/ "$@"
