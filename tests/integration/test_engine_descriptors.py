"""The embedded engine's descriptor budget, driven directly on asyncio and on uvloop.

Every kind of connection counts what it holds while it lives and gives it back when it ends:
TCP relays and HTTP client connections two, UDP flows and idle pooled target connections one.
At the budget new connections are refused (a TCP client is reset, a datagram dropped) and
the listener counts them as dropped; once connections end, new ones are admitted again.
"""

from __future__ import annotations

import asyncio

from backends import free_port
from embedded_support import (
    UdpClient, closed_by_peer, connect, fresh_vip, run, state, tcp_backends, tcp_listener, udp_backends,
    udp_listener, wait_until,
)
from openclb.engine.embedded.engine import EmbeddedEngine
from openclb.engine.spec import ListenerSpec, RuleSpec, TargetSpec
from openclb.protocols import ListenerProtocol


def test_connect_tcp_past_descriptor_budget_reset_and_admitted_after_others_close(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine(descriptor_budget=7)
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        held = [await connect(vip, port) for _ in range(3)]
        for reader, _ in held:
            assert await reader.readline() == b"a\n"
        assert engine.descriptors.used == 6
        reader, writer = await connect(vip, port)
        assert await closed_by_peer(reader, timeout=2)
        writer.close()
        assert engine.listener("lb-test", "lbl-1").stats()["dropped"] == 1
        held.pop()[1].close()
        await wait_until(lambda: engine.descriptors.used == 4)
        reader, writer = await connect(vip, port)
        assert await reader.readline() == b"a\n"
        held.append((reader, writer))
        for _, held_writer in held:
            held_writer.close()
        await wait_until(lambda: engine.descriptors.used == 0)
        await engine.close()
        backend.close()

    run(loop_kind, main)


def test_request_http_keepalive_pool_counted_and_everything_given_back(loop_kind):
    async def main():
        async def answers(reader, writer):
            try:
                while await reader.readuntil(b"\r\n\r\n"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        server = await asyncio.start_server(answers, "127.0.0.1", 0)
        target = TargetSpec("127.0.0.1", server.sockets[0].getsockname()[1])
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine(descriptor_budget=100)
        rule = RuleSpec("loc-1", ("e.test",), "/", (target,), default_server=True)
        spec = ListenerSpec("lbl-1", ListenerProtocol.HTTP, port, rules=(rule,), keepalive=True)
        assert (await engine.apply(state(vip, spec))).ok
        clients = [await connect(vip, port) for _ in range(3)]
        for reader, writer in clients:
            writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"ok"), 5)
        assert engine.descriptors.used == 3 * 2 + 1
        for _, writer in clients:
            writer.close()
        await wait_until(lambda: engine.descriptors.used == 1)
        await engine.close()
        assert engine.descriptors.used == 0
        server.close()

    run(loop_kind, main)


def test_datagram_flows_past_descriptor_budget_dropped_and_given_back_on_idle(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = await udp_backends("u")
        engine = EmbeddedEngine(descriptor_budget=2)
        await engine.apply(state(vip, udp_listener("lbl-1", port, [backend.target()], idle_timeout=1)))
        clients = [await UdpClient.open(vip, port) for _ in range(3)]
        replies = []
        for transport, client in clients:
            transport.sendto(b"hi")
            replies.append(await client.reply(timeout=1))
        assert replies[:2] == [b"u|hi", b"u|hi"] and replies[2] is None
        assert engine.descriptors.used == 2
        await wait_until(lambda: engine.descriptors.used == 0, timeout=5)
        transport, client = clients[2]
        transport.sendto(b"again")
        assert await client.reply() == b"u|again"
        for transport, _ in clients:
            transport.close()
        await engine.close()
        assert engine.descriptors.used == 0
        backend.close()

    run(loop_kind, main)
