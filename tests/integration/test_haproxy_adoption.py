"""HAProxy outlives openclb: a crash (kill -9) or an upgrade restart (SIGUSR2) leaves it serving,
and the next start on the same data dir adopts it; SIGTERM still stops everything.

The server is a real ``openclb serve --engine haproxy`` child process (``ServeProcess``), set up
through the official SDK, so a kill is a real SIGKILL. The HAProxy master is found through the
pid file in the test's own data dir; a test that leaves one running stops it at the end. The
engine-level tests drive ``HaproxyEngine`` directly, for what the API cannot arrange (a pid
file naming another program, a CLB the store no longer has).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from backends import NamedBackend, accepts_tcp, first_bytes
from clb_support import FAST_CHECK, listener_with_targets, target_health, wait_for
from conftest import sdk_client, unique_vip_pool
from gateway_support import ServeProcess, serve_on_own_port
from openclb.engine.haproxy import HaproxyEngine
from openclb.engine.spec import HealthCheckSpec, ListenerSpec, LoadBalancerState
from openclb.protocols import ListenerProtocol


def master_pid(data_dir: Path) -> int:
    return int((data_dir / "haproxy" / "haproxy.pid").read_text().split()[0])


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie nobody reaped has exited too)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def echoes(conn: socket.socket, data: bytes) -> bool:
    conn.sendall(data)
    received = b""
    while len(received) < len(data):
        chunk = conn.recv(len(data) - len(received))
        if not chunk:
            return False
        received += chunk
    return received == data


@pytest.fixture
def serve(tmp_path):
    """``openclb serve --engine haproxy``, not started; its HAProxy is stopped at the end."""
    process = serve_on_own_port(tmp_path, "--engine", "haproxy")
    yield process
    process.stop()
    _stop_left_over_master(tmp_path / "data")


def _stop_left_over_master(data_dir: Path) -> None:
    try:
        pid = master_pid(data_dir)
        ours = os.path.realpath(f"/proc/{pid}/cwd") == os.path.realpath(data_dir / "haproxy")
    except (OSError, ValueError):
        return
    if ours and not gone(pid):
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: gone(pid), 5)


def echo_listener(serve: ServeProcess, backend: NamedBackend, port: int) -> tuple[str, str]:
    client = sdk_client(serve.url)
    lb_id, vip, _ = listener_with_targets(client, "TCP", port, [{"EniIp": "127.0.0.1", "Port": backend.port}],
                                          HealthCheck=FAST_CHECK)
    return lb_id, vip


def test_serve_haproxy_kill_9_restart_adopts_haproxy_and_connection_survives(serve, tmp_path, named_backends):
    backend = named_backends("echo")
    serve.start()
    lb_id, vip = echo_listener(serve, backend, 7911)
    master = master_pid(tmp_path / "data")
    with socket.create_connection((vip, 7911), timeout=5) as held:
        assert held.recv(4) == b"echo"
        serve.kill()
        assert echoes(held, b"while openclb is down")
        assert first_bytes(vip, 7911) == b"echo"
        serve.start()
        assert master_pid(tmp_path / "data") == master and not gone(master)
        assert echoes(held, b"after the restart")
        assert first_bytes(vip, 7911) == b"echo"
        client = sdk_client(serve.url)
        wait_for(lambda: target_health(client, lb_id) == {backend.port: "Alive"}, 8)
    assert serve.stop() == 0
    wait_for(lambda: gone(master), 5)
    assert not accepts_tcp(vip, 7911)


def test_serve_haproxy_sigusr2_exits_leaving_haproxy_serving_for_next_start(serve, tmp_path, named_backends):
    backend = named_backends("echo")
    serve.start()
    _, vip = echo_listener(serve, backend, 7912)
    master = master_pid(tmp_path / "data")
    with socket.create_connection((vip, 7912), timeout=5) as held:
        assert held.recv(4) == b"echo"
        serve.process.send_signal(signal.SIGUSR2)
        assert serve.process.wait(15) == 0
        assert echoes(held, b"between the two processes")
        assert first_bytes(vip, 7912) == b"echo"
        serve.start()
        assert master_pid(tmp_path / "data") == master
        assert echoes(held, b"adopted")


def test_serve_haproxy_restart_after_haproxy_died_starts_a_fresh_one(serve, tmp_path, named_backends):
    backend = named_backends("echo")
    serve.start()
    _, vip = echo_listener(serve, backend, 7913)
    old = master_pid(tmp_path / "data")
    serve.kill()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: gone(old) and not accepts_tcp(vip, 7913), 5)
    serve.start()
    assert master_pid(tmp_path / "data") != old
    assert first_bytes(vip, 7913) == b"echo"


def test_serve_embedded_after_haproxy_crash_stops_left_over_haproxy(serve, tmp_path, named_backends):
    backend = named_backends("echo")
    serve.start()
    _, vip = echo_listener(serve, backend, 7914)
    master = master_pid(tmp_path / "data")
    serve.kill()
    embedded = serve_on_own_port(tmp_path)
    try:
        embedded.start()
        assert gone(master)
        assert first_bytes(vip, 7914) == b"echo"
    finally:
        embedded.stop()


# Engine-level: what the API cannot arrange -----------------------------------------------


def _echo_state(lb_id: str, vip: str, port: int, backend: NamedBackend) -> LoadBalancerState:
    return LoadBalancerState(lb_id, vip, (ListenerSpec(
        f"lbl-{lb_id[3:]}", ListenerProtocol.TCP, port, targets=(backend.target(),),
        health_check=HealthCheckSpec(enabled=False)),))


def test_start_haproxy_pid_file_names_another_program_left_alone_and_fresh_master_started(tmp_path, named_backends):
    backend = named_backends("fresh")
    vip = unique_vip_pool().replace(".0/24", ".1")
    run_dir = tmp_path / "haproxy"
    run_dir.mkdir()
    bystander = subprocess.Popen(["sleep", "60"])
    (run_dir / "haproxy.pid").write_text(f"{bystander.pid}\n")

    async def scenario() -> tuple[int | None, bytes]:
        engine = HaproxyEngine(run_dir)
        await engine.start()
        try:
            assert (await engine.apply(_echo_state("lb-fresh", vip, 7915, backend))).ok
            return engine.master_pid, await asyncio.to_thread(first_bytes, vip, 7915)
        finally:
            await engine.close()

    try:
        pid, greeting = asyncio.run(scenario())
        assert bystander.poll() is None
        assert pid not in (None, bystander.pid) and greeting == b"fresh"
    finally:
        bystander.kill()
        bystander.wait(5)


def test_start_haproxy_master_not_answering_is_killed_and_fresh_master_started(tmp_path, named_backends):
    """Ours by its pid file, command line and directory, but its CLI is silent (stopped here with
    SIGSTOP): it is not adopted but killed, and a fresh master serves."""
    backend = named_backends("fresh")
    vip = unique_vip_pool().replace(".0/24", ".1")
    run_dir = tmp_path / "haproxy"
    state = _echo_state("lb-silent", vip, 7919, backend)

    async def first_process() -> int | None:
        engine = HaproxyEngine(run_dir)
        await engine.start()
        assert (await engine.apply(state)).ok
        pid = engine.master_pid
        await engine.detach()
        return pid

    async def next_process(silent: int) -> int | None:
        engine = HaproxyEngine(run_dir)
        await engine.start()
        try:
            assert gone(silent)
            assert (await engine.apply(state)).ok
            assert await asyncio.to_thread(first_bytes, vip, 7919) == b"fresh"
            return engine.master_pid
        finally:
            await engine.close()

    silent = asyncio.run(first_process())
    try:
        os.kill(silent, signal.SIGSTOP)
        assert asyncio.run(next_process(silent)) not in (None, silent)
    finally:
        _stop_left_over_master(tmp_path)


def test_restored_haproxy_adopted_clb_no_longer_desired_is_dropped(tmp_path, named_backends):
    """After a detach, the next engine adopts HAProxy: the CLB applied again keeps serving
    without a gap, the one the worker never applies again is dropped by ``restored``."""
    kept, dropped = named_backends("kept"), named_backends("dropped")
    vip = unique_vip_pool().replace(".0/24", ".1")
    run_dir = tmp_path / "haproxy"
    kept_state = _echo_state("lb-kept", vip, 7916, kept)

    async def first_process() -> int | None:
        engine = HaproxyEngine(run_dir)
        await engine.start()
        assert (await engine.apply(kept_state)).ok
        assert (await engine.apply(_echo_state("lb-dropped", vip, 7917, dropped))).ok
        pid = engine.master_pid
        await engine.detach()
        return pid

    async def next_process(master: int | None) -> None:
        engine = HaproxyEngine(run_dir)
        await engine.start()
        try:
            assert engine.master_pid == master
            assert (await engine.apply(kept_state)).ok
            assert accepts_tcp(vip, 7916) and accepts_tcp(vip, 7917)
            await engine.restored()
            assert await asyncio.to_thread(first_bytes, vip, 7916) == b"kept"
            assert not accepts_tcp(vip, 7917)
        finally:
            await engine.close()

    master = asyncio.run(first_process())
    try:
        assert first_bytes(vip, 7916) == b"kept" and first_bytes(vip, 7917) == b"dropped"
        asyncio.run(next_process(master))
        wait_for(lambda: gone(master), 5)
    finally:
        _stop_left_over_master(tmp_path)


def test_apply_haproxy_relative_run_dir_serves(tmp_path, monkeypatch, named_backends):
    backend = named_backends("relative")
    vip = unique_vip_pool().replace(".0/24", ".1")
    monkeypatch.chdir(tmp_path)

    async def scenario() -> bytes:
        engine = HaproxyEngine(Path("data") / "haproxy")
        await engine.start()
        try:
            assert (await engine.apply(_echo_state("lb-relative", vip, 7918, backend))).ok
            return await asyncio.to_thread(first_bytes, vip, 7918)
        finally:
            await engine.close()

    assert asyncio.run(scenario()) == b"relative"
