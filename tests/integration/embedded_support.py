"""Real-socket helpers for the embedded engine tests: loops, VIPs, backends, clients.

Each test runs its own event loop (default asyncio and uvloop, via the ``loop_kind``
parameter) with ``run``; backends are small asyncio servers on 127.0.0.1 that say who they
are, so a client can tell which target the engine chose.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket

import pytest

from openclb.protocols import ListenerProtocol
from openclb.engine.spec import ListenerSpec, LoadBalancerState, TargetSpec

LOOP_KINDS = ["asyncio", "uvloop"]


def run(loop_kind: str, main, timeout: float = 20.0):
    """Run ``main()`` to completion on a fresh loop of ``loop_kind``."""
    factory = None
    if loop_kind == "uvloop":
        import uvloop  # a dev dependency: both loops are always tested

        factory = uvloop.new_event_loop
    async def bounded():
        try:
            return await asyncio.wait_for(main(), timeout)
        finally:
            await asyncio.sleep(0.01)  # let closed transports and handles finish closing

    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(bounded())


def fresh_vip() -> str:
    """A random VIP in 127.1/16, so parallel tests rarely meet on one address."""
    return f"127.1.{random.randint(0, 255)}.{random.randint(2, 254)}"


def free_port(vip: str, kind: int = socket.SOCK_STREAM, span: int = 1) -> int:
    """A port (or the start of ``span`` consecutive ports) free on ``vip`` for TCP and UDP."""
    for _ in range(200):
        probe = socket.socket(socket.AF_INET, kind)
        probe.bind((vip, 0))
        start = probe.getsockname()[1]
        probe.close()
        if start + span >= 65535:
            continue
        if all(_port_free(vip, port) for port in range(start, start + span)):
            return start
    raise RuntimeError("no free port range")


def _port_free(vip: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        probe = socket.socket(socket.AF_INET, kind)
        try:
            probe.bind((vip, port))
        except OSError:
            return False
        finally:
            probe.close()
    return True


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def tcp_listener(listener_id: str, port: int, targets=(), **options) -> ListenerSpec:
    return ListenerSpec(listener_id, ListenerProtocol.TCP, port, targets=tuple(targets), **options)


def udp_listener(listener_id: str, port: int, targets=(), protocol=ListenerProtocol.UDP, **options) -> ListenerSpec:
    return ListenerSpec(listener_id, protocol, port, targets=tuple(targets), **options)


def state(vip: str, *listeners: ListenerSpec, lb_id: str = "lb-test") -> LoadBalancerState:
    return LoadBalancerState(lb_id, vip, tuple(listeners))


class IdentifyProtocol(asyncio.Protocol):
    """Says ``name\\n`` on connect, then echoes; answers a half-close with ``bye`` and closes."""

    def __init__(self, backend: TcpBackend) -> None:
        self.backend = backend

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.backend.connections.add(self)
        self.backend.accepted += 1
        transport.write(self.backend.name.encode() + b"\n")

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        self.backend.half_closes += 1
        self.transport.write(b"bye\n")
        return False

    def connection_lost(self, exc) -> None:
        self.backend.connections.discard(self)


class TcpBackend:
    """A named TCP target on 127.0.0.1."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.connections: set = set()
        self.accepted = 0
        self.half_closes = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, protocol=IdentifyProtocol) -> TcpBackend:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: protocol(self), "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def target(self, weight: int = 10) -> TargetSpec:
        return TargetSpec("127.0.0.1", self.port, weight)

    def close(self) -> None:
        self.server.close()
        for connection in list(self.connections):
            connection.transport.abort()


async def tcp_backends(*names: str) -> list[TcpBackend]:
    return [await TcpBackend(name).start() for name in names]


async def connect(vip: str, port: int, client_ip: str | None = None):
    local = (client_ip, 0) if client_ip else None
    return await asyncio.open_connection(vip, port, local_addr=local)


async def who(vip: str, port: int, client_ip: str | None = None) -> str:
    """Connect, read the backend's name, close."""
    reader, writer = await connect(vip, port, client_ip)
    try:
        return (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
    finally:
        writer.close()
        await writer.wait_closed()


async def closed_by_peer(reader: asyncio.StreamReader, timeout: float = 3.0) -> bool:
    """Whether the connection ends (EOF or reset) within ``timeout`` seconds."""
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except asyncio.TimeoutError:
        return False


class UdpBackendProtocol(asyncio.DatagramProtocol):
    def __init__(self, backend: UdpBackend) -> None:
        self.backend = backend

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.backend.peers.add(addr)
        self.transport.sendto(self.backend.name.encode() + b"|" + data, addr)


class UdpBackend:
    """A named UDP target on 127.0.0.1 that answers ``name|payload``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.peers: set = set()
        self.transport = None
        self.port = 0

    async def start(self) -> UdpBackend:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: UdpBackendProtocol(self), local_addr=("127.0.0.1", 0))
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    def target(self, weight: int = 10) -> TargetSpec:
        return TargetSpec("127.0.0.1", self.port, weight)

    def close(self) -> None:
        self.transport.close()


async def udp_backends(*names: str) -> list[UdpBackend]:
    return [await UdpBackend(name).start() for name in names]


class UdpClient(asyncio.DatagramProtocol):
    """A UDP client socket collecting replies."""

    def __init__(self) -> None:
        self.replies: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data: bytes, addr) -> None:
        self.replies.put_nowait(data)

    @classmethod
    async def open(cls, vip: str, port: int, client_ip: str = "127.0.0.1") -> tuple[asyncio.DatagramTransport, UdpClient]:
        loop = asyncio.get_running_loop()
        return await loop.create_datagram_endpoint(cls, local_addr=(client_ip, 0), remote_addr=(vip, port))

    async def reply(self, timeout: float = 3.0) -> bytes | None:
        try:
            return await asyncio.wait_for(self.replies.get(), timeout)
        except asyncio.TimeoutError:
            return None


async def ask(transport, client: UdpClient, payload: bytes) -> str | None:
    """Send ``payload``, return the name of the backend that answered (or None)."""
    transport.sendto(payload)
    reply = await client.reply()
    if reply is None:
        return None
    name, _, echoed = reply.partition(b"|")
    assert echoed == payload
    return name.decode()
