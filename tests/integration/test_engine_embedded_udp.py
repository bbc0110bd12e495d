"""The embedded engine's UDP and QUIC listeners over real loopback sockets, on both loops."""

from __future__ import annotations

import asyncio
import socket

from backends import free_port, open_fds
from embedded_support import UdpClient, ask, fresh_vip, run, state, udp_backends, udp_listener
from openclb.protocols import ListenerProtocol
from openclb.engine.spec import TargetSpec
from openclb.engine.embedded import EmbeddedEngine


def quic_long(dcid: bytes, scid: bytes = b"\x00" * 8) -> bytes:
    return bytes([0xC3, 0, 0, 0, 1, len(dcid)]) + dcid + bytes([len(scid)]) + scid + b"initial"


def quic_short(dcid: bytes) -> bytes:
    return bytes([0x43]) + dcid + b"1-rtt"


async def open_udp(vip: str, port: int, client_ip: str = "127.0.0.1"):
    return await UdpClient.open(vip, port, client_ip)


def test_udp_replies_reach_the_right_client(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        (backend,) = await udp_backends("echo")
        engine = EmbeddedEngine()
        assert (await engine.apply(state(vip, udp_listener("lbl-1", port, [backend.target()])))).ok
        (one, one_client), (two, two_client) = await open_udp(vip, port), await open_udp(vip, port)
        for round_ in range(5):
            one.sendto(b"one-%d" % round_)
            two.sendto(b"two-%d" % round_)
            assert await one_client.reply() == b"echo|one-%d" % round_
            assert await two_client.reply() == b"echo|two-%d" % round_
        assert len(backend.peers) == 2
        stats = (await engine.stats())["lb-test"]["lbl-1"]
        assert (stats["active"], stats["total"], stats["bytes_in"]) == (2, 2, 50)
        one.close()
        two.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_udp_without_targets_drops_datagrams(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        engine = EmbeddedEngine()
        await engine.apply(state(vip, udp_listener("lbl-1", port)))
        transport, client = await open_udp(vip, port)
        transport.sendto(b"anyone?")
        assert await client.reply(timeout=0.3) is None
        assert (await engine.stats())["lb-test"]["lbl-1"]["dropped"] == 1
        transport.close()
        await engine.close()
    run(loop_kind, main)


def test_udp_wrr_spreads_flows_and_weight_zero_gets_none(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        first, second, zero = await udp_backends("first", "second", "zero")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, udp_listener(
            "lbl-1", port, [first.target(), second.target(), zero.target(0)])))
        clients = [await open_udp(vip, port) for _ in range(6)]
        names = [await ask(transport, client, b"hi") for transport, client in clients]
        assert sorted(names) == ["first"] * 3 + ["second"] * 3
        for transport, _ in clients:
            transport.close()
        await engine.close()
        for backend in (first, second, zero):
            backend.close()
    run(loop_kind, main)


def test_udp_session_persistence_keeps_client_ip_on_target(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        first, second = await udp_backends("first", "second")
        engine = EmbeddedEngine()
        targets = [first.target(), second.target()]
        await engine.apply(state(vip, udp_listener("lbl-1", port, targets, session_expire_time=30)))
        for client_ip in ("127.4.0.1", "127.4.0.2"):
            clients = [await open_udp(vip, port, client_ip) for _ in range(4)]
            assert len({await ask(transport, client, b"hello") for transport, client in clients}) == 1
            for transport, _ in clients:
                transport.close()
        assert (await engine.stats())["lb-test"]["lbl-1"]["total"] == 8
        await engine.close()
        first.close()
        second.close()
    run(loop_kind, main)


def test_quic_cid_session_pins_across_client_address_change(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        first, second = await udp_backends("first", "second")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, udp_listener(
            "lbl-1", port, [first.target(), second.target()], protocol=ListenerProtocol.QUIC, session_type="QUIC_CID")))
        for index in range(3):
            cid = bytes([index + 1]) * 8
            old_transport, old_client = await open_udp(vip, port, f"127.5.0.{index + 1}")
            served_by = await ask(old_transport, old_client, quic_long(cid))
            new_transport, new_client = await open_udp(vip, port, f"127.5.1.{index + 1}")
            assert await ask(new_transport, new_client, quic_short(cid)) == served_by
            old_transport.close()
            new_transport.close()
        await engine.close()
        first.close()
        second.close()
    run(loop_kind, main)


class _QuicLikeServer(asyncio.DatagramProtocol):
    """Answers every packet with a long header naming its own connection id, then its name."""

    def __init__(self, name: bytes, server_cid: bytes) -> None:
        self.name = name
        self.server_cid = server_cid

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.transport.sendto(quic_long(b"\x00" * 8, self.server_cid) + b"|" + self.name, addr)


def test_quic_cid_learns_server_chosen_id_from_reply(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        loop = asyncio.get_running_loop()
        servers = []
        for name, server_cid in ((b"first", b"F" * 8), (b"second", b"S" * 8)):
            transport, _ = await loop.create_datagram_endpoint(
                lambda name=name, cid=server_cid: _QuicLikeServer(name, cid), local_addr=("127.0.0.1", 0))
            servers.append(transport)
        targets = [TargetSpec("127.0.0.1", t.get_extra_info("sockname")[1]) for t in servers]
        engine = EmbeddedEngine()
        await engine.apply(state(vip, udp_listener(
            "lbl-1", port, targets, protocol=ListenerProtocol.QUIC, session_type="QUIC_CID")))
        for client_ip in ("127.6.0.1", "127.6.0.2"):
            transport, client = await open_udp(vip, port, client_ip)
            transport.sendto(quic_long(client_ip[-1].encode() * 8))
            served_by = (await client.reply()).rpartition(b"|")[2]
            server_cid = b"F" * 8 if served_by == b"first" else b"S" * 8
            moved, moved_client = await open_udp(vip, port, client_ip.replace("127.6.", "127.7."))
            moved.sendto(quic_short(server_cid))
            assert (await moved_client.reply()).rpartition(b"|")[2] == served_by
            transport.close()
            moved.close()
        await engine.close()
        for transport in servers:
            transport.close()
    run(loop_kind, main)


def test_udp_flow_expires_after_idle_timeout(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        (backend,) = await udp_backends("echo")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, udp_listener("lbl-1", port, [backend.target()], idle_timeout=1)))
        transport, client = await open_udp(vip, port)
        assert await ask(transport, client, b"a") == "echo"
        listener = engine.listener("lb-test", "lbl-1")
        assert len(listener.connections) == 1
        await asyncio.sleep(1.8)
        assert len(listener.connections) == 0
        assert await ask(transport, client, b"b") == "echo"
        assert listener.total == 2
        transport.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_udp_flows_beyond_max_are_dropped(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        (backend,) = await udp_backends("echo")
        engine = EmbeddedEngine(max_udp_flows=2)
        await engine.apply(state(vip, udp_listener("lbl-1", port, [backend.target()])))
        clients = [await open_udp(vip, port) for _ in range(3)]
        answers = [await ask(transport, client, b"x") for transport, client in clients[:2]]
        clients[2][0].sendto(b"x")
        assert answers == ["echo", "echo"]
        assert await clients[2][1].reply(timeout=0.3) is None
        assert await ask(*clients[0], b"again") == "echo"
        for transport, _ in clients:
            transport.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_udp_listener_update_keeps_flows_and_removal_releases_port(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        first, second = await udp_backends("first", "second")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, udp_listener("lbl-1", port, [first.target()])))
        transport, client = await open_udp(vip, port)
        assert await ask(transport, client, b"1") == "first"
        await engine.apply(state(vip, udp_listener("lbl-1", port, [second.target()])))
        assert await ask(transport, client, b"2") == "first"
        other, other_client = await open_udp(vip, port)
        assert await ask(other, other_client, b"3") == "second"
        await engine.apply(state(vip))
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((vip, port))
        probe.close()
        transport.close()
        other.close()
        await engine.close()
        first.close()
        second.close()
    run(loop_kind, main)


def test_udp_burst_at_flow_start_is_relayed_whole(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        (backend,) = await udp_backends("echo")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, udp_listener("lbl-1", port, [backend.target()])))
        transport, client = await open_udp(vip, port)
        for index in range(50):
            transport.sendto(b"%d" % index)
        replies = {await client.reply() for _ in range(50)}
        assert replies == {b"echo|%d" % index for index in range(50)}
        transport.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_udp_no_fd_leak_after_flows_end(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        (backend,) = await udp_backends("echo")
        engine = EmbeddedEngine()
        await engine.apply(state(vip, udp_listener("lbl-1", port, [backend.target()])))
        await asyncio.sleep(0.05)
        before = open_fds()
        clients = [await open_udp(vip, port) for _ in range(200)]
        for transport, client in clients:
            assert await ask(transport, client, b"x") == "echo"
        assert (await engine.stats())["lb-test"]["lbl-1"]["active"] == 200
        await engine.apply(state(vip))
        for transport, _ in clients:
            transport.close()
        await asyncio.sleep(0.05)
        assert open_fds() <= before - 1  # the listener's own socket is gone too
        await engine.close()
        backend.close()
    run(loop_kind, main)
