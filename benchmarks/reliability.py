"""Reliability of the API port under abuse: fuzzing, the connection cap, a loud tenant.

- Fuzz: the seeded hostile requests of ``tests/reliability/fuzz_requests.py`` (10,000, or
  2,000 quick) against ``openclb serve``; answers outside the envelope and tracebacks in the
  server's log are counted (both must be 0).
- Connection cap: the server runs with ``--api-max-connections 256``; 1,000 sockets are opened,
  half of them sending a request head byte by byte never finished (slowloris); meanwhile a
  signed DescribeQuota is timed (p50/p99), and the sockets the server closed are counted.
- Loud tenant: one account sends its heaviest legal call (DescribeTargetHealth at every
  documented maximum) from 6 threads plus the issue's 600,000-ListenerIds probe twice a second
  (``tests/integration/tenants.py``, its own process); another account's DescribeQuota latency
  and a TCP relay's round trips are measured before and during, with the documented rate limit
  (20/s) and with none.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks import clb
from benchmarks.harness import Bench, percentile
from benchmarks.report import Check, Section, Table, bound_check, fmt

REPO = Path(__file__).resolve().parent.parent
for folder in ("tests", "tests/integration", "tests/reliability"):
    if str(REPO / folder) not in sys.path:
        sys.path.insert(0, str(REPO / folder))

from fuzz_requests import Generator, Key, check_answers, send  # noqa: E402
from tenants import EchoBackend, LoudTenant, relay_round_trips, timed_calls  # noqa: E402

QUIET_ID, QUIET_KEY = "AKIDbenchQuietTenant000000000000", "benchQuietKey"


class _Server(clb.OpenclbServer):
    def __init__(self, bench: Bench, name: str, vip_pool: str, extra: list[str], rate_limit: int) -> None:
        super().__init__(bench, name, vip_pool)
        self.extra, self.rate_limit = extra, rate_limit

    def argv(self) -> list[str]:
        argv = super().argv() + ["--metrics-listen", "off", *self.extra]
        return [f"*={self.rate_limit}" if arg == f"*={clb.RATE_LIMIT}" else arg for arg in argv]


def _fuzz(bench: Bench, progress) -> tuple[Table, list[Check]]:
    server = _Server(bench, "reliability-fuzz", "127.77.0.0/24", [], clb.RATE_LIMIT).start()
    count = bench.pick(2_000, 10_000)
    generator = Generator(20261129, f"127.0.0.1:{server.port}", Key(clb.SECRET_ID, clb.SECRET_KEY))
    problems: Counter[str] = Counter()
    started = time.monotonic()
    for _ in range(count):
        case = generator.case()
        for problem in check_answers(case, send(server.port, case)):
            problems[f"{case.kind}: {problem[:60]}"] += 1
    seconds = time.monotonic() - started
    log = server.service.log_tail(10_000_000) if server.service else ""
    tracebacks = log.count("Traceback")
    server.stop()
    progress(f"fuzz: {count} requests in {seconds:.1f} s, {sum(problems.values())} outside the envelope")
    table = Table("Fuzzed requests", ["Requests", "Seconds", "Answers outside the envelope", "Tracebacks logged"],
                  [[str(count), fmt(seconds), str(sum(problems.values())), str(tracebacks)]],
                  [f"{name}: {n}" for name, n in problems.most_common(5)])
    return table, [bound_check("Fuzz: answers outside the envelope", sum(problems.values()), "<=", 0, "",
                               f"{count} requests", 0),
                   bound_check("Fuzz: tracebacks logged", tracebacks, "<=", 0, "", "", 0)]


def _at_the_cap(bench: Bench, progress) -> tuple[Table, list[Check]]:
    server = _Server(bench, "reliability-cap", "127.78.0.0/24", ["--api-max-connections", "256"],
                     clb.RATE_LIMIT).start()
    client = server.client()
    baseline = timed_calls(lambda: client.call_json("DescribeQuota", {}), 2.0, pause=0.01)
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            for sock in sockets[1::2]:
                try:
                    sock.send(b"X")
                except OSError:
                    pass
            stop.wait(0.5)

    try:
        for index in range(1_000):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            if index % 2:
                sock.send(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            sockets.append(sock)
        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        at_cap = timed_calls(lambda: client.call_json("DescribeQuota", {}), bench.pick(3.0, 6.0), pause=0.01)
        stop.set()
        trickler.join(5)
        closed = sum(_closed(sock) for sock in sockets)
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
        server.stop()
    progress(f"cap: DescribeQuota p99 {percentile(at_cap, 99):.1f} ms with 1,000 idle/slow sockets, {closed} closed")
    rows = [["no idle sockets", fmt(percentile(baseline, 50), 2), fmt(percentile(baseline, 99), 2), "—"],
            ["1,000 idle/slowloris sockets, cap 256", fmt(percentile(at_cap, 50), 2), fmt(percentile(at_cap, 99), 2),
             str(closed)]]
    table = Table("Signed DescribeQuota at the connection cap", ["Load", "p50 ms", "p99 ms", "Sockets closed by server"],
                  rows)
    return table, [bound_check("API at the connection cap: DescribeQuota p99", percentile(at_cap, 99), "<=", 100, "ms",
                               f"no idle sockets: {percentile(baseline, 99):.1f} ms; {closed} of 1,000 closed", 1)]


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(0.01)
    try:
        return sock.recv(1) == b""
    except (socket.timeout, TimeoutError):
        return False
    except OSError:
        return True


def _loud_tenant(bench: Bench, progress, rate_limit: int, pool: str) -> tuple[list[str], dict[str, float]]:
    server = _Server(bench, f"reliability-tenants-{rate_limit}", pool, [], rate_limit)
    from openclb.api import accounts

    accounts.add_account(server.data_dir / "accounts.json", QUIET_ID, QUIET_KEY)
    server.start()
    echo = EchoBackend()
    seconds = bench.pick(4.0, 10.0)
    try:
        loud = server.client()
        quiet = clb.clb_client.ClbClient(clb.credential.Credential(QUIET_ID, QUIET_KEY), clb.REGION,
                                         server.client().profile)
        loud_lbs = []
        for index in range(3):
            loud_lbs.append(clb.call(loud, "CreateLoadBalancer", {"LoadBalancerType": "OPEN",
                                                                  "LoadBalancerName": f"loud-{index}"})
                            ["LoadBalancerIds"][0])
        created = clb.call(quiet, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "LoadBalancerName": "quiet"})
        clb.wait_task(quiet, created["RequestId"])
        lb_id = created["LoadBalancerIds"][0]
        vip = clb.call(quiet, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0][
            "LoadBalancerVips"][0]
        listener = clb.call(quiet, "CreateListener", {"LoadBalancerId": lb_id, "Ports": [8330], "Protocol": "TCP"})
        clb.wait_task(quiet, listener["RequestId"])
        registered = clb.call(quiet, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener["ListenerIds"][0],
                                                         "Targets": [{"EniIp": "127.0.0.1", "Port": echo.port}]})
        clb.wait_task(quiet, registered["RequestId"])

        def quiet_call() -> None:
            clb.call(quiet, "DescribeQuota", {})

        before_api = timed_calls(quiet_call, 2.0, pause=0.06)
        before_relay = relay_round_trips(vip, 8330, 2.0)
        tenant = LoudTenant(server.url, clb.SECRET_ID, clb.SECRET_KEY, loud_lbs, threads=6, seconds=seconds + 1.5)
        time.sleep(1.0)
        result: dict[str, list[float]] = {}
        relay = threading.Thread(target=lambda: result.update(relay=relay_round_trips(vip, 8330, seconds)))
        relay.start()
        during_api = timed_calls(quiet_call, seconds, pause=0.06)
        relay.join()
        loud_calls = tenant.join()
    finally:
        echo.close()
        server.stop()
    figures = {
        "api_p50_before": percentile(before_api, 50), "api_p99_before": percentile(before_api, 99),
        "api_p50": percentile(during_api, 50), "api_p99": percentile(during_api, 99),
        "relay_p99_before": percentile(before_relay, 99), "relay_p99": percentile(result["relay"], 99),
        "relay_max": max(result["relay"]),
    }
    label = f"rate limit {rate_limit}/s" if rate_limit < clb.RATE_LIMIT else "no rate limit"
    progress(f"loud tenant ({label}): other tenant p99 {figures['api_p99_before']:.1f} → {figures['api_p99']:.1f} ms, "
             f"relay p99 {figures['relay_p99_before']:.2f} → {figures['relay_p99']:.2f} ms")
    row = [label, str(loud_calls), f"{figures['api_p50_before']:.1f} → {figures['api_p50']:.1f}",
           f"{figures['api_p99_before']:.1f} → {figures['api_p99']:.1f}",
           f"{figures['relay_p99_before']:.2f} → {figures['relay_p99']:.2f}", fmt(figures["relay_max"], 1)]
    return row, figures


def run_reliability(bench: Bench, progress) -> list[Section]:
    fuzz_table, fuzz_checks = _fuzz(bench, progress)
    cap_table, cap_checks = _at_the_cap(bench, progress)
    rows, checks = [], []
    for rate_limit, pool in ((20, "127.79.0.0/24"), (clb.RATE_LIMIT, "127.80.0.0/24")):
        row, figures = _loud_tenant(bench, progress, rate_limit, pool)
        rows.append(row)
        if rate_limit == 20:
            checks.append(bound_check("Loud tenant (documented limits): other tenant's p99 growth",
                                      figures["api_p99"] - figures["api_p99_before"], "<=", 20, "ms",
                                      f"{figures['api_p99_before']:.1f} → {figures['api_p99']:.1f} ms"))
            checks.append(bound_check("Loud tenant (documented limits): relayed round trip p99",
                                      figures["relay_p99"], "<=", 50, "ms",
                                      f"before {figures['relay_p99_before']:.2f} ms; max {figures['relay_max']:.1f} ms"))
    tenant_table = Table(
        "Loud tenant: heaviest legal DescribeTargetHealth ×6 threads + 600,000-ListenerIds probe 2/s",
        ["Server", "Loud calls", "Other tenant p50 ms (before → during)", "Other tenant p99 ms",
         "Relay round trip p99 ms", "Relay max ms"], rows)
    return [Section("reliability", [fuzz_table, cap_table, tenant_table], fuzz_checks + cap_checks + checks)]
