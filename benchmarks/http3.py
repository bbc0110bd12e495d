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

from benchmarks import peers
from benchmarks.harness import Bench, free_ports, median
from benchmarks.http2 import CLIENTS, DOMAIN, STREAMS, _certificate, _h2load, measure, start_openclb
from benchmarks.report import Section, Table, fmt, ratio_check

H3_PORT = 8443


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
    server, vip = start_openclb(bench, "h3-openclb", "127.84.0.0/24", H3_PORT, backends, cert, key, {},
                                {"Http2": True, "Quic": True})
    progress("HTTP/3 beside HTTP/2")
    series = measure(bench, rounds, requests, {"HTTP/2 (h2load)": (_h2load, vip, H3_PORT, server.pid),
                                               "HTTP/3 (aioquic client)": (_h3_load, vip, H3_PORT, server.pid)})
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
