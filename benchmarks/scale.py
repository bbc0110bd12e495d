"""Scale: 100 CLBs × 50 listeners (5,000 bound TCP listeners), 2 health-checked targets each.

Every listener has its *own* two targets (10,000 distinct backend ports, all served by one
nginx on a loopback address of their own), so neither openclb nor HAProxy can share a
check between listeners: both run 10,000 TCP checks every 5 s (timeout 2 s, rise/fall 3).

openclb, configured through the SDK the way a user scripting it would (per CLB:
CreateLoadBalancer, one CreateListener with 50 ports, one BatchRegisterTargets with 100
targets; eight CLBs at a time), is measured for: time until every port accepts; time until
every target is reported Alive; resident memory; idle CPU with the checks running;
DescribeListeners and DescribeTargetHealth latency for one CLB; and the time from a
restart (SIGTERM, then a new process on the same data dir) until every port accepts again.

HAProxy gets the same 5,000 frontends and 10,000 checked servers from a generated config
(``mode tcp``, one thread) and is measured for start-to-bound, memory and idle CPU, after
openclb has stopped so the two never share the machine's idle time.

Quick mode builds 10 CLBs (500 listeners, 1,000 checks); its memory and rebind figures are
marked as such, since the targets are set for the full size.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from benchmarks import clb, peers
from benchmarks.harness import Bench, CpuMeter, free_port, percentile, port_range_free, rss_bytes, wait_until
from benchmarks.report import Check, Section, Table, bound_check, fmt, ratio_check

LISTENERS_PER_CLB = 50
FIRST_LISTENER_PORT = 10000
BACKEND_HOST = "127.84.0.1"
OPENCLB_VIP_POOL = "127.85.0.0/16"
HAPROXY_VIP_PREFIX = "127.86"
SETUP_THREADS = 8
CHECK_INTERVAL_S = 5
TARGET_RSS_MB = 160
TARGET_REBIND_S = 5.0
TARGET_DESCRIBE_MS = 20.0


def backend_ports_free(count: int) -> list[int]:
    """``count`` consecutive ports free on BACKEND_HOST, searched from 20000 upwards."""
    for start in range(20000, 60000 - count, 1000):
        ports = list(range(start, start + count))
        if port_range_free(BACKEND_HOST, ports):
            return ports
    raise RuntimeError(f"no {count} consecutive free ports on {BACKEND_HOST}")


def _vip_of_index(index: int) -> str:
    return f"{HAPROXY_VIP_PREFIX}.{index // 250}.{index % 250 + 1}"


def _listener_ports() -> list[int]:
    return list(range(FIRST_LISTENER_PORT, FIRST_LISTENER_PORT + LISTENERS_PER_CLB))


def _unbound(addresses: list[tuple[str, int]]) -> list[tuple[str, int]]:
    pending = []
    for address in addresses:
        with socket.socket() as probe:
            if probe.connect_ex(address) != 0:
                pending.append(address)
    return pending


def _wait_all_bound(addresses: list[tuple[str, int]], timeout: float) -> bool:
    pending = list(addresses)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = _unbound(pending)
        if pending:
            time.sleep(0.005)
    return not pending


# -- openclb -----------------------------------------------------------------------------


def _create_clb_retrying(client, name: str, retries: list[int]) -> tuple[str, str]:
    """CreateLoadBalancer, retried as its ResourceInsufficient answer asks (concurrent VIP picks collide)."""
    for _ in range(50):
        try:
            return clb.create_clb(client, name)
        except TencentCloudSDKException as exc:
            if exc.code != "ResourceInsufficient":
                raise
            retries.append(1)
            time.sleep(0.01)
    raise RuntimeError(f"CreateLoadBalancer {name}: no VIP after 50 tries")


def build_clb(server: clb.OpenclbServer, index: int, backend_ports: list[int], retries: list[int]) -> tuple[str, str]:
    client = server.client()
    lb_id, vip = _create_clb_retrying(client, f"bench-scale-{index}", retries)
    listener_ids = clb.create_listeners(client, lb_id, "TCP", _listener_ports(), clb.HEALTH_TCP_5S)
    first = index * LISTENERS_PER_CLB * 2
    targets = [
        {"ListenerId": listener_id, "EniIp": BACKEND_HOST, "Port": backend_ports[first + 2 * n + k]}
        for n, listener_id in enumerate(listener_ids) for k in (0, 1)
    ]
    response = clb.call(client, "BatchRegisterTargets", {"LoadBalancerId": lb_id, "Targets": targets})
    if response.get("FailListenerIdSet"):
        raise RuntimeError(f"BatchRegisterTargets failed for {response['FailListenerIdSet']}")
    clb.wait_task(client, response["RequestId"])
    return lb_id, vip


def _alive_count(server: clb.OpenclbServer, lb_ids: list[str]) -> int:
    client = server.client()
    alive = 0
    for start in range(0, len(lb_ids), 30):
        report = clb.call(client, "DescribeTargetHealth", {"LoadBalancerIds": lb_ids[start:start + 30]})
        for lb in report["LoadBalancers"]:
            for listener in lb["Listeners"]:
                for rule in listener["Rules"]:
                    alive += sum(1 for t in rule["Targets"] if t["HealthStatusDetail"] == "Alive")
    return alive


def _latency_series(server: clb.OpenclbServer, request: clb.SignedRequest, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    clb.check_ok(request.send(conn), request.action)
    values = []
    for _ in range(count):
        started = time.perf_counter()
        request.send(conn)
        values.append((time.perf_counter() - started) * 1000)
    conn.close()
    return values


def tcp_active_opens() -> int:
    """TCP connects started on this machine since boot (/proc/net/snmp, Tcp ActiveOpens)."""
    rows = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("ActiveOpens")])


def _idle_window(pid: int, seconds: float) -> tuple[float, float]:
    """(CPU % of one core, TCP connects started per second) over ``seconds`` of idling.

    Connects are counted by the kernel, not by the backends: TCP checks are half-open (SYN,
    SYN-ACK, RST) for openclb as for HAProxy, so no backend ever accepts one.
    """
    opened = tcp_active_opens()
    with CpuMeter(pid) as meter:
        time.sleep(seconds)
    return meter.cpu / meter.wall * 100, (tcp_active_opens() - opened) / meter.wall


def _measure_openclb(bench: Bench, n_clbs: int, backend_ports: list[int], idle_s: float, samples: int,
                     progress: Callable[[str], None]) -> dict:
    figures: dict = {}
    server = clb.OpenclbServer(bench, "scale-openclb", OPENCLB_VIP_POOL).start()
    progress(f"openclb: creating {n_clbs} CLBs × {LISTENERS_PER_CLB} listeners with 2 targets each")
    started = time.monotonic()
    retries: list[int] = []
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        built = list(pool.map(lambda i: build_clb(server, i, backend_ports, retries), range(n_clbs)))
    figures["api_done_s"] = time.monotonic() - started
    figures["vip_retries"] = len(retries)
    lb_ids = [lb_id for lb_id, _ in built]
    addresses = [(vip, port) for _, vip in built for port in _listener_ports()]
    if not _wait_all_bound(addresses, 120):
        raise RuntimeError("openclb: not every listener accepts after creation")
    figures["create_s"] = time.monotonic() - started

    targets = len(addresses) * 2
    progress(f"openclb: waiting for {targets:,} targets to be reported Alive")
    settle_started = time.monotonic()
    if not wait_until(lambda: _alive_count(server, lb_ids) >= targets, CHECK_INTERVAL_S * 6 + 30, 1.0):
        raise RuntimeError(f"openclb: only {_alive_count(server, lb_ids)} of {targets} targets Alive")
    figures["all_alive_s"] = time.monotonic() - settle_started
    time.sleep(1)
    progress(f"openclb: idle CPU over {idle_s:g} s with checks on")
    figures["idle_cpu_pct"], figures["checks_per_s"] = _idle_window(server.pid, idle_s)
    figures["rss_mb"] = rss_bytes(server.pid) / 2**20

    client = server.client()
    one = lb_ids[len(lb_ids) // 2]
    figures["describe_listeners"] = _latency_series(
        server, clb.presign(client, "DescribeListeners", {"LoadBalancerId": one}), samples)
    figures["describe_health"] = _latency_series(
        server, clb.presign(client, "DescribeTargetHealth", {"LoadBalancerIds": [one]}), samples)

    progress("openclb: restart and rebind")
    figures["stop_s"] = server.stop()
    spawned = time.monotonic()
    server.spawn()
    server.wait_ready()
    figures["restart_api_s"] = time.monotonic() - spawned
    if not _wait_all_bound(addresses, 120):
        raise RuntimeError("openclb: not every listener accepts after the restart")
    figures["restart_bound_s"] = time.monotonic() - spawned
    figures["rss_after_restart_mb"] = rss_bytes(server.pid) / 2**20
    server.stop()
    return figures


# -- HAProxy -----------------------------------------------------------------------------


def haproxy_config(bench: Bench, n_clbs: int, backend_ports: list[int]) -> tuple[peers.HaproxyConfig, list]:
    frontends, addresses = [], []
    for index in range(n_clbs):
        vip = _vip_of_index(index)
        for n, port in enumerate(_listener_ports()):
            first = (index * LISTENERS_PER_CLB + n) * 2
            frontends.append(peers.Frontend(
                f"{index}_{port}", (vip, port),
                [(BACKEND_HOST, backend_ports[first]), (BACKEND_HOST, backend_ports[first + 1])],
                check_inter_s=CHECK_INTERVAL_S, check_timeout_s=2, rise=3, fall=3,
            ))
            addresses.append((vip, port))
    config = peers.HaproxyConfig(frontends, maxconn=2000, stats_socket=bench.workdir / "scale-haproxy.sock")
    return config, addresses


def _measure_haproxy(bench: Bench, n_clbs: int, backend_ports: list[int], idle_s: float,
                     progress: Callable[[str], None]) -> dict:
    figures: dict = {}
    config, addresses = haproxy_config(bench, n_clbs, backend_ports)
    progress(f"HAProxy: {len(addresses):,} frontends, {len(addresses) * 2:,} checked servers")
    started = time.monotonic()
    service = peers.start_haproxy(bench, "scale-haproxy", config, ready_timeout=120)
    if not _wait_all_bound(addresses, 120):
        raise RuntimeError("HAProxy: not every frontend accepts")
    figures["create_s"] = time.monotonic() - started
    total = len(addresses) * 2
    settle_started = time.monotonic()
    wait_until(lambda: peers.haproxy_checks_passing(config.stats_socket)[0] >= total, CHECK_INTERVAL_S * 6 + 30, 1.0)
    figures["all_alive_s"] = time.monotonic() - settle_started
    figures["passing"] = peers.haproxy_checks_passing(config.stats_socket)
    time.sleep(1)
    progress(f"HAProxy: idle CPU over {idle_s:g} s with checks on")
    figures["idle_cpu_pct"], figures["checks_per_s"] = _idle_window(service.pid, idle_s)
    figures["rss_mb"] = rss_bytes(service.pid) / 2**20
    figures["stop_s"] = service.stop()
    restarted = time.monotonic()
    service = peers.start_haproxy(bench, "scale-haproxy-restart", config, ready_timeout=120)
    if not _wait_all_bound(addresses, 120):
        raise RuntimeError("HAProxy: not every frontend accepts after the restart")
    figures["restart_bound_s"] = time.monotonic() - restarted
    service.stop()
    return figures


# -- the section -------------------------------------------------------------------------


def run_scale(bench: Bench, progress: Callable[[str], None]) -> list[Section]:
    n_clbs = bench.pick(10, 100)
    idle_s = bench.pick(5, 30)
    samples = bench.pick(50, 200)
    listeners = n_clbs * LISTENERS_PER_CLB
    backend_ports = backend_ports_free(listeners * 2)
    status_port = free_port()
    progress(f"nginx accepting health checks on {len(backend_ports):,} ports")
    nginx = peers.start_nginx(bench, "scale-nginx", [(BACKEND_HOST, port) for port in backend_ports], 120, status_port)
    ours = _measure_openclb(bench, n_clbs, backend_ports, idle_s, samples, progress)
    theirs = _measure_haproxy(bench, n_clbs, backend_ports, idle_s, progress)
    nginx.stop()
    expected_checks = listeners * 2 / CHECK_INTERVAL_S
    checking = ours["checks_per_s"] >= expected_checks / 2

    size = f"{n_clbs} CLBs × {LISTENERS_PER_CLB} listeners = {listeners:,} listeners, {listeners * 2:,} checked targets"
    reduced = "" if n_clbs == 100 else " (quick mode: reduced size; the target is for 5,000 listeners)"
    section = Section(f"Scale: {size}")
    table = Table(f"Scale: {size}", ["Figure", "openclb", "HAProxy 2.6 (mode tcp, 1 thread)"])
    if not checking:
        table.notes.append("openclb's targets were never probed in this run (too few TCP connects were started "
                           "while it idled), so its idle CPU is without checks.")
    table.rows += [
        ["Create everything → every port accepts (s)", fmt(ours["create_s"], 2),
         f"{fmt(theirs['create_s'], 2)} (config check + start)"],
        ["  of which API calls (s)", fmt(ours["api_done_s"], 2), "—"],
        ["  CreateLoadBalancer retried on ResourceInsufficient (VIP race)", str(ours["vip_retries"]), "—"],
        ["Until every target is reported healthy (s)", fmt(ours["all_alive_s"], 1),
         f"{fmt(theirs['all_alive_s'], 1)} ({theirs['passing'][0]:,}/{theirs['passing'][1]:,} L4OK)"],
        ["Resident memory (MB)", fmt(ours["rss_mb"], 1), fmt(theirs["rss_mb"], 1)],
        ["Resident memory after restart (MB)", fmt(ours["rss_after_restart_mb"], 1), "—"],
        [f"Idle CPU with checks on (% of a core, {idle_s:g} s)", fmt(ours["idle_cpu_pct"], 2),
         fmt(theirs["idle_cpu_pct"], 2)],
        [f"TCP connects started on the machine per s while idling (kernel ActiveOpens; expected "
         f"{expected_checks:,.0f} checks)", fmt(ours["checks_per_s"], 0), fmt(theirs["checks_per_s"], 0)],
        ["DescribeListeners, one CLB of 50 listeners: p50 / p99 (ms)",
         f"{fmt(percentile(ours['describe_listeners'], 50), 2)} / {fmt(percentile(ours['describe_listeners'], 99), 2)}",
         "—"],
        ["DescribeTargetHealth, one CLB: p50 / p99 (ms)",
         f"{fmt(percentile(ours['describe_health'], 50), 2)} / {fmt(percentile(ours['describe_health'], 99), 2)}",
         "—"],
        ["Graceful stop (s)", fmt(ours["stop_s"], 2), fmt(theirs["stop_s"], 2)],
        ["Restart → API answers (s)", fmt(ours["restart_api_s"], 2), "—"],
        ["Restart → every port accepts (s)", fmt(ours["restart_bound_s"], 2), fmt(theirs["restart_bound_s"], 2)],
    ]
    table.notes.append(f"Checks: TCP connect every {CHECK_INTERVAL_S} s, timeout 2 s, rise/fall 3, each listener "
                       f"with its own two targets on {BACKEND_HOST} (nginx listening). Both peers check half-open "
                       f"(SYN, SYN-ACK, RST), so nginx never accepts a check. Latencies: {samples} "
                       "sequential pre-signed requests on one kept-alive connection.")
    table.notes.append("openclb set-up: per CLB CreateLoadBalancer + CreateListener (50 ports) + BatchRegisterTargets "
                       f"(100 targets), {SETUP_THREADS} CLBs at a time through the SDK.")
    section.tables.append(table)
    section.checks += [
        bound_check("Scale: resident memory" + reduced, ours["rss_mb"], "<=", TARGET_RSS_MB, "MB",
                    f"HAProxy {theirs['rss_mb']:.0f} MB"),
        ratio_check("Scale: idle CPU with checks vs HAProxy", ours["idle_cpu_pct"], theirs["idle_cpu_pct"], "<=", 2.0,
                    f"{ours['idle_cpu_pct']:.2f}% vs {theirs['idle_cpu_pct']:.2f}% of a core" + reduced)
        if checking else
        Check("Scale: idle CPU with checks vs HAProxy", f"{ours['idle_cpu_pct']:.2f}% of a core", "≤ 2.00×", None,
              f"openclb ran no health checks ({ours['checks_per_s']:,.0f} TCP connects/s started, "
              f"{expected_checks:,.0f} expected): nothing to compare; HAProxy "
              f"{theirs['idle_cpu_pct']:.2f}%"),
        bound_check("Scale: restart → every listener rebound" + reduced, ours["restart_bound_s"], "<=",
                    TARGET_REBIND_S, "s", f"HAProxy cold start {theirs['restart_bound_s']:.2f} s", digits=2),
        bound_check("Scale: DescribeListeners one CLB, p99" + reduced, percentile(ours["describe_listeners"], 99), "<=",
                    TARGET_DESCRIBE_MS, "ms", f"p50 {percentile(ours['describe_listeners'], 50):.1f} ms", digits=2),
        Check("Scale: time to create everything (info)", f"{ours['create_s']:.1f} s", "no target", None,
              f"HAProxy config check + start: {theirs['create_s']:.1f} s"),
    ]
    return [section]
