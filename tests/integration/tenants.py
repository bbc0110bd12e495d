"""Two tenants on one server, one of them loud: the load, and what the quiet one measures.

Shared by the isolation test (bounded, loose thresholds) and ``benchmarks/reliability.py``
(exact figures). The loud tenant sends its heaviest legal call, ``DescribeTargetHealth`` over
the documented maximums (30 CLBs, 100 ListenerIds, 100 LocationIds), from several threads,
and twice a second the oversized probe of the issue (600,000 ListenerIds, 9.6 MB). It runs in
a process of its own (``LoudTenant``), so its client-side work (signing, JSON) does not take
the measuring process's interpreter lock; the quiet tenant times its own calls and 16 bytes
echoed through a TCP listener on one open connection (a stall of the data plane shows as one
slow round trip).
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

ECHO_BYTES = b"x" * 16


class EchoBackend:
    """A TCP backend echoing what it reads, one thread per connection; ``close()`` stops it."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()


def heaviest_legal_target_health(lb_ids: list[str]) -> dict:
    """DescribeTargetHealth at every documented maximum, padded with ids that match nothing."""
    lb_ids = (lb_ids + [f"lb-{index:08d}" for index in range(30)])[:30]
    return {
        "LoadBalancerIds": lb_ids,
        "ListenerIds": [f"lbl-{index:08d}" for index in range(100)],
        "LocationIds": [f"loc-{index:08d}" for index in range(100)],
    }


def oversized_target_health(lb_ids: list[str]) -> dict:
    """The issue's probe: 600,000 ListenerIds, 9.6 MB of JSON."""
    return {"LoadBalancerIds": lb_ids[:30], "ListenerIds": [f"lbl-{index:08d}" for index in range(600_000)]}


class LoudTenant:
    """The loud tenant's load in a child process; ``join()`` returns the calls it made."""

    def __init__(self, url: str, secret_id: str, secret_key: str, lb_ids: list[str], threads: int,
                 seconds: float, with_probe: bool = True) -> None:
        context = multiprocessing.get_context("spawn")
        self._results = context.Queue()
        self._process = context.Process(
            target=_loud_main, args=(url, secret_id, secret_key, lb_ids, threads, seconds, with_probe, self._results),
            daemon=True,
        )
        self._process.start()
        self._seconds = seconds

    def join(self) -> int:
        calls = self._results.get(timeout=self._seconds + 60)
        self._process.join(10)
        return calls


def _loud_main(url, secret_id, secret_key, lb_ids, threads, seconds, with_probe, results) -> None:
    from conftest import sdk_client

    clients = [sdk_client(url, secret_id=secret_id, secret_key=secret_key) for _ in range(threads + 1)]
    heavy = heaviest_legal_target_health(lb_ids)
    calls = iter(clients)
    joins = [hammer(lambda client=next(calls): client.call_json("DescribeTargetHealth", heavy), 1, seconds)
             for _ in range(threads)]
    if with_probe:
        probe_client, probe = clients[-1], oversized_target_health(lb_ids)

        def send_probe() -> None:
            started = time.monotonic()
            try:
                probe_client.call_json("DescribeTargetHealth", probe)
            finally:
                time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))

        joins.append(hammer(send_probe, 1, seconds))
    results.put(sum(join() for join in joins))


def hammer(call: Callable[[], object], threads: int, seconds: float) -> Callable[[], int]:
    """Start ``threads`` loops calling ``call`` for ``seconds``; the returned function waits for
    them and returns how many calls were made."""
    deadline = time.monotonic() + seconds
    pool = ThreadPoolExecutor(threads)

    def loop() -> int:
        count = 0
        while time.monotonic() < deadline:
            try:
                call()
            except Exception:
                pass
            count += 1
        return count

    futures = [pool.submit(loop) for _ in range(threads)]

    def join() -> int:
        total = sum(future.result() for future in futures)
        pool.shutdown()
        return total

    return join


def timed_calls(call: Callable[[], object], seconds: float, pause: float = 0.01) -> list[float]:
    """Latencies in ms of ``call`` made one after another for ``seconds``."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(pause)
    return latencies


def relay_round_trips(vip: str, port: int, seconds: float, pause: float = 0.005) -> list[float]:
    """Round trips in ms of 16 bytes through the listener, on one connection, for ``seconds``."""
    latencies = []
    with socket.create_connection((vip, port), timeout=10) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            conn.sendall(ECHO_BYTES)
            received = b""
            while len(received) < len(ECHO_BYTES):
                chunk = conn.recv(len(ECHO_BYTES) - len(received))
                if not chunk:
                    raise ConnectionError("the relay closed the connection")
                received += chunk
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(pause)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
