"""The broker's Prometheus endpoint answers with request counts, bytes and latencies per API,
connection gauges and per-partition log sizes, after some traffic (run it after a check that
produced and consumed)."""

import argparse
import re
import sys
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True, help="http://HOST:PORT/metrics")
args = parser.parse_args()

with urllib.request.urlopen(args.url, timeout=10) as response:
    content_type = response.headers.get("Content-Type", "")
    text = response.read().decode()


def value(pattern):
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else None


failures = []
if not content_type.startswith("text/plain"):
    failures.append(f"Content-Type {content_type!r}")
for api in ["Produce", "Fetch", "Metadata", "ApiVersions"]:
    count = value(rf'^rivulet_requests_total\{{api="{api}"\}} ([0-9.e+]+)$')
    if not count:
        failures.append(f"rivulet_requests_total for {api} missing or zero")
if not value(r'^rivulet_bytes_in_total\{api="Produce"\} ([0-9.e+]+)$'):
    failures.append("rivulet_bytes_in_total for Produce missing or zero")
if not value(r'^rivulet_bytes_out_total\{api="Fetch"\} ([0-9.e+]+)$'):
    failures.append("rivulet_bytes_out_total for Fetch missing or zero")
if not value(r'^rivulet_request_duration_seconds_count\{api="Produce"\} ([0-9.e+]+)$'):
    failures.append("rivulet_request_duration_seconds histogram for Produce missing")
if value(r'^rivulet_connections ([0-9.e+]+)$') is None:
    failures.append("rivulet_connections gauge missing")
def gauges(name):
    return [float(v) for v in re.findall(rf'^{name}\{{topic="[^"]*",partition="[0-9]+"\}} (-?[0-9.e+]+)$', text, re.M)]


ends = gauges("rivulet_log_end_offset")
records = sum(gauges("rivulet_log_records"))
if not ends or not max(ends):
    failures.append("no rivulet_log_end_offset gauge above zero")
if not records:
    failures.append("no rivulet_log_records gauge above zero")
# Bytes appear once the broker exposes its logs' sizes; when present they must be positive.
sizes = gauges("rivulet_log_size_bytes")
if sizes and not sum(sizes):
    failures.append("rivulet_log_size_bytes gauges are all zero")
if failures:
    print("FAILED: " + "; ".join(failures), file=sys.stderr)
    sys.exit(1)
size_note = f", {int(sum(sizes))} bytes" if sizes else " (log bytes not exposed by the broker yet)"
print(f"metrics: per-API requests, bytes, latencies, connections; logs of {len(ends)} partitions, "
      f"{int(records)} records{size_note}")
