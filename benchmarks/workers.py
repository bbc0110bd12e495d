"""Workers: ``openclb serve --workers 1`` vs ``--workers 2``, beside HAProxy ``nbthread 1`` vs ``2``.

One run, one machine, four proxies up at once, interleaved round by round so drift hits all
alike: two openclb processes (``--workers 1`` and ``--workers 2``, each its own VIP pool and
data dir) and two hand-written HAProxy configurations (``nbthread 1`` and ``nbthread 2``), all
over the same two nginx ports, health checks off on the measured listeners. Rows: the TCP
keep-alive row and the HTTP listener keep-alive row of the ``dataplane`` area (wrk -c64).
CPU per request is summed over the proxy process and its descendants, which is where
``--workers`` relays (harness.CpuMeter).

Then what a second worker must not change:
- **Health checks are not multiplied**: each openclb gets one TCP listener with checks every
  3 s on its own nginx (stub_status counts the connections it accepted); over a fixed window
  both nginx count the probes they received, 1 worker vs 2.
- **The API and /metrics agree**: K new connections through a fresh listener of each openclb,
  then ``openclb_listener_connections_total`` and the per-target totals on ``/metrics`` must
  both say K, and DescribeTargetHealth must give the health ``/metrics`` gives.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from collections.abc import Callable

import psutil
import requests

from benchmarks import clb, peers
from benchmarks.dataplane import HTTP_DOMAIN, WRK_CONNECTIONS, Path, create_http_listener
from benchmarks.harness import Bench, CpuMeter, free_port, free_ports, median, run_wrk, wait_until
from benchmarks.report import Check, Section, Table, bound_check, fmt, ratio_check

TCP_PORT = 8080
HTTP_PORT = 8081
PROBE_PORT = 8083
COUNT_PORT = 8084
# HTTP checks: a TCP check is half-open (SYN, SYN-ACK, RST), so the target's nginx never sees it.
PROBE_CHECK = {"HealthSwitch": 1, "TimeOut": 2, "IntervalTime": 3, "HealthNum": 2, "UnHealthNum": 2,
               "HttpCheckPath": "/", "HttpCode": 2}
WORKERS = (1, 2)


def _probed_http_listener(client, lb_id: str, port: int) -> str:
    """An HTTP listener with one rule over ``port`` whose target is health-checked by HTTP."""
    created = clb.call(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "HTTP", "Ports": [PROBE_PORT]})
    clb.wait_task(client, created["RequestId"])
    listener_id = created["ListenerIds"][0]
    rule = clb.call(client, "CreateRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Rules": [
        {"Domain": HTTP_DOMAIN, "Url": "/", "HealthCheck": PROBE_CHECK}]})
    clb.wait_task(client, rule["RequestId"])
    registered = clb.call(client, "RegisterTargets", {
        "LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": rule["LocationIds"][0],
        "Targets": [{"EniIp": "127.0.0.1", "Port": port}]})
    clb.wait_task(client, registered["RequestId"])
    return listener_id


class Openclb:
    """One ``openclb serve --workers N`` with its listeners, its probe nginx and /metrics."""

    def __init__(self, bench: Bench, workers: int, backends: list[tuple[str, int]]) -> None:
        probe_port, self.probe_status = free_ports(2)
        self.probe = peers.start_nginx(bench, f"wk-probe-{workers}", [("127.0.0.1", probe_port)],
                                       status_port=self.probe_status)
        self.server = clb.OpenclbServer(bench, f"wk-openclb-{workers}", f"127.8{4 + workers}.0.0/24",
                                        workers=workers, metrics_port=free_port()).start()
        self.client = self.server.client()
        self.lb_id, self.vip = clb.create_clb(self.client, f"bench-workers-{workers}")
        (tcp,) = clb.create_listeners(self.client, self.lb_id, "TCP", [TCP_PORT], clb.HEALTH_OFF)
        clb.register_targets(self.client, self.lb_id, tcp, backends)
        create_http_listener(self.client, self.lb_id, backends, HTTP_PORT, keepalive=True)
        self.probe_port = probe_port
        self.probe_listener = _probed_http_listener(self.client, self.lb_id, probe_port)
        (self.count_listener,) = clb.create_listeners(self.client, self.lb_id, "TCP", [COUNT_PORT], clb.HEALTH_OFF)
        clb.register_targets(self.client, self.lb_id, self.count_listener, backends)

    def probe_healthy(self) -> float | None:
        """``openclb_target_healthy`` of the probe target on /metrics."""
        text = requests.get(f"http://127.0.0.1:{self.server.metrics_port}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith("openclb_target_healthy{") and f'target_port="{self.probe_port}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def metrics(self) -> dict[tuple[str, str], float]:
        """(metric name, listener id) → value, summed over the series of that listener."""
        text = requests.get(f"http://127.0.0.1:{self.server.metrics_port}/metrics", timeout=10).text
        values: dict[tuple[str, str], float] = {}
        for line in text.splitlines():
            if line.startswith("#") or "listener_id=" not in line:
                continue
            name, rest = line.split("{", 1)
            listener_id = rest.split('listener_id="', 1)[1].split('"', 1)[0]
            values[(name, listener_id)] = values.get((name, listener_id), 0.0) + float(line.rsplit(" ", 1)[1])
        return values

    def target_health(self) -> dict[int, bool]:
        """Port → HealthStatus of the probe listener's targets, from DescribeTargetHealth."""
        answer = clb.call(self.client, "DescribeTargetHealth", {"LoadBalancerIds": [self.lb_id]})
        listeners = answer["LoadBalancers"][0]["Listeners"]
        (probe,) = [item for item in listeners if item["ListenerId"] == self.probe_listener]
        return {target["Port"]: bool(target["HealthStatus"]) for rule in probe["Rules"] for target in rule["Targets"]}


def _connect_count(host: str, port: int, count: int) -> int:
    """``count`` new connections, one HTTP request each; how many got an answer."""
    answered = 0
    request = f"GET / HTTP/1.1\r\nHost: {HTTP_DOMAIN}\r\nConnection: close\r\n\r\n".encode()
    for _ in range(count):
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.sendall(request)
            answered += conn.recv(64).startswith(b"HTTP/1.1 200")
            while conn.recv(4096):
                pass
    return answered


def _probes(servers: dict[int, Openclb], seconds: float) -> dict[int, int]:
    """Probes each openclb's probe nginx received in ``seconds`` (its own status read excluded)."""
    before = {n: peers.nginx_accepted(s.probe_status) for n, s in servers.items()}
    time.sleep(seconds)
    return {n: peers.nginx_accepted(s.probe_status) - before[n] - 1 for n, s in servers.items()}


def _agreement(server: Openclb, count: int) -> dict:
    answered = _connect_count(server.vip, COUNT_PORT, count)
    listener = ("openclb_listener_connections_total", server.count_listener)
    targets = ("openclb_target_connections_total", server.count_listener)
    wait_until(lambda: server.metrics().get(listener, 0) >= count, 5, 0.1)
    scraped = server.metrics()
    healthy = server.probe_healthy()
    return {"answered": answered, "listener": scraped.get(listener, 0), "targets": scraped.get(targets, 0),
            "api": server.target_health(), "metrics_healthy": healthy}


def _paths(servers: dict[int, Openclb], haproxies: dict[int, tuple[int, int, int]], port_of: Callable) -> list[Path]:
    paths = [Path(f"haproxy nbthread {n}", "127.0.0.1", port_of(ports), "", 0, pid)
             for n, (pid, *ports) in haproxies.items()]
    paths += [Path(f"openclb --workers {n}", s.vip, port_of(None), "", 0, s.server.pid) for n, s in servers.items()]
    return paths


def _series(bench: Bench, paths: list[Path], backend_pid: int, rounds: int, duration: float, headers: list[str],
            script_name: str) -> dict[str, dict]:
    """Per path, as ``dataplane._wrk_series``, plus the cores the proxy, wrk, the backend and the
    whole machine kept busy during each run (what a second worker had left to use)."""
    series = {p.name: {"rps": [], "p50": [], "p99": [], "cpu_us": [], "errors": [], "requests": [],
                       "proxy_cores": [], "wrk_cores": [], "nginx_cores": [], "busy_cores": []} for p in paths}
    for _ in range(rounds):
        for path in paths:
            wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            machine_before = psutil.cpu_times()
            with CpuMeter(path.proxy_pid) as meter, CpuMeter(backend_pid) as backend:
                result = run_wrk(bench, f"http://{path.http_host}:{path.http_port}/", connections=WRK_CONNECTIONS,
                                 duration=duration, headers=headers, script_name=script_name)
            wrk_after, machine_after = resource.getrusage(resource.RUSAGE_CHILDREN), psutil.cpu_times()
            row = series[path.name]
            for name, value in (("rps", result.rps), ("p50", result.p50_ms), ("p99", result.p99_ms),
                                ("errors", result.errors), ("requests", result.requests)):
                row[name].append(value)
            if result.requests:
                row["cpu_us"].append(meter.cpu / result.requests * 1e6)
            wall = meter.wall
            row["busy_cores"].append((_busy(machine_after) - _busy(machine_before)) / wall)
            row["proxy_cores"].append(meter.cpu / wall)
            row["nginx_cores"].append(backend.cpu / wall)
            row["wrk_cores"].append((wrk_after.ru_utime + wrk_after.ru_stime
                                     - wrk_before.ru_utime - wrk_before.ru_stime) / wall)
    return series


def _busy(times) -> float:
    """CPU seconds every core of the machine spent not idle (psutil's system-wide sum)."""
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal


def _table(title: str, series: dict[str, dict], rounds: int, duration: float, note: str) -> Table:
    table = Table(title, ["Path", "Requests/s", "p50 ms", "p99 ms", "Proxy CPU µs/request", "Proxy cores",
                          "wrk cores", "nginx cores", "Machine busy cores (of 2)", "Errors"])
    for name, row in series.items():
        table.rows.append([name, fmt(median(row["rps"]), 0), fmt(median(row["p50"]), 2), fmt(median(row["p99"]), 2),
                           fmt(median(row["cpu_us"]), 2), *(fmt(median(row[key]), 2) for key in
                           ("proxy_cores", "wrk_cores", "nginx_cores", "busy_cores")), str(sum(row["errors"]))])
    table.notes.append(
        f"wrk -t1 -c{WRK_CONNECTIONS}, {rounds} run(s) of {duration:g} s per path, interleaved; medians. Backend: "
        "nginx (1 worker). Proxy CPU summed over the proxy process and its children. Cores: CPU seconds per wall "
        "second during the run; machine busy includes every other process on the machine. " + note)
    return table


def _rise_checks(section: Section, row: str, series: dict[str, dict]) -> None:
    rps = {name: median(values["rps"]) for name, values in series.items()}
    haproxy = rps["haproxy nbthread 2"] / rps["haproxy nbthread 1"] if rps["haproxy nbthread 1"] else float("nan")
    section.checks.append(ratio_check(
        f"{row}: requests/s, --workers 2 vs --workers 1", rps["openclb --workers 2"], rps["openclb --workers 1"],
        ">=", 1.00, f"HAProxy nbthread 2 vs 1 in the same run: {haproxy:.2f}×"))
    section.checks.append(ratio_check(
        f"{row}: CPU per request, --workers 2 vs --workers 1", median(series["openclb --workers 2"]["cpu_us"]),
        median(series["openclb --workers 1"]["cpu_us"]), "<=", 1.10, "summed over openclb and its worker processes"))


def run_workers(bench: Bench, progress: Callable[[str], None]) -> list[Section]:
    rounds = bench.pick(1, 3)
    wrk_seconds = bench.pick(3, 10)
    probe_seconds = bench.pick(9.5, 30.5)
    count = bench.pick(200, 1000)
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    nginx_a, nginx_b = free_ports(2)
    backends = [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)]
    nginx = peers.start_nginx(bench, "wk-nginx", backends)
    haproxies = {}
    for threads in (1, 2):
        tcp_port, http_port = free_ports(2)
        service = peers.start_haproxy(bench, f"wk-haproxy-{threads}", peers.HaproxyConfig([
            peers.Frontend("tcp", ("127.0.0.1", tcp_port), backends),
            peers.Frontend("http", ("127.0.0.1", http_port), backends, mode="http"),
        ], nbthread=threads))
        haproxies[threads] = (service.pid, tcp_port, http_port)
    progress("starting openclb --workers 1 and --workers 2")
    servers = {n: Openclb(bench, n, backends) for n in WORKERS}

    section = Section("workers")
    progress("TCP keep-alive (wrk)")
    tcp = _series(bench, _paths(servers, haproxies, lambda p: p[0] if p else TCP_PORT), nginx.pid, rounds,
                  wrk_seconds, [], "wrk-workers-tcp")
    section.tables.append(_table(
        "TCP keep-alive through a TCP listener: --workers 1 / 2 vs HAProxy nbthread 1 / 2", tcp, rounds,
        wrk_seconds, "HAProxy: mode tcp."))
    _rise_checks(section, "TCP keep-alive", tcp)
    progress("HTTP listener keep-alive (wrk)")
    http = _series(bench, _paths(servers, haproxies, lambda p: p[1] if p else HTTP_PORT), nginx.pid, rounds,
                   wrk_seconds, [f"Host: {HTTP_DOMAIN}"], "wrk-workers-http")
    section.tables.append(_table(
        "HTTP listener keep-alive: --workers 1 / 2 vs HAProxy mode http nbthread 1 / 2", http, rounds, wrk_seconds,
        "openclb: one rule, KeepaliveEnable=1; HAProxy: mode http, option forwardfor. Load average (1/5/15 min) "
        f"at the start of the area: {load}, after the wrk runs: "
        + "/".join(f"{x:.2f}" for x in os.getloadavg()) + "."))
    _rise_checks(section, "HTTP listener", http)

    progress(f"health-check probes over {probe_seconds:g} s")
    probes = _probes(servers, probe_seconds)
    section.tables.append(Table(
        f"Health-check probes a target received in {probe_seconds:g} s (HTTP check every 3 s)",
        ["openclb", "Probes received", "Expected (one checker)"],
        [[f"--workers {n}", str(probes[n]), f"{probe_seconds / 3:.0f} ± 1"] for n in WORKERS],
        ["HTTP checks of an HTTP listener's rule, counted by the target's nginx (stub_status accepted "
         "connections, its own status read excluded); a TCP check is half-open and never reaches nginx."]))
    section.checks.append(bound_check(
        "Health checks with --workers 2: probes vs --workers 1", probes[2] - probes[1], "<=", 1, "extra probes",
        f"{probes[2]} vs {probes[1]} in {probe_seconds:g} s", 0))

    progress(f"counters: {count} connections through each openclb")
    agreement = {n: _agreement(servers[n], count) for n in WORKERS}
    rows = [[f"--workers {n}", str(a["answered"]), fmt(a["listener"], 0), fmt(a["targets"], 0),
             str(a["api"]), fmt(a["metrics_healthy"], 0)] for n, a in agreement.items()]
    section.tables.append(Table(
        f"API and /metrics after {count} new connections through a fresh TCP listener",
        ["openclb", "Answered", "/metrics listener connections_total", "/metrics Σ target connections_total",
         "DescribeTargetHealth (probe listener, port: HealthStatus)", "/metrics target_healthy"], rows))
    for n, a in agreement.items():
        counted = a["listener"] == count == a["targets"] == a["answered"]
        section.checks.append(Check(
            f"/metrics counts every connection, --workers {n}", f"{a['listener']:.0f} / {a['targets']:.0f}",
            f"= {count}", counted, "listener total / sum of target totals"))
        agrees = set(a["api"].values()) == {bool(a["metrics_healthy"])} == set(agreement[1]["api"].values())
        section.checks.append(Check(
            f"DescribeTargetHealth agrees with /metrics and with --workers 1, --workers {n}",
            str(a["api"]), "same health", agrees))
    return [section]
