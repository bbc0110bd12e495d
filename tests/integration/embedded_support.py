"""Real-socket helpers for the engine tests driven without the control plane: loops, VIPs, specs, clients.

Each test runs its own event loop (default asyncio and uvloop, via the ``loop_kind``
fixture) with ``run``. TCP targets are ``backends.NamedBackend``s on their own threads that
say their name on a line of its own, so a client can tell which target the engine chose;
UDP targets are small asyncio endpoints on the test's loop that answer ``name|payload``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from backends import NamedBackend
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


def tcp_listener(listener_id: str, port: int, targets=(), **options) -> ListenerSpec:
    return ListenerSpec(listener_id, ListenerProtocol.TCP, port, targets=tuple(targets), **options)


def udp_listener(listener_id: str, port: int, targets=(), protocol=ListenerProtocol.UDP, **options) -> ListenerSpec:
    return ListenerSpec(listener_id, protocol, port, targets=tuple(targets), **options)


def state(vip: str, *listeners: ListenerSpec, lb_id: str = "lb-test") -> LoadBalancerState:
    return LoadBalancerState(lb_id, vip, tuple(listeners))


def tcp_backends(*names: str) -> list[NamedBackend]:
    """One running TCP target per name, each greeting with ``name\\n``."""
    return [NamedBackend(name, end=b"\n") for name in names]


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> float:
    """Poll ``predicate`` on the running loop; the seconds it took to hold, or fail the test."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not predicate():
        if loop.time() - started > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)
    return loop.time() - started


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
