"""Access logging's cost on the HTTP listener: the same listener with the CLB's access log on and off.

Set-up: nginx answers a small fixed body on two ports; openclb gets two CLBs with one HTTP
listener each (one rule over both ports, KeepaliveEnable=1, checks off), one of them bound to a
CLS log set and topic (SetLoadBalancerClsLog), so every request it serves is written as a JSON
line. wrk drives both in turn each round; proxy CPU per request is read from /proc/<pid>/stat
of the one openclb process around each run. Target: logging costs at most 10% (issue 16).
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import clb, peers
from benchmarks.dataplane import HTTP_DOMAIN, WRK_CONNECTIONS, Path, _wrk_series, _wrk_table, create_http_listener
from benchmarks.harness import Bench, free_ports, median
from benchmarks.report import Section, ratio_check

LOGGED_PORT = 8083
PLAIN_PORT = 8084


def _start(bench: Bench) -> tuple[list[Path], Path]:
    nginx_a, nginx_b = free_ports(2)
    peers.start_nginx(bench, "al-nginx", [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)])
    backends = [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)]
    server = clb.OpenclbServer(bench, "al-openclb", "127.82.0.0/24").start()
    client = server.client()
    plain_lb, plain_vip = clb.create_clb(client, "bench-access-log-off")
    logged_lb, logged_vip = clb.create_clb(client, "bench-access-log-on")
    create_http_listener(client, plain_lb, backends, PLAIN_PORT)
    create_http_listener(client, logged_lb, backends, LOGGED_PORT)
    logset = clb.call(client, "CreateClsLogSet", {})["LogsetId"]
    topic = clb.call(client, "CreateTopic", {"TopicName": "bench"})["TopicId"]
    bound = clb.call(client, "SetLoadBalancerClsLog", {"LoadBalancerId": logged_lb, "LogSetId": logset,
                                                        "LogTopicId": topic})
    clb.wait_task(client, bound["RequestId"])
    log_file = server.data_dir / "logs" / logset / f"{topic}.log"
    paths = [Path("access log off", plain_vip, PLAIN_PORT, "", 0, server.pid),
             Path("access log on", logged_vip, LOGGED_PORT, "", 0, server.pid)]
    return paths, log_file


def run_access_logs(bench: Bench, progress: Callable[[str], None]) -> list[Section]:
    rounds = bench.pick(1, 3)
    wrk_seconds = bench.pick(3, 10)
    paths, log_file = _start(bench)
    progress("HTTP listener with the access log off and on (wrk)")
    series = _wrk_series(bench, paths, rounds, wrk_seconds, [f"Host: {HTTP_DOMAIN}"], "wrk-access-log")
    section = Section("Data plane: access logging (CLS) on the HTTP listener")
    lines = sum(1 for _ in log_file.open()) if log_file.exists() else 0
    section.tables.append(_wrk_table(
        "HTTP listener keep-alive, access log off vs on", series, rounds, wrk_seconds,
        f"Host: {HTTP_DOMAIN}; one openclb process serves both CLBs. The logged CLB wrote {lines:,} JSON lines "
        f"(wrk -c{WRK_CONNECTIONS}); records are batched every 0.05 s and written by a thread."))
    on, off = series["access log on"], series["access log off"]
    section.checks.append(ratio_check("Access log on: proxy CPU per request vs off", median(on["cpu_us"]),
                                      median(off["cpu_us"]), "<=", 1.10))
    section.checks.append(ratio_check("Access log on: requests/s vs off", median(on["rps"]), median(off["rps"]),
                                      ">=", 0.90))
    return [section]
