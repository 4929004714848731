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
sizes = [float(v) for v in re.findall(r'^rivulet_log_size_bytes\{topic="[^"]*",partition="[0-9]+"\} ([0-9.e+]+)$', text, re.M)]
size = sum(sizes)
if not size:
    failures.append("no rivulet_log_size_bytes gauge above zero")
if failures:
    print("FAILED: " + "; ".join(failures), file=sys.stderr)
    sys.exit(1)
print(f"metrics: per-API request counts, bytes, latencies, connections and log sizes ({len(sizes)} partitions, {int(size)} bytes) exposed")
