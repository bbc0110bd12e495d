"""One data-plane worker process of ``--workers N``: an embedded engine driven over a pipe.

The parent (``workers.WorkerPool``) sends ``(command, payload)`` pairs and reads one answer for
each: ``apply`` (a frozen ``LoadBalancerState`` → ``ApplyResult``), ``remove``, ``stats``,
``unhealthy`` (the targets the node's one health checker finds down: this worker checks
nothing itself) and ``close`` (drain, then exit). Its listening sockets carry SO_REUSEPORT, so
every worker of the node accepts on the same ports. It dies with its parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerOptions:
    max_ports_per_listener: int = 1000
    drain_seconds: float = 0.0
    descriptor_budget: int | None = None
    free_bind: bool = False
    access_log_dir: Path | None = None


def run(conn: Connection, options: WorkerOptions) -> None:
    """The process's entry point (``multiprocessing`` target)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop

        uvloop.run(_serve(conn, options))
    except ImportError:
        asyncio.run(_serve(conn, options))


async def _serve(conn: Connection, options: WorkerOptions) -> None:
    from openclb.engine.embedded.engine import EmbeddedEngine

    unhealthy: set[tuple[str, str, int]] = set()
    engine = EmbeddedEngine(
        health_view=lambda key, ip, port: (key, ip, port) not in unhealthy,
        max_ports_per_listener=options.max_ports_per_listener, drain_seconds=options.drain_seconds,
        descriptor_budget=options.descriptor_budget, free_bind=options.free_bind, reuse_port=True,
        access_log_dir=options.access_log_dir)
    await engine.start()
    loop = asyncio.get_running_loop()
    while True:
        try:
            command, payload = await loop.run_in_executor(None, conn.recv)
        except EOFError:
            await engine.close()
            return
        answer = None
        if command == "apply":
            answer = await engine.apply(payload)
        elif command == "remove":
            await engine.remove(payload)
        elif command == "stats":
            answer = await engine.stats()
        elif command == "unhealthy":
            unhealthy.clear()
            unhealthy.update(payload)
        elif command == "close":
            await engine.close()
            conn.send(None)
            return
        conn.send(answer)
