"""Stopping drains, on the embedded engine driven directly, on asyncio and on uvloop.

A listener that leaves (an apply without it) or the whole engine (close) stops accepting at
once; established connections get ``drain_seconds`` to finish, then are closed. HTTP
connections between requests are closed at once, and one with a request in flight is
closed right after its response, which says ``Connection: close``. UDP flows just close.
Every backend is a real asyncio server on loopback; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import pytest

from backends import free_port
from clb_support import make_pki
from embedded_support import (
    LOOP_KINDS, UdpClient, ask, closed_by_peer, connect, fresh_vip, run, state, tcp_backends,
    tcp_listener, udp_backends, udp_listener,
)
from openclb.protocols import ListenerProtocol
from openclb.engine.spec import CertificateSpec, ListenerSpec, RuleSpec, TargetSpec, TlsSpec
from openclb.engine.embedded.engine import EmbeddedEngine


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request):
    return request.param


def http_spec(port: int, target_port: int, tls: bool = False) -> ListenerSpec:
    rule = RuleSpec("loc-1", ("e.test",), "/", (TargetSpec("127.0.0.1", target_port),), default_server=True)
    if not tls:
        return ListenerSpec("lbl-http", ListenerProtocol.HTTP, port, rules=(rule,))
    certificate = make_pki().rsa
    return ListenerSpec("lbl-https", ListenerProtocol.HTTPS, port, rules=(rule,),
                        tls=TlsSpec((CertificateSpec("cert-1", certificate.cert, certificate.key),)))


async def slow_http_target(delay: float) -> tuple[asyncio.AbstractServer, asyncio.Event]:
    """An HTTP target that answers ``/slow`` after ``delay`` seconds and anything else at once.

    The event is set when a ``/slow`` request has arrived, i.e. is in flight.
    """
    arrived = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"GET /slow"):
                    arrived.set()
                    await asyncio.sleep(delay)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, arrived


async def refused(vip: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(connect(vip, port), 2)
    except (ConnectionRefusedError, asyncio.TimeoutError):
        return True
    writer.close()
    return False


async def read_to_end(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout)


def test_apply_listener_removed_port_closes_at_once_and_connection_drains(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine(drain_seconds=0.6)
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        reader, writer = await connect(vip, port)
        assert await reader.readline() == b"a\n"

        started = time.monotonic()
        assert (await engine.apply(state(vip))).ok
        assert time.monotonic() - started < 0.3
        assert await refused(vip, port)
        writer.write(b"still served\n")
        assert await asyncio.wait_for(reader.readline(), 2) == b"still served\n"
        assert await closed_by_peer(reader, timeout=2)
        assert 0.5 < time.monotonic() - started < 1.5
        writer.close()
        await engine.close()
        backend.close()
    run(loop_kind, main)


def test_close_tcp_connection_open_past_grace_is_closed(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine(drain_seconds=0.5)
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        reader, writer = await connect(vip, port)
        assert await reader.readline() == b"a\n"

        started = time.monotonic()
        await asyncio.wait_for(engine.close(), 3)
        assert 0.4 < time.monotonic() - started < 1.5
        assert await closed_by_peer(reader, timeout=1)
        writer.close()
        backend.close()
    run(loop_kind, main)


def test_close_tcp_connections_ending_early_returns_before_grace(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        (backend,) = tcp_backends("a")
        engine = EmbeddedEngine(drain_seconds=10)
        await engine.apply(state(vip, tcp_listener("lbl-1", port, [backend.target()])))
        reader, writer = await connect(vip, port)
        assert await reader.readline() == b"a\n"

        closing = asyncio.ensure_future(engine.close())
        await asyncio.sleep(0.2)
        assert not closing.done()
        assert await refused(vip, port)
        started = time.monotonic()
        writer.write_eof()  # the backend answers a half-close with "bye" and closes
        assert await read_to_end(reader) == b"bye\n"
        await asyncio.wait_for(closing, 2)
        assert time.monotonic() - started < 1
        writer.close()
        backend.close()
    run(loop_kind, main)


def test_close_http_request_in_flight_finishes_with_connection_close(loop_kind):
    async def main():
        target, arrived = await slow_http_target(delay=0.8)
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine(drain_seconds=5)
        assert (await engine.apply(state(vip, http_spec(port, target.sockets[0].getsockname()[1])))).ok
        reader, writer = await connect(vip, port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: e.test\r\n\r\n")
        await asyncio.wait_for(arrived.wait(), 3)

        started = time.monotonic()
        closing = asyncio.ensure_future(engine.close())
        assert await refused(vip, port)
        response = await read_to_end(reader)
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and body == b"done"
        assert b"connection: close" in head.lower()
        await asyncio.wait_for(closing, 2)
        assert time.monotonic() - started < 2
        writer.close()
        target.close()
    run(loop_kind, main)


def test_close_http_idle_keepalive_connection_closed_at_once(loop_kind):
    async def main():
        target, _ = await slow_http_target(delay=0)
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine(drain_seconds=5)
        assert (await engine.apply(state(vip, http_spec(port, target.sockets[0].getsockname()[1])))).ok
        reader, writer = await connect(vip, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        assert b"connection: close" not in head.lower()
        assert await asyncio.wait_for(reader.readexactly(4), 3) == b"done"

        started = time.monotonic()
        await asyncio.wait_for(engine.close(), 3)
        assert time.monotonic() - started < 0.5
        assert await read_to_end(reader, timeout=1) == b""
        writer.close()
        target.close()
    run(loop_kind, main)


def test_close_https_idle_client_not_reading_closed_without_waiting_for_grace(loop_kind):
    async def main():
        target, _ = await slow_http_target(delay=0)
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine(drain_seconds=5)
        spec = http_spec(port, target.sockets[0].getsockname()[1], tls=True)
        assert (await engine.apply(state(vip, spec))).ok
        context = ssl.create_default_context(cadata=make_pki().ca.cert)
        context.check_hostname = False

        def pooled_connection() -> ssl.SSLSocket:
            # As a client's connection pool holds one: used once, then not read until reused.
            sock = context.wrap_socket(socket.create_connection((vip, port), timeout=5))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
            reply = b""
            while not reply.endswith(b"done"):
                reply += sock.recv(4096)
            return sock

        sock = await asyncio.to_thread(pooled_connection)
        started = time.monotonic()
        await asyncio.wait_for(engine.close(), 3)
        assert time.monotonic() - started < 0.5
        sock.settimeout(1)
        assert await asyncio.to_thread(sock.recv, 4096) == b""
        sock.close()
        target.close()
    run(loop_kind, main)


def test_close_http_partial_request_head_served_then_closed(loop_kind):
    async def main():
        target, _ = await slow_http_target(delay=0)
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine(drain_seconds=5)
        assert (await engine.apply(state(vip, http_spec(port, target.sockets[0].getsockname()[1])))).ok
        reader, writer = await connect(vip, port)
        writer.write(b"GET / HTTP/1.1\r\nHo")
        await asyncio.sleep(0.1)

        closing = asyncio.ensure_future(engine.close())
        await asyncio.sleep(0.1)
        writer.write(b"st: e.test\r\n\r\n")
        response = await read_to_end(reader)
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"done")
        assert b"connection: close" in response.lower()
        await asyncio.wait_for(closing, 2)
        writer.close()
        target.close()
    run(loop_kind, main)


def test_close_udp_flow_closed_without_waiting_for_grace(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip, socket.SOCK_DGRAM)
        (backend,) = await udp_backends("u")
        engine = EmbeddedEngine(drain_seconds=5)
        assert (await engine.apply(state(vip, udp_listener("lbl-u", port, [backend.target()])))).ok
        transport, client = await UdpClient.open(vip, port)
        assert await ask(transport, client, b"hello") == "u"

        started = time.monotonic()
        await asyncio.wait_for(engine.close(), 3)
        assert time.monotonic() - started < 0.5
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((vip, port))
        probe.close()
        transport.close()
        backend.close()
    run(loop_kind, main)
