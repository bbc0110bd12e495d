"""Control plane: signed API requests per second on one openclb process, and their latency.

- DescribeListeners (one CLB with ten listeners) at full load: wrk replays one request
  pre-signed by the official SDK's TC3 code, so signing costs the server's peer nothing;
  requests/s, p50/p99 and server CPU per request.
- The same at about half the target rate (1,000/s), for the latency target, and at half the
  measured maximum: wrk's per-request ``delay()`` paces each connection with random
  (exponential) think times, calibrated by short runs; the achieved rate is reported next to
  the latencies (wrk paces closed-loop, so this is close to, not exactly, a fixed rate).
- CreateListener + DeleteListener cycles: each call needs fresh parameters, so an asyncio
  client (aiohttp) signs every request with the SDK in the benchmark process and keeps a few
  workers busy, each on its own CLB (a CLB takes one write task at a time).
Every response body is checked for success before and after a wrk run.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Callable

import aiohttp

from benchmarks import clb
from benchmarks.harness import Bench, CpuMeter, WrkResult, median, percentile, run_wrk
from benchmarks.report import Section, Table, bound_check, fmt

DESCRIBE_CONNECTIONS = 32
PACED_CONNECTIONS = 32
LISTENERS_PER_CLB = 10
CYCLE_WORKERS = 4
TARGET_RPS = 2000
TARGET_HALF_LOAD_P99_MS = 20.0


def _pacing_lua(request: clb.SignedRequest, delay_ms: float) -> str:
    """Exponentially distributed think times of mean ``delay_ms``: the connections do not march in
    step, so arrivals are close to a Poisson stream instead of bursts of every connection at once."""
    return request.wrk_lua() + (
        "math.randomseed(os.time())\n"
        f"function delay()\n  return -math.log(1 - math.random()) * {delay_ms:.3f}\nend\n"
    )


def _describe_runs(bench: Bench, server: clb.OpenclbServer, request: clb.SignedRequest,
                   rounds: int, seconds: float) -> tuple[list[WrkResult], list[float]]:
    results, cpu_us = [], []
    for _ in range(rounds):
        with CpuMeter(server.pid) as meter:
            result = run_wrk(bench, server.url + "/", connections=DESCRIBE_CONNECTIONS, duration=seconds,
                             lua=request.wrk_lua(), script_name="wrk-describe")
        results.append(result)
        if result.requests:
            cpu_us.append(meter.cpu / result.requests * 1e6)
    return results, cpu_us


def _paced_run(bench: Bench, server: clb.OpenclbServer, request: clb.SignedRequest, rate: float,
               seconds: float) -> tuple[WrkResult, float]:
    """A wrk run at about ``rate`` requests/s: the per-request delay is calibrated by short runs
    (each corrects it for the latency it saw), then the measured run follows."""
    period_ms = PACED_CONNECTIONS * 1000 / rate
    delay_ms = period_ms
    for _ in range(bench.pick(1, 2)):
        calibration = run_wrk(bench, server.url + "/", connections=PACED_CONNECTIONS, duration=2.0,
                              lua=_pacing_lua(request, delay_ms), script_name="wrk-describe-paced")
        if calibration.rps:
            delay_ms = max(0.0, delay_ms + period_ms - PACED_CONNECTIONS * 1000 / calibration.rps)
    result = run_wrk(bench, server.url + "/", connections=PACED_CONNECTIONS, duration=seconds,
                     lua=_pacing_lua(request, delay_ms), script_name="wrk-describe-paced")
    return result, delay_ms


async def _cycle_worker(session: aiohttp.ClientSession, server: clb.OpenclbServer, lb_id: str, port: int,
                        deadline: float, latencies: dict[str, list[float]], counts: dict[str, int]) -> None:
    client = server.client()

    async def call(action: str, params: dict) -> dict:
        while True:
            signed = clb.presign(client, action, params)
            started = time.perf_counter()
            async with session.post(server.url + "/", data=signed.body, headers=signed.headers) as response:
                body = json.loads(await response.read())["Response"]
            latencies[action].append((time.perf_counter() - started) * 1000)
            error = body.get("Error")
            if error is None:
                return body
            counts[error["Code"]] = counts.get(error["Code"], 0) + 1
            if error["Code"] != "FailedOperation.ResourceInOperating" or time.monotonic() > deadline + 30:
                raise RuntimeError(f"{action} failed: {error}")
            await asyncio.sleep(0.005)

    while time.monotonic() < deadline:
        created = await call("CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [port],
                                                "HealthCheck": clb.HEALTH_OFF})
        await call("DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": created["ListenerIds"][0]})
        counts["cycles"] += 1


async def _cycles(server: clb.OpenclbServer, lb_ids: list[str], seconds: float) -> tuple[float, dict, dict]:
    latencies: dict[str, list[float]] = {"CreateListener": [], "DeleteListener": []}
    counts = {"cycles": 0}
    connector = aiohttp.TCPConnector(limit=len(lb_ids))
    async with aiohttp.ClientSession(connector=connector, skip_auto_headers=["Content-Type"]) as session:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(
            _cycle_worker(session, server, lb_id, 9500, deadline, latencies, counts) for lb_id in lb_ids))
        elapsed = time.monotonic() - started
    return counts["cycles"] / elapsed, latencies, counts


def _verified(server: clb.OpenclbServer, request: clb.SignedRequest) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    response = clb.check_ok(request.send(conn), request.action)
    conn.close()
    if response.get("TotalCount") != LISTENERS_PER_CLB:
        raise RuntimeError(f"DescribeListeners answered {response.get('TotalCount')} listeners")


def run_controlplane(bench: Bench, progress: Callable[[str], None]) -> list[Section]:
    rounds = bench.pick(1, 3)
    seconds = bench.pick(3, 10)
    server = clb.OpenclbServer(bench, "cp-openclb", "127.83.0.0/24").start()
    client = server.client()
    lb_id, _ = clb.create_clb(client, "bench-describe")
    clb.create_listeners(client, lb_id, "TCP", list(range(7000, 7000 + LISTENERS_PER_CLB)))
    describe = clb.presign(client, "DescribeListeners", {"LoadBalancerId": lb_id})
    _verified(server, describe)

    section = Section("Control plane")
    progress("DescribeListeners at full load (wrk, pre-signed)")
    full, cpu_us = _describe_runs(bench, server, describe, rounds, seconds)
    _verified(server, describe)
    best_rps = median([r.rps for r in full])
    progress(f"DescribeListeners at half the target load (~{TARGET_RPS / 2:,.0f}/s)")
    half, delay_ms = _paced_run(bench, server, describe, TARGET_RPS / 2, seconds)
    progress(f"DescribeListeners at half the measured maximum (~{best_rps / 2:,.0f}/s)")
    half_of_max, half_of_max_delay_ms = _paced_run(bench, server, describe, best_rps / 2, seconds)
    _verified(server, describe)

    table = Table("Control plane: signed requests on one server process",
                  ["Load", "Requests/s", "p50 ms", "p99 ms", "Server CPU µs/request", "Errors"])
    table.rows.append([f"DescribeListeners, full (wrk -c{DESCRIBE_CONNECTIONS})", fmt(best_rps, 0),
                       fmt(median([r.p50_ms for r in full]), 2), fmt(median([r.p99_ms for r in full]), 2),
                       fmt(median(cpu_us), 0), str(sum(r.errors for r in full))])
    table.rows.append([f"DescribeListeners, paced to ~{TARGET_RPS // 2:,}/s "
                       f"(wrk -c{PACED_CONNECTIONS}, delay {delay_ms:.1f} ms)",
                       fmt(half.rps, 0), fmt(half.p50_ms, 2), fmt(half.p99_ms, 2), "—", str(half.errors)])
    table.rows.append([f"DescribeListeners, paced to half the measured maximum (wrk -c{PACED_CONNECTIONS}, "
                       f"delay {half_of_max_delay_ms:.1f} ms)", fmt(half_of_max.rps, 0), fmt(half_of_max.p50_ms, 2),
                       fmt(half_of_max.p99_ms, 2), "—", str(half_of_max.errors)])

    progress("CreateListener + DeleteListener cycles (aiohttp, SDK-signed)")
    cycle_lbs = [clb.create_clb(client, f"bench-cycle-{i}")[0] for i in range(CYCLE_WORKERS)]
    with CpuMeter(server.pid) as meter:
        cycles_per_s, latencies, counts = asyncio.run(_cycles(server, cycle_lbs, seconds))
    calls = sum(len(v) for v in latencies.values())
    for action, values in latencies.items():
        table.rows.append([f"{action} in create+delete cycles ({CYCLE_WORKERS} workers, own CLB each)",
                           f"{len(values) / meter.wall:,.0f} (cycles/s {cycles_per_s:,.1f})",
                           fmt(percentile(values, 50), 2), fmt(percentile(values, 99), 2),
                           fmt(meter.cpu / calls * 1e6, 0) if calls else "—",
                           str(sum(v for k, v in counts.items() if k != "cycles"))])
    table.notes.append(f"One CLB with {LISTENERS_PER_CLB} TCP listeners is described; {rounds} run(s) of "
                       f"{seconds:g} s, medians. Rate limit raised to {clb.RATE_LIMIT:,}/s for the run.")
    table.notes.append("Write calls answer once their task is settled (openclb waits up to 1 s for it), so a "
                       "cycle includes binding and releasing the port. Retries on "
                       "FailedOperation.ResourceInOperating are counted as errors.")
    section.tables.append(table)
    section.checks.append(bound_check("Control plane: signed DescribeListeners/s (one process)", best_rps, ">=",
                                      TARGET_RPS, "req/s", f"server CPU {median(cpu_us):.0f} µs/request",
                                      digits=0))
    section.checks.append(bound_check(f"Control plane: DescribeListeners p99 at ~{TARGET_RPS // 2:,}/s",
                                      half.p99_ms, "<=", TARGET_HALF_LOAD_P99_MS, "ms",
                                      f"achieved {half.rps:,.0f} req/s; at half the measured maximum "
                                      f"({half_of_max.rps:,.0f} req/s) p99 is {half_of_max.p99_ms:.1f} ms",
                                      digits=2))
    server.stop()
    return [section]
