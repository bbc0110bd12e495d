"""Durability: kill -9 during a write storm on each store, database outages, the descriptor budget.

The same probe as ``tests/reliability/test_kill_and_outage.py`` with the issue's counts: a real
``openclb serve`` takes signed CreateListener calls in a loop (``storm.WriteStorm``) and is
killed with SIGKILL and started again 10 times per store (3 quick), or its PostgreSQL database
refuses every connection for 3 s, 3 times (1 quick). Counted through the official SDK:
acknowledged writes lost, tasks still running after a 20 s settle deadline, CLBs refusing the
next write. Every count must be 0. At the descriptor budget (``openclb serve`` under an
RLIMIT_NOFILE of 2,000 with a TCP listener filled until it refuses), signed calls on fresh
connections must still answer within 50 ms (p99).
"""

from __future__ import annotations

import random
import socket
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Bench, percentile
from benchmarks.report import Check, Section, Table, bound_check, fmt

REPO = Path(__file__).resolve().parent.parent
for folder in ("tests", "tests/integration", "tests/reliability"):
    if str(REPO / folder) not in sys.path:
        sys.path.insert(0, str(REPO / folder))

from backends import NamedBackend  # noqa: E402
from clb_support import create_clb_with_vip, write  # noqa: E402
from conftest import drop_pg_schema, pg_schema_url, sdk_client  # noqa: E402
from gateway_support import serve_on_own_port  # noqa: E402
from outage import OwnDatabase  # noqa: E402
from storm import Verdict, WriteStorm  # noqa: E402

STORM_FLAGS = ("--quota", "TOTAL_LISTENER_QUOTA=5000", "--rate-limit", "*=100000", "--metrics-listen", "off")


def _kills(store: str, rounds: int, progress) -> tuple[list[str], Verdict]:
    schema = None
    store_url = ""
    if store == "postgresql":
        store_url, schema = pg_schema_url()
    with tempfile.TemporaryDirectory(prefix="openclb-durability-") as directory:
        serve = serve_on_own_port(Path(directory), *STORM_FLAGS, store_url=store_url)
        serve.start()
        restarts: list[float] = []
        try:
            client = sdk_client(serve.url)
            lb_id, _ = create_clb_with_vip(client, "storm")
            storm = WriteStorm(sdk_client(serve.url), lb_id, 20000).start()
            pauses = random.Random(20261129)
            for _ in range(rounds):
                time.sleep(pauses.uniform(0.3, 1.0))
                serve.kill()
                started = time.monotonic()
                serve.start()
                restarts.append(time.monotonic() - started)
            time.sleep(0.3)
            storm.stop()
            verdict = Verdict.of(client, [lb_id], storm.acknowledged)
        finally:
            serve.stop()
            if schema:
                drop_pg_schema(schema)
    progress(f"kill -9 ×{rounds} on {store}: {verdict}")
    row = [store, str(rounds), str(storm.attempts), str(verdict.acknowledged), str(verdict.lost), str(verdict.failed),
           str(verdict.stuck), str(verdict.locked), f"{max(restarts):.2f}"]
    return row, verdict


def _outages(rounds: int, progress) -> tuple[list[str], Verdict]:
    database = OwnDatabase()
    with tempfile.TemporaryDirectory(prefix="openclb-outage-") as directory:
        serve = serve_on_own_port(Path(directory), *STORM_FLAGS, store_url=database.url)
        serve.start()
        try:
            client = sdk_client(serve.url)
            lb_ids = []
            storms = []
            for index in range(rounds):
                lb_id, _ = create_clb_with_vip(client, f"outage-{index}")
                lb_ids.append(lb_id)
                storm = WriteStorm(sdk_client(serve.url), lb_id, 21000).start()
                storms.append(storm)
                time.sleep(0.5)
                database.cut()
                time.sleep(3)
                database.restore()
                time.sleep(1)
                storm.stop()
            acknowledged = [a for storm in storms for a in storm.acknowledged]
            verdict = Verdict.of(client, lb_ids, acknowledged)
        finally:
            serve.stop()
            database.close()
    progress(f"database outages ×{rounds}: {verdict}")
    row = ["postgresql (3 s outages)", str(rounds), str(sum(s.attempts for s in storms)), str(verdict.acknowledged),
           str(verdict.lost), str(verdict.failed), str(verdict.stuck), str(verdict.locked), "—"]
    return row, verdict


def _timed_fresh_calls(url: str, lb_id: str, count: int) -> list[float]:
    """Signed DescribeLoadBalancers, each from a new client on a new connection, in ms."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        sdk_client(url).call_json("DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})
        times.append((time.perf_counter() - started) * 1000)
    return times


def _at_the_budget(bench: Bench, progress) -> tuple[Table, Check]:
    port, open_files = 8643, 2000
    held: list[socket.socket] = []
    backend = NamedBackend("t", end=b"\n")
    with tempfile.TemporaryDirectory(prefix="openclb-budget-") as directory:
        serve = serve_on_own_port(Path(directory), "--metrics-listen", "off", "--rate-limit", "*=100000",
                                  open_files=open_files).start()
        try:
            client = sdk_client(serve.url)
            lb_id, vip = create_clb_with_vip(client)
            (listener_id,) = write(client, "CreateListener", {
                "LoadBalancerId": lb_id, "Ports": [port], "Protocol": "TCP",
                "HealthCheck": {"HealthSwitch": 0}})["ListenerIds"]
            write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                              "Targets": [{"EniIp": "127.0.0.1", "Port": backend.port}]})
            before = _timed_fresh_calls(serve.url, lb_id, bench.pick(20, 50))
            refused = 0
            while refused < 20 and len(held) < open_files:
                sock = socket.create_connection((vip, port), timeout=5)
                try:
                    greeted = sock.recv(16) == b"t\n"
                except ConnectionResetError:
                    greeted = False
                if greeted:
                    held.append(sock)
                else:
                    refused += 1
                    sock.close()
            at_budget = _timed_fresh_calls(serve.url, lb_id, bench.pick(20, 50))
        finally:
            for sock in held:
                sock.close()
            serve.stop()
            backend.close()
    progress(f"descriptor budget: {len(held)} relays held, p99 {percentile(at_budget, 99):.1f} ms")
    table = Table(f"Signed calls on fresh connections at the descriptor budget (RLIMIT_NOFILE {open_files:,})",
                  ["Load", "Relays held", "New relays refused", "p50 ms", "p99 ms"],
                  [["below the budget", "0", "0", fmt(percentile(before, 50), 2), fmt(percentile(before, 99), 2)],
                   ["at the budget", str(len(held)), str(refused), fmt(percentile(at_budget, 50), 2),
                    fmt(percentile(at_budget, 99), 2)]])
    return table, bound_check("At the descriptor budget: signed call p99", percentile(at_budget, 99), "<=", 50, "ms",
                              f"{len(held)} relays held, {refused} refused")


def run_durability(bench: Bench, progress) -> list[Section]:
    rows: list[list[str]] = []
    checks: list[Check] = []
    for store in ("sqlite", "postgresql"):
        row, verdict = _kills(store, bench.pick(3, 10), progress)
        rows.append(row)
        checks.append(bound_check(f"kill -9 during a write storm ({store}): acknowledged writes lost", verdict.lost,
                                  "<=", 0, "", f"{verdict.acknowledged} acknowledged", 0))
        checks.append(bound_check(f"kill -9 during a write storm ({store}): tasks stuck", verdict.stuck, "<=", 0, "",
                                  "", 0))
    row, verdict = _outages(bench.pick(1, 3), progress)
    rows.append(row)
    checks.append(bound_check("Database outages: CLBs locked afterwards", verdict.locked, "<=", 0, "",
                              f"{verdict.acknowledged} writes acknowledged around the outages", 0))
    checks.append(bound_check("Database outages: tasks stuck", verdict.stuck, "<=", 0, "", "", 0))
    table = Table("Write storm (signed CreateListener in a loop) broken by kill -9 or a database outage",
                  ["Store", "Rounds", "Calls sent", "Acknowledged", "Lost", "Failed (with a message)", "Stuck",
                   "CLBs locked", "Slowest restart s"], rows)
    budget_table, budget_check = _at_the_budget(bench, progress)
    return [Section("durability", [table, budget_table], checks + [budget_check])]
