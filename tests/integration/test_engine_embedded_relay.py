"""The embedded engine's TCP relay over real loopback sockets: relay behaviour and limits.

Every test runs on both the default asyncio loop and uvloop (``loop_kind``).
"""


import asyncio
import socket
from dataclasses import replace


from backends import FloodBackend, free_port, open_fds
from embedded_support import (
    closed_by_peer, connect, fresh_vip, run, state, tcp_backends, tcp_listener, who,
)
from openclb.protocols import ListenerProtocol
from openclb.engine.embedded import EmbeddedEngine


# -- relay behaviour ------------------------------------------------------------------


def test_relay_half_close_passes_eof_and_keeps_reply(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        reader, writer = await connect(vip, port)
        writer.write(b"last words\n")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 3) == b"a\nlast words\nbye\n"
        assert backend.half_closes == 1
        writer.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_relay_sockets_have_tcp_nodelay(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        reader, writer = await connect(vip, port)
        await reader.readline()
        (relay,) = engine.listener("lb-test", "lbl-1").connections
        for transport in (relay.transport, relay.upstream):
            sock = transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_stats_count_connections_and_bytes(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        reader, writer = await connect(vip, port)
        await reader.readline()
        writer.write(b"12345")
        await reader.readexactly(5)
        live = (await engine.stats())["lb-test"]["lbl-1"]
        assert (live["active"], live["total"], live["bytes_in"], live["bytes_out"]) == (1, 1, 5, 7)
        writer.write_eof()
        assert await reader.read() == b"bye\n"
        writer.close()
        await asyncio.sleep(0.1)
        done = (await engine.stats())["lb-test"]["lbl-1"]
        assert (done["active"], done["bytes_in"], done["bytes_out"]) == (0, 5, 11)
        assert done["targets"][0]["total"] == 1 and done["targets"][0]["bytes_out"] == 11
        await engine.close()
        backend.close()
    run(loop_kind, main)


# -- limits ---------------------------------------------------------------------------


def test_max_conn_refuses_connections_beyond_limit(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()], max_conn=2)))
        held = [await connect(vip, port) for _ in range(2)]
        for reader, _ in held:
            assert await reader.readline() == b"a\n"
        reader, writer = await connect(vip, port)
        assert await closed_by_peer(reader, timeout=2)
        writer.close()
        held[0][1].close()
        await asyncio.sleep(0.1)
        assert await who(vip, port) == "a"
        held[1][1].close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_max_cps_refuses_connections_beyond_rate(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()], max_cps=5)))
        outcomes = []
        started = asyncio.get_running_loop().time()
        for _ in range(8):
            reader, writer = await connect(vip, port)
            try:
                outcomes.append(await asyncio.wait_for(reader.readline(), 2))
            except ConnectionResetError:
                outcomes.append(b"")
            writer.close()
        elapsed = asyncio.get_running_loop().time() - started
        # A burst of 5 passes; after that one more per 0.2 s the loop took.
        assert 5 <= outcomes.count(b"a\n") <= 5 + int(elapsed * 5) + 1
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_idle_timeout_closes_idle_tcp_connection_only(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()], idle_timeout=1)))
        idle_reader, idle_writer = await connect(vip, port)
        busy_reader, busy_writer = await connect(vip, port)
        await idle_reader.readline()
        await busy_reader.readline()
        for _ in range(6):
            await asyncio.sleep(0.3)
            busy_writer.write(b"tick\n")
            assert await busy_reader.readline() == b"tick\n"
        assert await closed_by_peer(idle_reader, timeout=0.1)
        assert not busy_reader.at_eof()
        idle_writer.close()
        busy_writer.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_slow_reader_keeps_proxy_buffers_bounded(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        backend = FloodBackend()
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        reader, writer = await connect(vip, port)
        peak = 0
        for _ in range(10):
            await asyncio.sleep(0.05)
            for relay in engine.listener("lb-test", "lbl-1").connections:
                buffered = relay.transport.get_write_buffer_size()
                if relay.upstream is not None:
                    buffered += relay.upstream.get_write_buffer_size()
                peak = max(peak, buffered)
        assert backend.sent < FloodBackend.TOTAL // 2
        assert peak < 1024 * 1024, peak
        received = 0
        while chunk := await reader.read(1 << 20):
            received += len(chunk)
        assert received == FloodBackend.TOTAL
        writer.close()
        await engine.close()
        backend.close()
    run(loop_kind, main, timeout=30)


def test_no_fd_leak_after_2000_short_connections(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        await who(vip, port)
        await asyncio.sleep(0.1)
        before = open_fds()

        async def batch():
            for _ in range(40):
                assert await who(vip, port) == "a"

        await asyncio.gather(*(batch() for _ in range(50)))
        for _ in range(50):
            await asyncio.sleep(0.05)
            if open_fds() <= before and not engine.listener("lb-test", "lbl-1").connections:
                break
        assert open_fds() <= before
        assert (await engine.stats())["lb-test"]["lbl-1"]["total"] == 2001
        await engine.close()
        backend.close()
    run(loop_kind, main, timeout=30)


def test_tcp_ssl_listener_ssl_switched_off_relays_plain_tcp(loop_kind):
    """TCP_SSL with ``tls`` None (SSL switched off) is a plain TCP relay; HTTP/HTTPS are L7
    now and tested in test_l7_traffic.py / test_tls_traffic.py."""
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine()
        listener = replace(tcp_listener("lbl-tcp_ssl", port, [backend.target()]), protocol=ListenerProtocol.TCP_SSL)
        assert (await engine.apply(state(vip, listener))).ok
        assert await who(vip, port) == "a"
        await engine.close()
        backend.close()
    run(loop_kind, main)
