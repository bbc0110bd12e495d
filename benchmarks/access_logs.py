"""Access logging's cost on the HTTP listener: the same listener with the CLB's access log on and off.

Set-up: nginx answers a small fixed body on two ports; openclb gets two CLBs with one HTTP
listener each (one rule over both ports, KeepaliveEnable=1, checks off), one of them bound to a
CLS log set and topic (SetLoadBalancerClsLog), so every request it serves is written as a JSON
line. wrk drives both in turn each round; proxy CPU per request is read from /proc/<pid>/stat
of the one openclb process around each run. Target: logging costs at most 10% (issue 16).
The same pair again on an openclb started with ``--engine haproxy``: HAProxy serves both
listeners and prints the logged one's lines into a ring forwarded to openclb over TCP, whose
receiver completes (``_log_lines``) and writes them; its CPU is that of openclb's process tree
(HAProxy's master and worker are its children).
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import clb, peers
from benchmarks.dataplane import HTTP_DOMAIN, WRK_CONNECTIONS, Path, _wrk_series, _wrk_table, create_http_listener
from benchmarks.harness import Bench, free_ports, median
from benchmarks.report import Section, ratio_check

LOGGED_PORT = 8083
PLAIN_PORT = 8084


ENGINES = (("embedded", "127.82.0.0/24", ""), ("haproxy", "127.89.0.0/24", " (--engine haproxy)"))


def _start(bench: Bench) -> tuple[list[Path], list[Path]]:
    nginx_a, nginx_b = free_ports(2)
    peers.start_nginx(bench, "al-nginx", [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)])
    backends = [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)]
    paths: list[Path] = []
    log_files: list[Path] = []
    for engine, pool, suffix in ENGINES:
        pair, log_file = _start_engine(bench, backends, engine, pool, suffix)
        paths += pair
        log_files.append(log_file)
    return paths, log_files


def _start_engine(bench: Bench, backends: list[tuple[str, int]], engine: str, pool: str,
                  suffix: str) -> tuple[list[Path], Path]:
    server = clb.OpenclbServer(bench, f"al-openclb-{engine}", pool, engine=engine).start()
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
    paths = [Path(f"access log off{suffix}", plain_vip, PLAIN_PORT, "", 0, server.pid),
             Path(f"access log on{suffix}", logged_vip, LOGGED_PORT, "", 0, server.pid)]
    return paths, log_file


def run_access_logs(bench: Bench, progress: Callable[[str], None]) -> list[Section]:
    rounds = bench.pick(1, 3)
    wrk_seconds = bench.pick(3, 10)
    paths, log_files = _start(bench)
    progress("HTTP listener with the access log off and on, embedded and HAProxy engines (wrk)")
    series = _wrk_series(bench, paths, rounds, wrk_seconds, [f"Host: {HTTP_DOMAIN}"], "wrk-access-log")
    section = Section("Data plane: access logging (CLS) on the HTTP listener")
    lines = [sum(1 for _ in path.open()) if path.exists() else 0 for path in log_files]
    section.tables.append(_wrk_table(
        "HTTP listener keep-alive, access log off vs on", series, rounds, wrk_seconds,
        f"Host: {HTTP_DOMAIN}; one openclb process per engine serves both its CLBs (with --engine haproxy, CPU "
        f"is openclb's process tree, HAProxy included). The logged CLBs wrote {lines[0]:,} (embedded) and "
        f"{lines[1]:,} (HAProxy) JSON lines (wrk -c{WRK_CONNECTIONS}); the embedded engine batches records every "
        "0.05 s for a writer thread, HAProxy writes its lines into a ring forwarded over TCP to openclb, "
        "which completes and writes them every 0.02 s."))
    for _, _, suffix in ENGINES:
        on, off = series[f"access log on{suffix}"], series[f"access log off{suffix}"]
        section.checks.append(ratio_check(f"Access log on{suffix}: proxy CPU per request vs off",
                                          median(on["cpu_us"]), median(off["cpu_us"]), "<=", 1.10))
        section.checks.append(ratio_check(f"Access log on{suffix}: requests/s vs off", median(on["rps"]),
                                          median(off["rps"]), ">=", 0.90))
    return [section]
