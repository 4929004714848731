"""SIGTERM stops `rivulet broker` cleanly (exit status 0, a "stopped cleanly" log line, within the
time bound), and a broker restarted on the same file storage serves every record produced before."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

parser = argparse.ArgumentParser()
parser.add_argument("--rivulet", required=True, help="path of the rivulet executable")
parser.add_argument("--kcat", default="kcat")
parser.add_argument("--records", type=int, default=2000)
args = parser.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def fail(message, log=None):
    print(f"FAILED: {message}", file=sys.stderr)
    if log:
        print(log[-2000:], file=sys.stderr)
    sys.exit(1)


with tempfile.TemporaryDirectory() as data:
    storage = f"file://{data}"
    lines = "".join(f"durable-{i}\n" for i in range(args.records))
    broker = None
    try:
        for round_ in ("first", "restarted"):
            port = free_port()
            log_path = os.path.join(data, f"{round_}.log")
            with open(log_path, "w") as log:
                broker = subprocess.Popen([args.rivulet, "broker", "--listen", f"127.0.0.1:{port}", "--storage", storage,
                                           "--log-level", "info"], stdout=log, stderr=subprocess.STDOUT)
            if not wait_port(port):
                fail(f"{round_} broker did not listen", open(log_path).read())
            bootstrap = f"127.0.0.1:{port}"
            if round_ == "first":
                produce = subprocess.run([args.kcat, "-b", bootstrap, "-P", "-t", "durable"], input=lines, text=True,
                                         capture_output=True, timeout=60)
                if produce.returncode != 0:
                    fail(f"kcat -P exited {produce.returncode}: {produce.stderr[-500:]}")
            else:
                consume = subprocess.run([args.kcat, "-b", bootstrap, "-C", "-t", "durable", "-o", "beginning",
                                          "-c", str(args.records), "-e", "-q"], text=True, capture_output=True, timeout=60)
                if consume.stdout != lines:
                    fail(f"after the restart {len(consume.stdout.splitlines())} of {args.records} records came back")
            started = time.monotonic()
            broker.send_signal(signal.SIGTERM)
            try:
                status = broker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                fail(f"{round_} broker still running 20 s after SIGTERM", open(log_path).read())
            elapsed = time.monotonic() - started
            log_text = open(log_path).read()
            if status != 0:
                fail(f"{round_} broker exited with status {status} after SIGTERM", log_text)
            if "stopped cleanly" not in log_text:
                fail(f"{round_} broker log has no 'stopped cleanly' line", log_text)
            broker = None
        print(f"shutdown: SIGTERM exits 0 in {elapsed:.2f} s; {args.records} records survive a restart on file storage")
    finally:
        if broker is not None:
            broker.kill()
            broker.wait()
