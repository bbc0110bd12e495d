"""Processes, measurements and statistics every benchmark shares.

Invariants:
- Every process a benchmark starts is a ``Service`` in its own session (process group) and is
  registered with the ``Bench``; ``Bench.close`` stops whatever is still running, so an
  interrupted run leaves nothing behind. Only processes started here are ever signalled.
- Every external command is recorded on the ``Bench`` (RESULTS.md lists them all).
- Every load loop is bounded in time: wrk and iperf3 by their duration flag plus a timeout,
  Python loops by a deadline.
- CPU figures come from the measured process and its descendants (all their threads), read
  through psutil: ``openclb serve --workers N`` relays in N child processes, and the HAProxy
  engine's haproxy is a child too. That is why the servers under test run as separate
  processes.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Bench:
    """One benchmark run: its mode, scratch directory, commands and live processes."""

    quick: bool
    workdir: Path
    commands: list[str] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)

    def pick(self, quick_value, full_value):
        """The quick mode's value or the full run's."""
        return quick_value if self.quick else full_value

    def note(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        prefix = " ".join(
            f"{k}=<bench {k.rsplit('_', 1)[-1].lower()}>" if "SECRET" in k or "TOKEN" in k else f"{k}={shlex.quote(v)}"
            for k, v in (env or {}).items()
        )
        line = (prefix + " " if prefix else "") + shlex.join(str(a) for a in argv)
        if line not in self.commands:
            self.commands.append(line)

    def run(self, argv: Sequence[str], *, timeout: float, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command to completion (bounded by ``timeout``), capturing its output."""
        self.note(argv)
        result = subprocess.run(
            [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, start_new_session=True
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{shlex.join(map(str, argv))} exited {result.returncode}: {result.stderr[-2000:]}")
        return result

    def spawn(
        self, name: str, argv: Sequence[str], *,
        env: dict[str, str] | None = None, extra_env: dict[str, str] | None = None,
    ) -> Service:
        """Start a long-running process in its own session; its output goes to a log file."""
        self.note(argv, extra_env)
        log_path = self.workdir / f"{name}.log"
        full_env = dict(env if env is not None else os.environ)
        full_env.update(extra_env or {})
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=full_env, start_new_session=True,
            )
        service = Service(name, list(map(str, argv)), proc, log_path)
        self.services.append(service)
        return service

    def close(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()


@dataclass
class Service:
    """A process started by the benchmark, leader of its own process group."""

    name: str
    argv: list[str]
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> float:
        """SIGTERM the group, SIGKILL it after ``timeout``; returns the seconds it took to exit."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(5)
        self._signal_group(signal.SIGKILL)  # stragglers of the group, if any
        return time.monotonic() - started

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# -- sockets -----------------------------------------------------------------------------


def free_ports(count: int, host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> list[int]:
    """``count`` distinct ports free on ``host`` right now (held together while chosen)."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, kind)
            sock.bind((host, 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def port_range_free(host: str, ports: Sequence[int]) -> bool:
    """Whether every port can be bound for TCP on ``host`` (checked, then released)."""
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tcp_listening(port: int) -> bool:
    """Whether some socket listens on TCP ``port`` (from /proc/net/tcp; no connection made)."""
    suffix = f":{port:04X}"
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1].endswith(suffix) and fields[3] == "0A":
                return True
    return False


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- /proc -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process (all threads) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU seconds so far of the process and of each live descendant, by pid."""
    root = psutil.Process(pid)
    seconds = {}
    for proc in (root, *root.children(recursive=True)):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[proc.pid] = times.user + times.system
    return seconds


class CpuMeter:
    """CPU seconds a process and its descendants spend inside a ``with`` block, and the wall
    time of the block. A descendant started during the block counts from zero; one that ends
    during it loses its share (a crashed worker under load shows as missing CPU)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.cpu = 0.0
        self.wall = 0.0
        self.processes = 0

    def __enter__(self) -> CpuMeter:
        self._cpu0 = tree_cpu_seconds(self.pid) if self.pid else {}
        self._wall0 = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.monotonic() - self._wall0
        after = tree_cpu_seconds(self.pid) if self.pid else {}
        self.processes = len(after)
        self.cpu = sum(seconds - self._cpu0.get(pid, 0.0) for pid, seconds in after.items())


# -- statistics --------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` (0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# -- wrk ---------------------------------------------------------------------------------

_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\": %.0f, \"duration_us\": %.0f, \"bytes\": %.0f, \"connect\": %.0f, " ..
    "\"read\": %.0f, \"write\": %.0f, \"status\": %.0f, \"timeout\": %.0f, " ..
    "\"p50_us\": %.0f, \"p99_us\": %.0f, \"mean_us\": %.1f}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    bench: Bench,
    url: str,
    *,
    connections: int,
    duration: float,
    threads: int = 1,
    lua: str = "",
    headers: Sequence[str] = (),
    script_name: str = "wrk",
) -> WrkResult:
    """One wrk run; ``lua`` is prepended to the script that reports the summary as JSON."""
    script = bench.workdir / f"{script_name}.lua"
    script.write_text(lua + _WRK_DONE)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "5s", "-s", str(script)]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    result = bench.run(argv, timeout=duration + 30)
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line[len("WRK_JSON "):])
            break
    else:
        raise RuntimeError(f"wrk printed no summary: {result.stdout[-1000:]} {result.stderr[-1000:]}")
    errors = int(data["connect"] + data["read"] + data["write"] + data["status"] + data["timeout"])
    return WrkResult(
        requests=int(data["requests"]), seconds=data["duration_us"] / 1e6, errors=errors,
        p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000, mean_ms=data["mean_us"] / 1000,
    )


def lua_string(value: str) -> str:
    """A Lua string literal for ``value`` (JSON escapes are valid Lua escapes for ASCII)."""
    return json.dumps(value)
