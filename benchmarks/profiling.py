"""Where openclb's time goes: py-spy samples and syscall counts of the server under load.

``python -m benchmarks.profiling [--seconds 10] [--native] [--only LOAD ...] [--syscalls] [--idle-scale N_CLBS]``
starts nginx and an openclb server like the benchmarks do, runs each load (TCP keep-alive,
TCP connection per request, HTTP listener, DescribeListeners) with wrk while
``py-spy record`` samples the server, and prints per load the server's user/system CPU split
and the functions holding the most samples (self and inclusive). ``--syscalls`` counts
syscalls per request with ``strace -c`` for openclb and HAProxy side by side (counts are
exact; strace's slowdown does not change them). ``--idle-scale`` profiles an idle server
with N_CLBS × 50 health-checked listeners and compares syscalls per check with HAProxy.
Raw collapsed stacks, flame graphs (SVG) and the summary go to the output directory.

Needs py-spy in the environment (``pip install py-spy``) and, for ``--syscalls``, strace.
py-spy samples with ``--nonblocking`` so the server is never paused (``--native`` needs
pauses: its req/s and µs/req carry py-spy's overhead, its proportions do not) and counts
only running threads (a loop waiting in epoll is idle and not sampled).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # ``python benchmarks/profiling.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import clb, dataplane, peers, scale  # noqa: E402
from benchmarks.harness import Bench, CpuMeter, cpu_split, free_ports, run_wrk  # noqa: E402

LOADS = ("keepalive", "close", "http", "describe")


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return found


def summarize(raw: Path, top: int = 25) -> str:
    """Top functions by self and inclusive samples from py-spy's collapsed-stack output."""
    self_counts: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_function(frame) for frame in stack.split(";")]
        self_counts[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples\n"
    lines = [f"{total} samples", "", "self %   function"]
    lines += [f"{100 * n / total:6.1f}   {name}" for name, n in self_counts.most_common(top)]
    lines += ["", "incl %   function"]
    lines += [f"{100 * n / total:6.1f}   {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def _function(frame: str) -> str:
    """``name (path/to/file.py:123)`` → ``name (file.py)``: lines merged, paths shortened."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(where).parts
    short = "/".join(parts[-2:]) if parts else where
    return f"{name} ({short})" if where else name


def _record(bench: Bench, pid: int, seconds: float, out: Path, native: bool, fmt: str) -> subprocess.Popen:
    argv = [_py_spy(), "record", "--pid", str(pid), "--duration", f"{seconds:g}", "--rate", "250",
            "--format", fmt, "--output", str(out)]
    argv.append("--native" if native else "--nonblocking")
    bench.note(argv)
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def profile_load(bench: Bench, name: str, server: clb.OpenclbServer, url: str, lua: str, headers: list[str],
                 seconds: float, outdir: Path, native: bool) -> str:
    """Run one wrk load while py-spy records the server twice (collapsed stacks, then a flame graph)."""
    user0, sys0 = cpu_split(server.pid)
    results = {}

    def load() -> None:
        results["wrk"] = run_wrk(bench, url, connections=64 if name != "describe" else 32,
                                 duration=seconds * 2 + 5, lua=lua, headers=headers, script_name=f"profile-{name}")

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(1)
    raw = outdir / f"{name}.txt"
    for path, fmt in ((raw, "raw"), (outdir / f"{name}.svg", "flamegraph")):
        recorder = _record(bench, server.pid, seconds, path, native, fmt)
        _, err = recorder.communicate(timeout=seconds + 60)
        if recorder.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-2000:]}")
    loader.join()
    user1, sys1 = cpu_split(server.pid)
    wrk = results["wrk"]
    user, system = user1 - user0, sys1 - sys0
    header = (f"== {name}: {wrk.rps:,.0f} req/s, server CPU {1e6 * (user + system) / max(wrk.requests, 1):.1f} µs/req "
              f"(user {100 * user / max(user + system, 1e-9):.0f}%, "
              f"system {100 * system / max(user + system, 1e-9):.0f}%)")
    return header + "\n" + summarize(raw)


def _strace_counts(bench: Bench, pid: int, run_load) -> tuple[dict[str, int], int]:
    """Syscalls made by ``pid`` (all threads) while ``run_load()`` runs; returns (counts, requests)."""
    out = bench.workdir / f"strace-{pid}-{time.monotonic_ns()}.txt"
    argv = ["strace", "-c", "-f", "-q", "-o", str(out), "-p", str(pid)]
    bench.note(argv)
    tracer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(1.0)
        result = run_load()
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    counts = {}
    for line in out.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[3].isdigit() and fields[-1] != "total":
            counts[fields[-1]] = int(fields[3])
    return counts, result.requests


def syscalls_per_request(bench: Bench, loads: dict, proxies: dict[str, int], seconds: float) -> str:
    """A table of syscalls per request for each load and proxy (strace -c; counts are exact, times are not)."""
    lines = []
    for name, (targets, headers) in loads.items():
        per_proxy = {}
        for proxy, pid in proxies.items():
            url = targets[proxy]
            counts, requests = _strace_counts(bench, pid, lambda: run_wrk(
                bench, url, connections=64, duration=seconds, headers=headers, script_name=f"strace-{name}"))
            per_proxy[proxy] = {k: v / max(requests, 1) for k, v in counts.items()}
        names = sorted({k for c in per_proxy.values() for k in c},
                       key=lambda k: -max(c.get(k, 0) for c in per_proxy.values()))
        lines.append(f"== syscalls per request, {name} ==")
        lines.append("syscall".ljust(16) + "".join(p.rjust(10) for p in per_proxy))
        for syscall in names:
            row = [per_proxy[p].get(syscall, 0.0) for p in per_proxy]
            if max(row) >= 0.01:
                lines.append(syscall.ljust(16) + "".join(f"{v:10.2f}" for v in row))
        lines.append("total".ljust(16) + "".join(f"{sum(c.values()):10.2f}" for c in per_proxy.values()))
        lines.append("")
    return "\n".join(lines)


def profile_idle_scale(bench: Bench, n_clbs: int, seconds: float, outdir: Path) -> str:
    """An idle openclb with ``n_clbs`` × 50 health-checked listeners: CPU, samples, syscalls per check."""
    ports = scale.backend_ports_free(n_clbs * scale.LISTENERS_PER_CLB * 2)
    status_port = free_ports(1)[0]
    peers.start_nginx(bench, "profile-scale-nginx", [(scale.BACKEND_HOST, p) for p in ports], 120, status_port)
    server = clb.OpenclbServer(bench, "profile-scale-openclb", "127.88.0.0/16").start()
    with ThreadPoolExecutor(scale.SETUP_THREADS) as pool:
        list(pool.map(lambda i: scale.build_clb(server, i, ports, []), range(n_clbs)))
    time.sleep(scale.CHECK_INTERVAL_S * 2)
    user0, sys0 = cpu_split(server.pid)
    opened0, started = scale.tcp_active_opens(), time.monotonic()
    raw = outdir / "idle-scale.txt"
    for path, fmt in ((raw, "raw"), (outdir / "idle-scale.svg", "flamegraph")):
        recorder = _record(bench, server.pid, seconds, path, False, fmt)
        recorder.communicate(timeout=seconds + 60)
    user1, sys1 = cpu_split(server.pid)
    wall = time.monotonic() - started
    checks = scale.tcp_active_opens() - opened0
    counts, _ = _strace_counts(bench, server.pid, lambda: _sleep_result(seconds))
    checks_traced = max(counts.get("connect", 0), 1)  # one connect per TCP check
    cpu = user1 - user0 + sys1 - sys0
    server.stop()
    config, _ = scale.haproxy_config(bench, n_clbs, ports)
    haproxy = peers.start_haproxy(bench, "profile-scale-haproxy", config, ready_timeout=120)
    time.sleep(scale.CHECK_INTERVAL_S * 2)
    with CpuMeter(haproxy.pid) as meter:
        time.sleep(seconds)
    haproxy_counts, _ = _strace_counts(bench, haproxy.pid, lambda: _sleep_result(seconds))
    haproxy_us = 1e6 * meter.cpu / (len(ports) / scale.CHECK_INTERVAL_S * meter.wall)
    lines = [f"== idle, {n_clbs * scale.LISTENERS_PER_CLB:,} listeners, {len(ports):,} checked targets: "
             f"CPU {100 * cpu / wall:.1f}% of a core, {checks / wall:,.0f} checks/s, "
             f"{1e6 * cpu / max(checks, 1):.0f} µs per check (user {100 * (user1 - user0) / max(cpu, 1e-9):.0f}%)",
             summarize(raw), "syscalls per check (strace -c, per connect()):"]
    haproxy_checks = max(haproxy_counts.get("connect", 0), 1)
    lines.append(f"  {'':16}{'openclb':>8}{'haproxy':>8}   (HAProxy: {haproxy_us:.0f} µs CPU per check)")
    for name in sorted(set(counts) | set(haproxy_counts), key=lambda k: -counts.get(k, 0) / checks_traced):
        ours, theirs = counts.get(name, 0) / checks_traced, haproxy_counts.get(name, 0) / haproxy_checks
        if max(ours, theirs) >= 0.01:
            lines.append(f"  {name:16}{ours:8.2f}{theirs:8.2f}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Slept:
    requests: int = 0


def _sleep_result(seconds: float) -> _Slept:
    time.sleep(seconds)
    return _Slept()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="sampling time per load")
    parser.add_argument("--native", action="store_true", help="include native (C) frames, e.g. uvloop/libuv")
    parser.add_argument("--only", nargs="*", choices=LOADS, default=list(LOADS), help="loads to profile (none: skip)")
    parser.add_argument("--output", type=Path, help="directory for stacks, flame graphs and summary")
    parser.add_argument("--idle-scale", type=int, metavar="N_CLBS", default=0,
                        help="also profile an idle server with N_CLBS × 50 health-checked listeners")
    parser.add_argument("--syscalls", action="store_true",
                        help="also count syscalls per request (strace -c), openclb vs HAProxy mode tcp")
    args = parser.parse_args(argv)

    outdir = args.output or Path(tempfile.mkdtemp(prefix="openclb-profile-"))
    outdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(quick=True, workdir=Path(tempfile.mkdtemp(prefix="openclb-profile-work-")))
    peers.ensure_tools(bench)
    reports = []
    try:
        nginx_a, nginx_b = free_ports(2)
        peers.start_nginx(bench, "profile-nginx", [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)])
        server = clb.OpenclbServer(bench, "profile-openclb", "127.87.0.0/24").start()
        client = server.client()
        lb_id, vip = clb.create_clb(client, "bench-profile")
        (listener,) = clb.create_listeners(client, lb_id, "TCP", [8080], clb.HEALTH_OFF)
        clb.register_targets(client, lb_id, listener, [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)])
        clb.create_listeners(client, lb_id, "TCP", list(range(7000, 7010)))
        dataplane.create_http_listener(client, lb_id, [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)])
        describe = clb.presign(client, "DescribeListeners", {"LoadBalancerId": lb_id})
        loads = {
            "keepalive": (f"http://{vip}:8080/", "", []),
            "close": (f"http://{vip}:8080/", "", ["Connection: close"]),
            "http": (f"http://{vip}:{dataplane.HTTP_PORT}/", "", [f"Host: {dataplane.HTTP_DOMAIN}"]),
            "describe": (server.url + "/", describe.wrk_lua(), []),
        }
        for name in args.only:
            url, lua, headers = loads[name]
            print(f"profiling {name} for {args.seconds:g} s ...", flush=True)
            reports.append(profile_load(bench, name, server, url, lua, headers, args.seconds, outdir, args.native))
        if args.syscalls:
            print("counting syscalls per request (strace) ...", flush=True)
            ha_port, ha_http = free_ports(2)
            backends = [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)]
            haproxy = peers.start_haproxy(bench, "profile-haproxy", peers.HaproxyConfig([
                peers.Frontend("tcp", ("127.0.0.1", ha_port), backends),
                peers.Frontend("http", ("127.0.0.1", ha_http), backends, mode="http")]))
            targets = {"haproxy": f"http://127.0.0.1:{ha_port}/", "openclb": f"http://{vip}:8080/"}
            l7 = {"haproxy": f"http://127.0.0.1:{ha_http}/", "openclb": f"http://{vip}:{dataplane.HTTP_PORT}/"}
            reports.append(syscalls_per_request(
                bench, {"keepalive": (targets, []), "close": (targets, ["Connection: close"]),
                        "http (L7, HAProxy mode http)": (l7, [f"Host: {dataplane.HTTP_DOMAIN}"])},
                {"haproxy": haproxy.pid, "openclb": server.pid}, min(args.seconds, 3.0)))
        if args.idle_scale:
            bench.close()
            print(f"profiling an idle server with {args.idle_scale} × 50 checked listeners ...", flush=True)
            reports.append(profile_idle_scale(bench, args.idle_scale, args.seconds, outdir))
    finally:
        bench.close()
        shutil.rmtree(bench.workdir, ignore_errors=True)
    summary = "\n".join(reports)
    (outdir / "summary.txt").write_text(summary + "\nCommands:\n" + "\n".join(bench.commands) + "\n")
    print(summary)
    print(f"stacks, flame graphs and summary in {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
