"""Convergence: how long until an API call is visible in the data plane, per engine.

For each engine (embedded, then ``--engine haproxy``) two series against one openclb
process, each try timed from the moment the (pre-signed) request is written to the API socket:
- CreateListener → the new port accepts a TCP connection;
- RegisterTargets on a listener with no targets → the first connection through the VIP
  that reaches the new target (an HTTP answer from nginx; with no target the listener
  closes the connection at once).
While the API call is in flight the benchmark probes the port every ~0.2 ms from the same
thread (the request is written first, the answer read after), so the figure does not wait
for the API's answer. Between tries the change is undone (DeleteListener, DeregisterTargets)
and its task awaited, outside the timing.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable

from benchmarks import clb, peers
from benchmarks.harness import Bench, free_ports, percentile
from benchmarks.report import Section, Table, bound_check, fmt

PROBE_GAP = 0.0002
PROBE_DEADLINE = 10.0
CREATE_PORTS = list(range(9000, 9010))
REGISTER_PORT = 9100
TARGET_P99_MS = 50.0


def _send(conn: http.client.HTTPConnection, request: clb.SignedRequest) -> None:
    conn.request("POST", "/", body=request.body, headers=request.headers)


def _answer(conn: http.client.HTTPConnection, what: str) -> dict:
    return clb.check_ok(json.loads(conn.getresponse().read())["Response"], what)


def _port_accepts(vip: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((vip, port)) == 0


def _reaches_target(vip: str, port: int) -> bool:
    try:
        with socket.create_connection((vip, port), timeout=1) as probe:
            probe.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return probe.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def _probe_until(ready: Callable[[], bool]) -> float:
    deadline = time.perf_counter() + PROBE_DEADLINE
    while not ready():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the change was not visible within {PROBE_DEADLINE:g} s")
        time.sleep(PROBE_GAP)
    return time.perf_counter()


def _create_listener_series(server: clb.OpenclbServer, lb_id: str, vip: str, tries: int) -> tuple[list, list]:
    client = server.client()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    visible, answered = [], []
    for index in range(tries):
        port = CREATE_PORTS[index % len(CREATE_PORTS)]
        create = clb.presign(client, "CreateListener", {
            "LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [port], "HealthCheck": clb.HEALTH_OFF})
        started = time.perf_counter()
        _send(conn, create)
        seen = _probe_until(lambda: _port_accepts(vip, port))
        response = _answer(conn, "CreateListener")
        answered.append((time.perf_counter() - started) * 1000)
        visible.append((seen - started) * 1000)
        delete = clb.call(client, "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": response["ListenerIds"][0]})
        clb.wait_task(client, delete["RequestId"])
    conn.close()
    return visible, answered


def _register_series(server: clb.OpenclbServer, lb_id: str, vip: str, backend_port: int, tries: int) -> tuple:
    client = server.client()
    (listener_id,) = clb.create_listeners(client, lb_id, "TCP", [REGISTER_PORT], clb.HEALTH_TCP_5S)
    targets = {"LoadBalancerId": lb_id, "ListenerId": listener_id,
               "Targets": [{"EniIp": "127.0.0.1", "Port": backend_port}]}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    visible, answered = [], []
    for _ in range(tries):
        register = clb.presign(client, "RegisterTargets", targets)
        started = time.perf_counter()
        _send(conn, register)
        seen = _probe_until(lambda: _reaches_target(vip, REGISTER_PORT))
        _answer(conn, "RegisterTargets")
        answered.append((time.perf_counter() - started) * 1000)
        visible.append((seen - started) * 1000)
        deregister = clb.call(client, "DeregisterTargets", targets)
        clb.wait_task(client, deregister["RequestId"])
    conn.close()
    return visible, answered


ENGINES = (("embedded", "127.82.0.0/24"), ("haproxy", "127.83.0.0/24"))


def _engine_series(bench: Bench, engine: str, vip_pool: str, backend_port: int, tries: int,
                   progress: Callable[[str], None]) -> dict[str, tuple[list, list]]:
    """Both series against one openclb serving with ``engine``."""
    server = clb.OpenclbServer(bench, f"conv-openclb-{engine}", vip_pool, engine=engine).start()
    try:
        lb_id, vip = clb.create_clb(server.client(), f"bench-convergence-{engine}")
        progress(f"{engine}: CreateListener → port accepting ({tries} tries)")
        create = _create_listener_series(server, lb_id, vip, tries)
        progress(f"{engine}: RegisterTargets → first connection on the new target ({tries} tries)")
        register = _register_series(server, lb_id, vip, backend_port, tries)
    finally:
        server.stop()
    return {"CreateListener → port accepts": create, "RegisterTargets → connection reaches the new target": register}


def run_convergence(bench: Bench, progress: Callable[[str], None]) -> list[Section]:
    tries = bench.pick(30, 200)
    (backend_port,) = free_ports(1)
    peers.start_nginx(bench, "conv-nginx", [("127.0.0.1", backend_port)])

    section = Section("Convergence")
    table = Table("Convergence: API call → visible in the data plane",
                  ["Engine", "Event", "Tries", "p50 ms", "p99 ms", "max ms", "API answer p50 ms", "API answer p99 ms"])
    for engine, vip_pool in ENGINES:
        series = _engine_series(bench, engine, vip_pool, backend_port, tries, progress)
        for label, (visible, answered) in series.items():
            table.rows.append([engine, label, str(len(visible)), fmt(percentile(visible, 50), 2),
                               fmt(percentile(visible, 99), 2), fmt(max(visible), 2),
                               fmt(percentile(answered, 50), 2), fmt(percentile(answered, 99), 2)])
        engine_name = "" if engine == "embedded" else f" ({engine} engine)"
        for (label, (visible, _)), check in zip(series.items(), ("CreateListener → accepting",
                                                                  "RegisterTargets → first connection")):
            section.checks.append(bound_check(f"Convergence{engine_name} {check}: p99", percentile(visible, 99),
                                              "<=", TARGET_P99_MS, "ms", f"p50 {percentile(visible, 50):.1f} ms"))
    table.notes.append("Timed from writing the pre-signed request; the port is probed every ~0.2 ms meanwhile. "
                       "Listeners are TCP; the RegisterTargets listener has the default TCP health check on "
                       "(a new target serves while not yet probed). `haproxy`: openclb `--engine haproxy`, "
                       "whose TCP listeners HAProxy serves.")
    section.tables.append(table)
    return [section]
