"""Consumer groups with a real client against Rivulet (run by scripts/test-clients.sh).

    group_check.py --client confluent --assignor range --bootstrap HOST:PORT --topic NAME

Clients: confluent (confluent-kafka / librdkafka 2.16, with --assignor range, roundrobin or
cooperative-sticky), kafka-python (3.0.12), aiokafka (0.14), kcat (Debian's kcat -G, librdkafka
2.0.2), swift (Rivulet's own client: `rivulet consume --group`, needs --rivulet PATH). With
`--peer CLIENT` the members alternate between the two clients (a, c and e use --client; b and d
use --peer), so two different clients share one group: they must agree on the assignment. Each consumer runs in its own process (`member` mode below), so one can be killed without
leaving its group. The scenario, on an 8-partition topic:

1. two consumers split the partitions disjointly and completely, and consume what was produced;
2. one closes (leaves): the other gets all 8;
3. both closed, a new member of the group resumes at the committed offsets: it consumes exactly
   what was produced afterwards (0 duplicates, 0 loss);
4. a member is killed with SIGKILL (no LeaveGroup): the broker expires it and the survivor owns
   all 8 partitions within session.timeout.ms + 1 s.
With --rivulet PATH, `rivulet groups` is checked along the way: `list` shows the group and
`describe` two members owning all 8 partitions (step 1), state Empty with every committed offset at
the log end and lag 0 (after step 3), and `delete` removes it (at the end).
Prints one line; exits 0 when every step held, 1 otherwise (the reason on stderr)."""

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import Deadline, expect, fail  # noqa: E402

PARTITIONS = 8
SESSION_TIMEOUT_MS = 6000  # Rivulet's (and Kafka's) group.min.session.timeout.ms
HEARTBEAT_INTERVAL_MS = 1000


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def stdin_closer():
    """A flag set when the controller writes `close` (or closes our stdin)."""
    flag = threading.Event()

    def watch():
        for line in sys.stdin:
            if line.strip() == "close":
                break
        flag.set()

    threading.Thread(target=watch, daemon=True).start()
    return flag


# --- members: one per client library ---------------------------------------------------------


def member_confluent(args):
    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap, "group.id": args.group, "client.id": args.name,
        "partition.assignment.strategy": args.assignor, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS, "max.poll.interval.ms": 30000,
    })
    closing = stdin_closer()
    consumer.subscribe([args.topic])
    last = None
    while not closing.is_set():
        messages = consumer.consume(100, 0.2)
        records = [[m.partition(), m.offset(), m.value().decode()] for m in messages if not m.error()]
        if records:
            consumer.commit(asynchronous=False)
            emit("records", items=records)
        current = sorted(tp.partition for tp in consumer.assignment())
        if current != last:
            last = current
            emit("assigned", partitions=current)
    consumer.close()
    emit("closed")


def member_kafka_python(args):
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    assignor = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[args.assignor]
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap, group_id=args.group, client_id=args.name, auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        partition_assignment_strategy=[assignor])
    closing = stdin_closer()
    consumer.subscribe([args.topic])
    last = None
    while not closing.is_set():
        batches = consumer.poll(timeout_ms=200)
        records = [[r.partition, r.offset, r.value.decode()] for batch in batches.values() for r in batch]
        if records:
            consumer.commit()
            emit("records", items=records)
        current = sorted(tp.partition for tp in consumer.assignment())
        if current != last:
            last = current
            emit("assigned", partitions=current)
    consumer.close()
    emit("closed")


def member_aiokafka(args):
    import asyncio

    from aiokafka import AIOKafkaConsumer
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    assignor = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[args.assignor]
    closing = stdin_closer()

    async def run():
        consumer = AIOKafkaConsumer(
            args.topic, bootstrap_servers=args.bootstrap, group_id=args.group, client_id=args.name,
            auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS, partition_assignment_strategy=[assignor])
        await consumer.start()
        last = None
        while not closing.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            records = [[r.partition, r.offset, r.value.decode()] for batch in batches.values() for r in batch]
            if records:
                await consumer.commit()
                emit("records", items=records)
            current = sorted(tp.partition for tp in consumer.assignment())
            if current != last:
                last = current
                emit("assigned", partitions=current)
        await consumer.stop()
        emit("closed")

    asyncio.run(run())


def member_kcat(args):
    """kcat -G: records on stdout (`partition offset value`), rebalances on stderr. Offsets are
    stored as records are delivered and committed by auto-commit and on a clean exit (SIGTERM)."""
    # Not `-o beginning`: in -G mode kcat would then start every assigned partition there,
    # ignoring the committed offsets.
    command = [args.kcat, "-u", "-b", args.bootstrap, "-G", args.group, args.topic, "-X", "auto.offset.reset=earliest",
               "-f", "%p %o %s\\n", "-X", f"session.timeout.ms={SESSION_TIMEOUT_MS}",
               "-X", f"heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}", "-X", f"client.id={args.name}",
               "-X", "auto.commit.interval.ms=500", "-X", f"partition.assignment.strategy={args.assignor}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    closing = stdin_closer()
    state = {"assigned": set()}
    lock = threading.Lock()

    def read_stderr():
        # kcat 1.7.1: "% Group G rebalanced (memberid M): assigned: t [0], t [1]" / "revoked: ...".
        for line in process.stderr:
            if "rebalanced" not in line:
                continue
            parts = line.split(": ", 2)
            what = parts[1] if len(parts) > 1 else ""
            listed = parts[2] if len(parts) > 2 else ""
            partitions = {int(p.split("[")[1].split("]")[0]) for p in listed.split(",") if "[" in p}
            with lock:
                if what.startswith("assigned"):
                    state["assigned"] = partitions
                elif what.startswith("revoked"):
                    state["assigned"] = set()
                emit("assigned", partitions=sorted(state["assigned"]))

    def read_stdout():
        for line in process.stdout:
            fields = line.strip().split(" ", 2)
            if len(fields) == 3:
                with lock:
                    emit("records", items=[[int(fields[0]), int(fields[1]), fields[2]]])

    readers = [threading.Thread(target=read_stderr, daemon=True), threading.Thread(target=read_stdout, daemon=True)]
    for reader in readers:
        reader.start()
    closing.wait()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    for reader in readers:
        reader.join(timeout=5)
    emit("closed")


def member_swift(args):
    """`rivulet consume --group`: records on stdout (`Partition:p<TAB>Offset:o<TAB>value`), assignment
    changes on stderr (`% Assigned partitions: t-0,t-1`, `% Revoked ...`, `% Lost ...`). It commits
    with auto commit (500 ms), before giving partitions up and when it stops on SIGTERM."""
    command = [args.rivulet, "consume", "--bootstrap", args.bootstrap, "--topic", args.topic, "--group", args.group,
               "--client-id", args.name, "--from-beginning",
               "--property", "print.partition=true", "--property", "print.offset=true",
               "--consumer-property", f"partition.assignment.strategy={args.assignor}",
               "--consumer-property", f"session.timeout.ms={SESSION_TIMEOUT_MS}",
               "--consumer-property", f"heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}",
               "--consumer-property", "auto.commit.interval.ms=500"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    closing = stdin_closer()
    state = {"assigned": set()}
    lock = threading.Lock()

    def partitions_of(listed):
        return {int(item.rsplit("-", 1)[1]) for item in listed.split(",") if "-" in item}

    def read_stderr():
        for line in process.stderr:
            line = line.strip()
            if not line.startswith("% "):
                continue
            what, _, listed = line[2:].partition(": ")
            with lock:
                if what == "Assigned partitions":
                    state["assigned"] |= partitions_of(listed)
                elif what in ("Revoked partitions", "Lost partitions"):
                    state["assigned"] -= partitions_of(listed)
                else:
                    continue
                emit("assigned", partitions=sorted(state["assigned"]))

    def read_stdout():
        for line in process.stdout:
            fields = line.rstrip("\n").split("\t", 2)
            if len(fields) == 3 and fields[0].startswith("Partition:") and fields[1].startswith("Offset:"):
                with lock:
                    emit("records", items=[[int(fields[0][10:]), int(fields[1][7:]), fields[2]]])

    readers = [threading.Thread(target=read_stderr, daemon=True), threading.Thread(target=read_stdout, daemon=True)]
    for reader in readers:
        reader.start()
    closing.wait()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    for reader in readers:
        reader.join(timeout=5)
    emit("closed")


MEMBERS = {"swift": member_swift, "confluent": member_confluent, "kafka-python": member_kafka_python, "aiokafka": member_aiokafka,
           "kcat": member_kcat}


# --- the controller ----------------------------------------------------------------------------


class Member:
    """A consumer process and what it reported: its current assignment and the records it consumed."""

    def __init__(self, args, group, name, client=None):
        self.name = name
        command = [sys.executable, os.path.abspath(__file__), "member", "--client", client or args.client,
                   "--assignor", args.assignor, "--bootstrap", args.bootstrap, "--topic", args.topic_name, "--group", group,
                   "--name", name, "--kcat", args.kcat, "--rivulet", args.rivulet]
        # Its own process group, so that killing it also kills what it runs (kcat).
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, bufsize=1, start_new_session=True)
        self.assignment = set()
        self.assignment_changed = time.monotonic()
        self.records = []
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.errors = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if event["event"] == "assigned":
                    self.assignment = set(event["partitions"])
                    self.assignment_changed = time.monotonic()
                elif event["event"] == "records":
                    self.records.extend(tuple(item) for item in event["items"])
                elif event["event"] == "closed":
                    self.closed.set()
        self.closed.set()

    def _read_errors(self):
        for line in self.process.stderr:
            self.errors.append(line.rstrip())

    def snapshot(self):
        with self.lock:
            return set(self.assignment), self.assignment_changed, list(self.records)

    def close(self, seconds=30):
        try:
            self.process.stdin.write("close\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        if not self.closed.wait(seconds):
            self.kill()
            fail(f"{self.name} did not close within {seconds} s: {self.errors[-5:]}")
        self.process.wait(timeout=10)

    def kill(self):
        """SIGKILL to the member and everything it started: no LeaveGroup is sent."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


def wait_for(description, seconds, condition):
    deadline = Deadline(seconds)
    while deadline:
        if condition():
            return
        time.sleep(0.05)
    fail(f"timed out after {seconds} s waiting until {description}")


def produce(args, values_by_partition):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5})
    for partition, values in values_by_partition.items():
        for value in values:
            producer.produce(args.topic_name, value=value.encode(), partition=partition)
    expect(producer.flush(30) == 0, "records not delivered within 30 s")


def split_is_complete(a, b):
    """Both own something, nothing twice, everything once, and stable for 1.5 s."""
    sa, ta, _ = a.snapshot()
    sb, tb, _ = b.snapshot()
    stable = time.monotonic() - max(ta, tb) > 1.5
    return stable and sa and sb and not (sa & sb) and (sa | sb) == set(range(PARTITIONS))


def rivulet_groups(args, *command):
    """Runs `rivulet groups COMMAND... --bootstrap` and returns its stdout (fails on a bad exit)."""
    result = subprocess.run([args.rivulet, "groups", *command, "--bootstrap", args.bootstrap], capture_output=True, text=True,
                            timeout=60)
    expect(result.returncode == 0, f"rivulet groups {' '.join(command)} exited {result.returncode}: {result.stderr.strip()[-300:]}")
    return result.stdout


def offsets_table(text, group):
    """The describe output's partition rows: partition -> (current, log end, lag, consumer id)."""
    rows = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 9 and fields[0] == group and fields[2].isdigit():
            rows[int(fields[2])] = (fields[3], fields[4], fields[5], fields[6])
    return rows


def check_cli_stable(args, group, members):
    """`rivulet groups list/describe` while `members` share the group: Stable, every partition owned."""
    expect(group in rivulet_groups(args, "list").split(), f"rivulet groups list does not show {group}")
    text = rivulet_groups(args, "describe", group)
    expect("state Stable" in text and f"{members} members" in text, f"unexpected describe header: {text.splitlines()[:1]}")
    rows = offsets_table(text, group)
    expect(sorted(rows) == list(range(PARTITIONS)) and all(row[3] != "-" for row in rows.values()),
           f"describe does not show all {PARTITIONS} partitions with an owner: {rows}")


def check_cli_caught_up(args, group, end_offset):
    """After every member closed: Empty, committed offsets at the log end, lag 0 on every partition."""
    text = rivulet_groups(args, "describe", group)
    expect("state Empty" in text, f"unexpected describe header: {text.splitlines()[:1]}")
    rows = offsets_table(text, group)
    expected = {p: (str(end_offset), str(end_offset), "0", "-") for p in range(PARTITIONS)}
    expect(rows == expected, f"describe after closing: {rows}")


def controller(args):
    from confluent_kafka.admin import AdminClient, NewTopic

    members = []

    def client_for(index):
        return args.peer if args.peer and index % 2 == 1 else args.client

    try:
        admin = AdminClient({"bootstrap.servers": args.bootstrap})
        for future in admin.create_topics([NewTopic(args.topic_name, PARTITIONS, 1)]).values():
            future.result(30)
        group = f"{args.topic_name}-group"
        first = {p: [f"a-{p}-{i}" for i in range(50)] for p in range(PARTITIONS)}
        produce(args, first)
        expected_first = {(p, i, v) for p, values in first.items() for i, v in enumerate(values)}

        # 1. Two members split the partitions disjointly and completely, and consume everything.
        a = Member(args, group, "member-a", client_for(0))
        b = Member(args, group, "member-b", client_for(1))
        members += [a, b]
        wait_for("two members own disjoint sets covering all 8 partitions", 60, lambda: split_is_complete(a, b))
        split = (sorted(a.snapshot()[0]), sorted(b.snapshot()[0]))

        def first_consumed():
            return set(a.snapshot()[2]) | set(b.snapshot()[2])

        wait_for("the first 400 records are consumed", 60, lambda: expected_first <= first_consumed())
        cli = os.path.isfile(args.rivulet) and os.access(args.rivulet, os.X_OK)
        if cli:
            check_cli_stable(args, group, 2)

        # 2. One leaves: the other gets all 8.
        b.close()
        wait_for("the remaining member owns all 8 partitions", 30, lambda: a.snapshot()[0] == set(range(PARTITIONS)))
        a.close()
        extra = first_consumed() - expected_first
        expect(not extra, f"records that were never produced: {sorted(extra)[:5]}")

        # 3. A new member resumes at the committed offsets: exactly the records produced since.
        second = {p: [f"b-{p}-{i}" for i in range(25)] for p in range(PARTITIONS)}
        produce(args, second)
        expected_second = {(p, 50 + i, v) for p, values in second.items() for i, v in enumerate(values)}
        c = Member(args, group, "member-c", client_for(2))
        members.append(c)
        wait_for("the new member consumes the 200 new records", 60, lambda: len(c.snapshot()[2]) >= len(expected_second))
        time.sleep(1.0)  # Anything extra (a duplicate) would arrive now.
        c.close()
        got = c.snapshot()[2]
        duplicates = len(got) - len(set(got))
        old = [r for r in got if r[2].startswith("a-")]
        missing = expected_second - set(got)
        expect(not old, f"the new member re-read {len(old)} committed records, e.g. {old[:3]}")
        expect(duplicates == 0, f"{duplicates} duplicates")
        expect(not missing, f"{len(missing)} records lost, e.g. {sorted(missing)[:3]}")
        if cli:
            check_cli_caught_up(args, group, 75)

        # 4. A member killed without leaving is expired; the survivor gets everything in time.
        d = Member(args, group, "member-d", client_for(3))
        e = Member(args, group, "member-e", client_for(4))
        members += [d, e]
        wait_for("two new members split the partitions", 60, lambda: split_is_complete(d, e))
        killed_at = time.monotonic()
        e.kill()
        limit = SESSION_TIMEOUT_MS / 1000 + 1
        wait_for("the survivor owns all 8 partitions", limit + 10, lambda: d.snapshot()[0] == set(range(PARTITIONS)))
        reassigned = d.snapshot()[1] - killed_at
        expect(reassigned <= limit, f"partitions of the killed member were reassigned after {reassigned:.1f} s "
                                    f"(session.timeout.ms + 1 s = {limit:.0f} s)")
        d.close()
        if cli:
            expect("succeeded" in rivulet_groups(args, "delete", group), "rivulet groups delete did not succeed")
            expect(group not in rivulet_groups(args, "list").split(), f"{group} is still listed after its deletion")
        clients = f"{args.client}+{args.peer}" if args.peer else args.client
        print(f"{clients} {args.assignor}: split {split[0]} / {split[1]}; leave -> 8 to the other; "
              f"resumed at committed offsets ({len(got)} records, 0 duplicates, 0 lost); "
              f"killed member's partitions reassigned in {reassigned:.1f} s"
              + ("; rivulet groups list/describe/delete ok" if cli else ""))
    finally:
        for member in members:
            member.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="controller", choices=["controller", "member"])
    parser.add_argument("--client", required=True, choices=sorted(MEMBERS))
    parser.add_argument("--assignor", default="range", choices=["range", "roundrobin", "cooperative-sticky"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group")
    parser.add_argument("--name", default="member")
    parser.add_argument("--kcat", default="kcat")
    parser.add_argument("--peer", choices=sorted(MEMBERS), help="members b and d use this client instead")
    parser.add_argument("--rivulet", default="rivulet", help="the rivulet binary (for --client/--peer swift)")
    parser.add_argument("--records", type=int, default=0, help="ignored (test-clients.sh passes it to every check)")
    args = parser.parse_args()
    if args.mode == "member":
        MEMBERS[args.client](args)
        return
    args.topic_name = f"{args.topic}-{args.client}-{args.assignor}" + (f"-{args.peer}" if args.peer else "")
    controller(args)


if __name__ == "__main__":
    main()
