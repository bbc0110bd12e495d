"""HTTP/3 to clients: one HTTPS listener with Http2 and Quic on, HTTP/3 beside HTTP/2.

No peer here speaks HTTP/3 (Debian's HAProxy and h2load are built without QUIC), so the figure
is openclb against itself: the same listener, rule and nginx targets, HTTP/2 driven by h2load
and HTTP/3 by ``benchmarks.h3_load`` (aioquic's client, a few connections with many streams in
flight each), run in turn per round; medians reported. CPU per request is the server's
(``CpuMeter``), the figure that holds on a shared machine; requests/s with the Python client
is bounded by the client as much as by the server.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from benchmarks import clb, peers
from benchmarks.harness import Bench, CpuMeter, free_ports, median
from benchmarks.http2 import CLIENTS, DOMAIN, STREAMS, _certificate, _h2load
from benchmarks.report import Section, Table, fmt, ratio_check

H3_PORT = 8443


def _start_openclb(bench: Bench, backends: list[tuple[str, int]], cert: str, key: str):
    server = clb.OpenclbServer(bench, "h3-openclb", "127.84.0.0/24").start()
    client = server.client()
    lb_id, vip = clb.create_clb(client, "bench-http3")
    created = clb.call(client, "CreateListener", {
        "LoadBalancerId": lb_id, "Protocol": "HTTPS", "Ports": [H3_PORT],
        "Certificate": {"CertName": "bench", "CertContent": cert, "CertKey": key}})
    clb.wait_task(client, created["RequestId"])
    listener_id = created["ListenerIds"][0]
    rule = clb.call(client, "CreateRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Rules": [
        {"Domain": DOMAIN, "Url": "/", "Http2": True, "Quic": True, "HealthCheck": clb.HEALTH_OFF}]})
    clb.wait_task(client, rule["RequestId"])
    registered = clb.call(client, "RegisterTargets", {
        "LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": rule["LocationIds"][0],
        "Targets": [{"EniIp": ip, "Port": port} for ip, port in backends]})
    clb.wait_task(client, registered["RequestId"])
    return server, vip


def _h3_load(bench: Bench, host: str, port: int, requests: int) -> dict:
    result = bench.run([sys.executable, "-m", "benchmarks.h3_load", host, str(port), DOMAIN, str(requests),
                        str(CLIENTS), str(STREAMS)], timeout=600)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_http3(bench: Bench, progress: Callable[[str], None]) -> list[Section]:
    rounds = bench.pick(1, 3)
    requests = bench.pick(2000, 10000)
    nginx_a, nginx_b = free_ports(2)
    backends = [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)]
    peers.start_nginx(bench, "h3-nginx", backends)
    cert, key = _certificate()
    server, vip = _start_openclb(bench, backends, cert, key)
    drivers = {"HTTP/2 (h2load)": _h2load, "HTTP/3 (aioquic client)": _h3_load}
    series = {name: {"rps": [], "cpu_us": [], "failed": 0} for name in drivers}
    progress("HTTP/3 beside HTTP/2")
    for _ in range(rounds):
        for name, drive in drivers.items():
            with CpuMeter(server.pid) as meter:
                result = drive(bench, vip, H3_PORT, requests)
            series[name]["rps"].append(result["rps"])
            series[name]["failed"] += result["failed"]
            if result["succeeded"]:
                series[name]["cpu_us"].append(meter.cpu / result["succeeded"] * 1e6)
    section = Section("HTTP/3 to clients (HTTPS with Quic on)")
    table = Table("HTTP/3 beside HTTP/2 on one HTTPS listener", ["Protocol", "Requests/s", "openclb CPU µs/request",
                                                                 "Failed (all runs)"])
    for name, row in series.items():
        table.rows.append([name, fmt(median(row["rps"]), 0), fmt(median(row["cpu_us"]), 1), str(row["failed"])])
    table.notes.append(f"{requests} requests over {CLIENTS} connections, {STREAMS} streams in flight each, "
                       f"{rounds} run(s) per protocol, medians. Targets: nginx (HTTP/1.1), a target connection "
                       "per stream for both.")
    section.tables.append(table)
    h2, h3 = series["HTTP/2 (h2load)"], series["HTTP/3 (aioquic client)"]
    section.checks.append(ratio_check("HTTP/3: openclb CPU per request vs its HTTP/2 (info)",
                                      median(h3["cpu_us"]), median(h2["cpu_us"]), "<=", 1.5,
                                      "not a target of the issue; QUIC's crypto and framing are pure Python "
                                      "around aioquic's C AEAD"))
    return [section]
