"""Shared helpers for the real-client checks (run by scripts/test-clients.sh).

Every check is a script taking `--bootstrap HOST:PORT` and `--topic NAME`, printing what it did and
exiting 0 on success, 1 on a failed expectation (with the reason on stderr)."""

import argparse
import sys
import time


def parse_args(description, extra=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the broker")
    parser.add_argument("--topic", required=True, help="topic name (created by auto-creation or the check)")
    parser.add_argument("--records", type=int, default=1000, help="records per produce round")
    if extra:
        extra(parser)
    return parser.parse_args()


def fail(message):
    print(f"FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


class Deadline:
    """A bounded wait: `while deadline:` loops until the time is up."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def __bool__(self):
        return time.monotonic() < self.end

    def remaining(self):
        return max(0.0, self.end - time.monotonic())
