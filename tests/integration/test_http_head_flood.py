"""A flood of many-header requests against ``openclb serve``: its memory stays bounded.

The server is a real child process with an HTTP listener set up through the official SDK.
Rounds of concurrent connections each send one head of 20,000 header lines (about 120 kB,
often one read); each must get 431, the child's peak resident memory may grow by at most
50 MB over what it held before, and a normal client keeps being served meanwhile. Counts,
sizes and times are bounded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from clb_support import create_clb_with_vip, create_listener, create_rules, register
from conftest import sdk_client
from gateway_support import serve_on_own_port
from l7_support import request

PORT = 8643
ROUNDS = 5
CONNECTIONS = 100
HEADERS = 20_000
FLOOD_HEAD = b"GET / HTTP/1.1\r\nHost: f.test\r\n" + b"x: y\r\n" * HEADERS + b"\r\n"
MAX_GROWTH = 50 << 20


def memory(pid: int, field: str) -> int:
    """A VmRSS/VmHWM line of /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


async def flood_once(vip: str) -> bytes:
    reader, writer = await asyncio.open_connection(vip, PORT)
    try:
        writer.write(FLOOD_HEAD)
        return await asyncio.wait_for(reader.readuntil(b"\r\n"), 30)
    except (ConnectionError, asyncio.IncompleteReadError):
        return b""
    finally:
        writer.close()


async def flood(vip: str) -> list[bytes]:
    answers: list[bytes] = []
    for _ in range(ROUNDS):
        answers += await asyncio.gather(*(flood_once(vip) for _ in range(CONNECTIONS)))
    return answers


def test_request_many_header_flood_server_memory_bounded_and_normal_client_served(tmp_path, http_backends):
    serve = serve_on_own_port(tmp_path).start()
    try:
        target = http_backends.start("normal")
        client = sdk_client(serve.url)
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = create_listener(client, lb_id, "HTTP", [PORT])
        (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "f.test", "Url": "/"}])
        register(client, lb_id, listener_id, [target.port], location_id)
        for _ in range(20):
            assert request(vip, PORT, "/", host="f.test").status == 200
        before = memory(serve.process.pid, "VmRSS")

        latencies: list[float] = []
        flooding = threading.Event()
        flooding.set()

        def normal_client() -> None:
            while flooding.is_set():
                started = time.monotonic()
                assert request(vip, PORT, "/", host="f.test").status == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.02)

        normal = threading.Thread(target=normal_client, daemon=True)
        normal.start()
        try:
            answers = asyncio.run(flood(vip))
        finally:
            flooding.clear()
            normal.join(10)
        growth = memory(serve.process.pid, "VmHWM") - before
        print(f"peak RSS growth {growth / 2**20:.1f} MiB, normal client {len(latencies)} requests, "
              f"max {max(latencies) * 1000:.0f} ms")
        assert answers.count(b"HTTP/1.1 431 Request Header Fields Too Large\r\n") == ROUNDS * CONNECTIONS
        assert growth < MAX_GROWTH
        assert latencies and max(latencies) < 2.0
        assert all(len(seen["headers"]) < 20 for seen in target.requests)
    finally:
        serve.stop()
