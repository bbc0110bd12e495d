"""A new port of the HAProxy engine accepts before HAProxy has it (``engine/haproxy/prebind.py``).

The engine is driven directly with a real HAProxy behind a wrapper that waits a second before
it starts, so the window between "openclb listens" and "HAProxy listens" is long enough to
connect in for certain. A connection made in that window completes its handshake at once,
is admitted by the listener's security group, and is served by HAProxy once it is up.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from backends import NamedBackend
from embedded_support import closed_by_peer, connect, fresh_vip, run, state, tcp_listener, who
from openclb.engine.haproxy import HaproxyEngine
from openclb.engine.haproxy.process import find_haproxy
from openclb.engine.spec import AdmissionRule, AdmissionSpec, HealthCheckSpec

START_DELAY = 1.0
PORT = 7861
NO_CHECK = HealthCheckSpec(enabled=False)  # only clients reach the target: it counts them


def slow_haproxy(directory: Path) -> str:
    """An HAProxy executable that takes ``START_DELAY`` seconds to start."""
    script = directory / "slow-haproxy"
    script.write_text(f'#!/bin/sh\nsleep {START_DELAY}\nexec {find_haproxy()} "$@"\n')
    script.chmod(0o755)
    return str(script)


async def connect_soon(vip: str, port: int, client_ip: str | None = None, timeout: float = START_DELAY / 2):
    """Connect as soon as the port accepts (the handshake completes), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await connect(vip, port, client_ip)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.002)


def on_slow_haproxy(directory: Path, backend: NamedBackend, scenario) -> None:
    """Run ``await scenario(engine)`` on an engine whose HAProxy is slow to start; close both after."""

    async def main():
        engine = HaproxyEngine(directory / "haproxy", binary=slow_haproxy(directory))
        await engine.start()
        try:
            await scenario(engine)
        finally:
            await engine.close()

    try:
        run("uvloop", main)
    finally:
        backend.close()


def test_apply_haproxy_slow_to_start_new_port_accepts_at_once_and_serves_early_connection(tmp_path):
    backend = NamedBackend("early", b"\n")
    vip = fresh_vip()

    async def scenario(engine):
        spec = tcp_listener("lbl-early", PORT, [backend.target()], health_check=NO_CHECK)
        applying = asyncio.ensure_future(engine.apply(state(vip, spec)))
        reader, writer = await connect_soon(vip, PORT)
        assert not applying.done()  # accepted while HAProxy is still starting
        assert await asyncio.wait_for(reader.readline(), 10) == b"early\n"
        writer.close()
        assert (await applying).failed == {}
        assert await who(vip, PORT) == "early"

    on_slow_haproxy(tmp_path, backend, scenario)


def test_apply_haproxy_slow_to_start_early_connection_of_client_the_security_group_drops_gets_nothing(tmp_path):
    backend = NamedBackend("guarded", b"\n")
    vip = fresh_vip()
    # The VIP too: HAProxy sees an early connection coming from the relay, whose source is the VIP.
    only_localhost = AdmissionSpec(rules=(AdmissionRule(True, "127.0.0.1/32"), AdmissionRule(True, f"{vip}/32")))

    async def scenario(engine):
        spec = tcp_listener("lbl-guarded", PORT, [backend.target()], admission=only_localhost,
                            health_check=NO_CHECK)
        applying = asyncio.ensure_future(engine.apply(state(vip, spec)))
        admitted_reader, admitted_writer = await connect_soon(vip, PORT, "127.0.0.1")
        dropped_reader, dropped_writer = await connect_soon(vip, PORT, "127.0.0.77")
        assert not applying.done()
        assert await closed_by_peer(dropped_reader, 10)
        assert await asyncio.wait_for(admitted_reader.readline(), 10) == b"guarded\n"
        assert backend.accepted == 1
        for writer in (admitted_writer, dropped_writer):
            writer.close()
        assert (await applying).failed == {}

    on_slow_haproxy(tmp_path, backend, scenario)


def test_apply_haproxy_slow_to_start_security_group_not_admitting_vip_port_refuses_until_haproxy_listens(tmp_path):
    """The relay's source is the VIP: a security group that drops it would drop every early connection."""
    backend = NamedBackend("late", b"\n")
    vip = fresh_vip()
    localhost_only = AdmissionSpec(rules=(AdmissionRule(True, "127.0.0.1/32"),))

    async def scenario(engine):
        spec = tcp_listener("lbl-late", PORT, [backend.target()], admission=localhost_only, health_check=NO_CHECK)
        applying = asyncio.ensure_future(engine.apply(state(vip, spec)))
        with pytest.raises(ConnectionRefusedError):
            await connect_soon(vip, PORT, "127.0.0.1")
        assert (await applying).failed == {}
        assert await who(vip, PORT, "127.0.0.1") == "late"

    on_slow_haproxy(tmp_path, backend, scenario)
