"""Where openclb's time goes: py-spy samples of the server under the benchmark loads.

``python -m benchmarks.profile [--seconds 10] [--native] [--only keepalive close describe]``
starts nginx and an openclb server like the data plane and control plane benchmarks do, runs
each load with wrk while ``py-spy record`` samples the server process, and prints for each
load: the server's user/system CPU split, and the functions that hold the most samples
(self and inclusive). Raw collapsed stacks and flame graphs (SVG) are written next to the
summary in the output directory (default: a new directory under /tmp).

py-spy must be installed in the environment (``pip install py-spy``); it samples with
``--nonblocking`` so the server is never paused (``--native`` needs pauses: its figures carry
py-spy's overhead in req/s and µs/req, not in the proportions), and counts only threads
that are running (a loop waiting in epoll is idle and not sampled).
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
from pathlib import Path

if __package__ in (None, ""):  # ``python benchmarks/profile.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import clb, peers  # noqa: E402
from benchmarks.harness import Bench, cpu_split, free_ports, run_wrk  # noqa: E402

LOADS = ("keepalive", "close", "describe")


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
              f"(user {100 * user / max(user + system, 1e-9):.0f}%, system {100 * system / max(user + system, 1e-9):.0f}%)")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="sampling time per load")
    parser.add_argument("--native", action="store_true", help="include native (C) frames, e.g. uvloop/libuv")
    parser.add_argument("--only", nargs="+", choices=LOADS, default=list(LOADS))
    parser.add_argument("--output", type=Path, help="directory for stacks, flame graphs and summary")
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
        describe = clb.presign(client, "DescribeListeners", {"LoadBalancerId": lb_id})
        loads = {
            "keepalive": (f"http://{vip}:8080/", "", []),
            "close": (f"http://{vip}:8080/", "", ["Connection: close"]),
            "describe": (server.url + "/", describe.wrk_lua(), []),
        }
        for name in args.only:
            url, lua, headers = loads[name]
            print(f"profiling {name} for {args.seconds:g} s ...", flush=True)
            reports.append(profile_load(bench, name, server, url, lua, headers, args.seconds, outdir, args.native))
        if args.syscalls:
            print("counting syscalls per request (strace) ...", flush=True)
            ha_port = free_ports(1)[0]
            haproxy = peers.start_haproxy(bench, "profile-haproxy", peers.HaproxyConfig([peers.Frontend(
                "http", ("127.0.0.1", ha_port), [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)])]))
            targets = {"haproxy": f"http://127.0.0.1:{ha_port}/", "openclb": f"http://{vip}:8080/"}
            reports.append(syscalls_per_request(
                bench, {"keepalive": (targets, []), "close": (targets, ["Connection: close"])},
                {"haproxy": haproxy.pid, "openclb": server.pid}, min(args.seconds, 3.0)))
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
