"""The embedded engine over real loopback sockets: binding, TCP relaying, limits, leaks.

Every test runs on both the default asyncio loop and uvloop. UDP/QUIC are in
``test_engine_embedded_udp.py``; relay behaviour and limits in ``test_engine_embedded_relay.py``.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from dataclasses import replace

import pytest

from backends import free_port
from embedded_support import (
    closed_by_peer, connect, fresh_vip, run, state, tcp_backends, tcp_listener, udp_listener, wait_until, who,
)
from openclb.engine.spec import HealthCheckSpec, Scheduler, TargetSpec
from openclb.engine.embedded import EmbeddedEngine
from openclb.engine.embedded.health import HealthChecker


# -- binding --------------------------------------------------------------------------


def test_apply_tcp_and_udp_listeners_serve_right_after_apply(loop_kind):
    async def main():
        vip = fresh_vip()
        tcp_port, udp_port = free_port(vip), free_port(vip, socket.SOCK_DGRAM)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        result = await engine.apply(state(
            vip, tcp_listener("lbl-t", tcp_port, [backend.target()]), udp_listener("lbl-u", udp_port)))
        assert result.ok
        assert await who(vip, tcp_port) == "a"
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with pytest.raises(OSError):
            probe.bind((vip, udp_port))
        probe.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_apply_tcp_without_targets_accepts_and_closes(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine()
        assert (await engine.apply(state(vip, tcp_listener("lbl-1", port)))).ok
        reader, writer = await connect(vip, port)
        assert await closed_by_peer(reader)
        writer.close()
        await engine.close()
    run(loop_kind, main)


def test_apply_all_targets_weight_zero_accepts_and_closes(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target(0)])))
        reader, writer = await connect(vip, port)
        assert await closed_by_peer(reader)
        writer.close()
        assert backend.accepted == 0
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_apply_port_held_by_other_process_fails_and_binds_nothing(loop_kind):
    async def main():
        vip = fresh_vip()
        start = free_port(vip, span=3)
        holder = socket.socket()
        holder.bind((vip, start + 1))
        holder.listen()
        engine = EmbeddedEngine()
        result = await engine.apply(state(
            vip, tcp_listener("lbl-range", start, end_port=start + 2), udp_listener("lbl-ok", start)))
        assert set(result.failed) == {"lbl-range"}
        assert result.failed["lbl-range"].user_message == (
            f"Port {start + 1} on {vip} is already in use by another process")
        for port in (start, start + 2):
            with pytest.raises(ConnectionRefusedError):
                await connect(vip, port)
        holder.close()
        assert (await engine.apply(state(
            vip, tcp_listener("lbl-range", start, end_port=start + 2), udp_listener("lbl-ok", start)))).ok
        await engine.close()
    run(loop_kind, main)


def test_apply_port_range_binds_every_port_and_maps_target_ports(loop_kind):
    async def main():
        vip = fresh_vip()
        start = free_port(vip, span=3)
        (backend,) = tcp_backends("x")
        # The Nth port of the range goes to the target's port + N: start + 1 reaches the backend.
        engine = EmbeddedEngine()
        spec = tcp_listener("lbl-1", start, [TargetSpec("127.0.0.1", backend.port - 1)], end_port=start + 2)
        assert (await engine.apply(state(vip, spec))).ok
        assert await who(vip, start + 1) == "x"
        for port in (start, start + 2):
            _, writer = await connect(vip, port)
            writer.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_apply_port_range_over_limit_fails(loop_kind):
    async def main():
        vip = fresh_vip()
        engine = EmbeddedEngine(max_ports_per_listener=10)
        result = await engine.apply(state(vip, tcp_listener("lbl-1", 20000, end_port=20010)))
        assert "at most 10" in result.failed["lbl-1"].user_message
        await engine.close()
    run(loop_kind, main)


def test_apply_listener_removed_releases_its_port(loop_kind):
    async def main():
        vip = fresh_vip()
        tcp_port, udp_port = free_port(vip), free_port(vip, socket.SOCK_DGRAM)
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-t", tcp_port), udp_listener("lbl-u", udp_port)))
        assert (await engine.apply(state(vip))).ok
        with pytest.raises(ConnectionRefusedError):
            await connect(vip, tcp_port)
        for kind, port in ((socket.SOCK_STREAM, tcp_port), (socket.SOCK_DGRAM, udp_port)):
            probe = socket.socket(socket.AF_INET, kind)
            probe.bind((vip, port))
            probe.close()
        await engine.close()
    run(loop_kind, main)


def test_apply_same_state_twice_is_noop(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        desired = state(vip, tcp_listener("lbl-1", port, [backend.target()]))
        await engine.apply(desired)
        listener = engine.listener("lb-test", "lbl-1")
        servers = list(listener.servers)
        reader, writer = await connect(vip, port)
        assert await reader.readline() == b"a\n"
        assert (await engine.apply(desired)).ok
        assert engine.listener("lb-test", "lbl-1") is listener and listener.servers == servers
        writer.write(b"still here\n")
        assert await reader.readline() == b"still here\n"
        writer.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_remove_and_close_release_ports_and_reset_connections(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        reader, writer = await connect(vip, port)
        await reader.readline()
        await engine.close()
        assert await closed_by_peer(reader, timeout=2)
        with pytest.raises(ConnectionRefusedError):
            await connect(vip, port)
        assert await engine.stats() == {}
        writer.close()
        backend.close()
    run(loop_kind, main)


# -- scheduling -----------------------------------------------------------------------


def test_wrr_weights_10_30_send_three_quarters_to_heavy(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        light, heavy = tcp_backends("light", "heavy")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [light.target(10), heavy.target(30)])))
        counts = Counter([await who(vip, port) for _ in range(400)])
        assert counts == {"heavy": 300, "light": 100}
        await engine.close()
        light.close()
        heavy.close()
    run(loop_kind, main)


def test_least_conn_sends_new_connection_to_least_loaded(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        first, second = tcp_backends("first", "second")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener(
            "lbl-1", port, [first.target(), second.target()], scheduler=Scheduler.LEAST_CONN)))
        held = []
        for _ in range(4):
            reader, writer = await connect(vip, port)
            held.append((await reader.readline(), writer))
        assert Counter(name for name, _ in held) == {b"first\n": 2, b"second\n": 2}
        for name, writer in held:
            if name == b"first\n":
                writer.close()
        await asyncio.sleep(0.1)
        assert [await who(vip, port) for _ in range(2)] == ["first", "first"]
        for _, writer in held:
            writer.close()
        await engine.close()
        first.close()
        second.close()
    run(loop_kind, main)


def test_weight_zero_target_gets_no_connections(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        drained, live = tcp_backends("drained", "live")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [drained.target(0), live.target(10)])))
        assert {await who(vip, port) for _ in range(20)} == {"live"}
        assert drained.accepted == 0
        await engine.close()
        drained.close()
        live.close()
    run(loop_kind, main)


def test_unhealthy_target_gets_no_connections(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        sick, well = tcp_backends("sick", "well")
        engine = EmbeddedEngine(health_view=lambda listener_id, ip, target_port: target_port != sick.port)
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [sick.target(), well.target()])))
        assert {await who(vip, port) for _ in range(10)} == {"well"}
        assert {(h.port, h.detail) for h in await engine.health("lb-test")} == {(sick.port, "Dead"), (well.port, "Alive")}
        await engine.close()
        sick.close()
        well.close()
    run(loop_kind, main)


def test_upstream_connect_refused_tries_next_target(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (alive,) = tcp_backends("alive")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener(
            "lbl-1", port, [TargetSpec("127.0.0.1", 1, 10), alive.target()])))
        assert [await who(vip, port) for _ in range(4)] == ["alive"] * 4
        await engine.close()
        alive.close()
    run(loop_kind, main)


def test_connect_one_of_two_targets_dead_no_connection_fails_and_checks_take_it_out(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (alive,) = tcp_backends("alive")
        dead = TargetSpec("127.0.0.1", free_port())
        checker = HealthChecker()
        engine = EmbeddedEngine(health_checker=checker)
        await engine.start()
        unchecked = tcp_listener("lbl-1", port, [dead, alive.target()], health_check=HealthCheckSpec(enabled=False))
        await engine.apply(state(vip, unchecked))
        targets = engine.listener("lb-test", "lbl-1").targets
        served = Counter()
        for _ in range(6):
            served.update(await asyncio.gather(*(who(vip, port) for _ in range(50))))
        assert served == {"alive": 300}
        assert targets[(dead.ip, dead.port)].total >= 100
        check = HealthCheckSpec(timeout=1, interval=1, healthy_threshold=2, unhealthy_threshold=2)
        await engine.apply(state(vip, replace(unchecked, health_check=check)))
        await wait_until(lambda: not checker.is_healthy("lbl-1", dead.ip, dead.port), timeout=10)
        tried = targets[(dead.ip, dead.port)].total
        assert [await who(vip, port) for _ in range(20)] == ["alive"] * 20
        assert targets[(dead.ip, dead.port)].total == tried
        await engine.close()
        alive.close()
    run(loop_kind, main, timeout=40)


def test_session_persistence_tcp_keeps_client_ip_on_target(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        first, second = tcp_backends("first", "second")
        targets = [first.target(), second.target()]
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, targets, session_expire_time=30)))
        for client_ip in ("127.3.0.1", "127.3.0.2", "127.3.0.3"):
            assert len({await who(vip, port, client_ip) for _ in range(6)}) == 1
        await engine.apply(state(vip, tcp_listener("lbl-1", port, targets)))
        assert len({await who(vip, port, "127.3.0.1") for _ in range(6)}) == 2
        await engine.close()
        first.close()
        second.close()
    run(loop_kind, main)


# -- updates in place -----------------------------------------------------------------


def test_update_weights_and_targets_keeps_established_connection(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        first, second, third = tcp_backends("first", "second", "third")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [first.target()])))
        reader, writer = await connect(vip, port)
        assert await reader.readline() == b"first\n"
        await engine.apply(state(vip, tcp_listener(
            "lbl-1", port, [second.target(10), third.target(0)], scheduler=Scheduler.LEAST_CONN, max_conn=100)))
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        assert {await who(vip, port) for _ in range(5)} == {"second"}
        writer.close()
        await engine.close()
        for backend in (first, second, third):
            backend.close()
    run(loop_kind, main)


def test_deregister_target_rst_resets_removed_targets_connections(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        first, second = tcp_backends("first", "second")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [first.target()], deregister_target_rst=True)))
        reader, writer = await connect(vip, port)
        await reader.readline()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [second.target()], deregister_target_rst=True)))
        assert await closed_by_peer(reader, timeout=2)
        writer.close()
        await engine.close()
        first.close()
        second.close()
    run(loop_kind, main)
