"""``--workers 2``: the embedded data plane as two processes sharing every listener's ports.

Real traffic through both workers; their counters summed for the API and /metrics; health
checked once, here, and obeyed by every worker; a worker killed (-9) is started again alone
while the other keeps serving.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
import requests

from backends import first_bytes, free_port
from clb_support import FAST_CHECK, listener_with_targets, target_health, wait_for
from conftest import SECRET_ID, SECRET_KEY, sdk_client, unique_vip_pool
from gateway_support import ServeProcess, clean_env
from openclb.cli import usable_cores

CONNECTIONS = 40


@pytest.fixture
def pool_server(server_factory):
    return server_factory(workers=2)


def greetings(vip: str, port: int, count: int) -> list[bytes]:
    return [first_bytes(vip, port) for _ in range(count)]


def greeting_or_error(vip: str, port: int) -> bytes:
    """A connection in the accept queue of a worker that dies is reset: that one may fail."""
    try:
        return first_bytes(vip, port)
    except OSError:
        return b""


def test_create_listener_with_two_workers_serves_every_connection_and_sums_counters(pool_server, named_backends):
    client = sdk_client(pool_server.url)
    a, b = named_backends("a", b"\n"), named_backends("b", b"\n")
    lb_id, vip, listener_id = listener_with_targets(
        client, "TCP", 8101, [{"EniIp": "127.0.0.1", "Port": a.port}, {"EniIp": "127.0.0.1", "Port": b.port}])
    assert sorted(set(greetings(vip, 8101, CONNECTIONS))) == [b"a\n", b"b\n"]
    pool = pool_server.server.engine
    assert len(pool.pids) == 2

    def counted() -> bool:
        stats = pool_server.run(pool.stats())
        return stats[lb_id][listener_id]["total"] == CONNECTIONS

    wait_for(counted, 5)
    scraped = requests.get(f"{pool_server.server.metrics_url}/metrics", timeout=5).text
    line = next(line for line in scraped.splitlines()
                if line.startswith("openclb_listener_connections_total") and listener_id in line)
    assert float(line.rsplit(" ", 1)[1]) == CONNECTIONS
    assert 'port="8101"' in line
    targets = [line for line in scraped.splitlines()
               if line.startswith("openclb_target_connections_total") and listener_id in line]
    assert len(targets) == 2 and sum(float(line.rsplit(" ", 1)[1]) for line in targets) == CONNECTIONS


def test_worker_killed_is_restarted_alone_while_the_other_serves(pool_server, named_backends):
    client = sdk_client(pool_server.url)
    backend = named_backends("t", b"\n")
    _, vip, _ = listener_with_targets(client, "TCP", 8102, [{"EniIp": "127.0.0.1", "Port": backend.port}])
    pool = pool_server.server.engine
    victim, survivor = pool.pids
    os.kill(victim, signal.SIGKILL)
    served = [greeting_or_error(vip, 8102) for _ in range(10)]
    wait_for(lambda: survivor in pool.pids and victim not in pool.pids and len(pool.pids) == 2, 10)
    time.sleep(1.5)  # the new worker has its listeners back: every connection is served
    assert served.count(b"t\n") >= 1
    assert greetings(vip, 8102, CONNECTIONS) == [b"t\n"] * CONNECTIONS


def test_target_down_found_by_the_one_health_checker_is_avoided_by_every_worker(pool_server, named_backends):
    client = sdk_client(pool_server.url)
    up, down = named_backends("up", b"\n"), named_backends("down", b"\n")
    lb_id, vip, _ = listener_with_targets(
        client, "TCP", 8103, [{"EniIp": "127.0.0.1", "Port": up.port}, {"EniIp": "127.0.0.1", "Port": down.port}],
        HealthCheck=FAST_CHECK)
    down.close()
    wait_for(lambda: target_health(client, lb_id) == {down.port: "Dead", up.port: "Alive"}, 20)
    time.sleep(0.5)  # pushed to the workers within HEALTH_PUSH_SECONDS
    assert greetings(vip, 8103, CONNECTIONS) == [b"up\n"] * CONNECTIONS


def test_serve_without_workers_flag_runs_one_data_plane_process_per_core(tmp_path, named_backends):
    cores = usable_cores()
    args = ["--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "data"), "--vip-pool",
            unique_vip_pool(), "--metrics-listen", "off", "--rate-limit", "DescribeTaskStatus=1000"]
    serve = ServeProcess(args, clean_env(tmp_path, OPENCLB_SECRET_ID=SECRET_ID, OPENCLB_SECRET_KEY=SECRET_KEY),
                         tmp_path / "serve.log").start()
    try:
        assert f"  data plane: embedded engine, {cores} processes (--workers)" in serve.banner
        backend = named_backends("t", b"\n")
        _, vip, _ = listener_with_targets(sdk_client(serve.url), "TCP", 8104,
                                          [{"EniIp": "127.0.0.1", "Port": backend.port}])
        assert greetings(vip, 8104, CONNECTIONS) == [b"t\n"] * CONNECTIONS
        workers = [child for child in psutil.Process(serve.process.pid).children()
                   if child.name() != "haproxy" and "resource_tracker" not in " ".join(child.cmdline())]
        assert len(workers) == (cores if cores > 1 else 0)
    finally:
        serve.stop()
