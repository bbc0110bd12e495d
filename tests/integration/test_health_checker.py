"""The health checker against real loopback servers: TCP, HTTP(S), CUSTOM over TCP and UDP, PING."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import ssl
from collections.abc import Callable

import pytest

from clb_support import server_context
from embedded_support import run, wait_until
from openclb.protocols import ListenerProtocol
from openclb.engine.spec import HealthCheckSpec, TargetSpec
from openclb.engine.embedded.health import HealthChecker
from openclb.engine.embedded.health_sockets import ProbePoller

HOST = "127.0.0.1"
FAST = {"interval": 0.2, "timeout": 0.5, "healthy_threshold": 2, "unhealthy_threshold": 2}


def detail_of(checker: HealthChecker, listener_id: str, port: int) -> str:
    return next(h.detail for h in checker.snapshot(listener_id) if h.port == port)


class ReplyOnConnect(asyncio.Protocol):
    """Counts connections; replies ``reply(request)`` once a full request arrived."""

    def __init__(self, stats: dict[str, int], reply: Callable[[bytes], bytes | None]) -> None:
        self._stats = stats
        self._reply = reply
        self._received = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._stats["accepted"] += 1
        self._transport = transport
        greeting = self._reply(b"")
        if greeting is not None:
            transport.write(greeting)
            transport.close()

    def data_received(self, data: bytes) -> None:
        self._received += data
        answer = self._reply(self._received)
        if answer is not None and self._transport is not None:
            self._transport.write(answer)
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def tcp_backend(
    reply: Callable[[bytes], bytes | None] = lambda request: None,
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[asyncio.Server, int, dict[str, int]]:
    stats = {"accepted": 0}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ReplyOnConnect(stats, reply), HOST, port, ssl=ssl_context
    )
    return server, server.sockets[0].getsockname()[1], stats


def http_reply(status: int) -> Callable[[bytes], bytes | None]:
    def reply(request: bytes) -> bytes | None:
        if b"\r\n\r\n" not in request:
            return None
        return f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode()

    return reply


def closed_port() -> tuple[socket.socket, int]:
    """A port that refuses connections: bound, never listening, held for the test."""
    sock = socket.socket()
    sock.bind((HOST, 0))
    return sock, sock.getsockname()[1]


def listening_port() -> tuple[socket.socket, int]:
    """A port whose kernel completes handshakes with no accept() and so no task of ours."""
    sock = socket.socket()
    sock.bind((HOST, 0))
    sock.listen(64)
    return sock, sock.getsockname()[1]


class UdpReplier(asyncio.DatagramProtocol):
    def __init__(self, reply: bytes | None) -> None:
        self._reply = reply
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._reply is not None and self._transport is not None:
            self._transport.sendto(self._reply, addr)


async def udp_backend(reply: bytes | None) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: UdpReplier(reply), local_addr=(HOST, 0)
    )
    return transport, transport.get_extra_info("sockname")[1]


async def verdict_for(
    protocol: ListenerProtocol, port: int, check: HealthCheckSpec, expected: str
) -> None:
    checker = HealthChecker()
    await checker.start()
    try:
        checker.set_listener("lbl-1", protocol, (TargetSpec(HOST, port),), check)
        await wait_until(lambda: detail_of(checker, "lbl-1", port) == expected, timeout=3)
    finally:
        await checker.close()


def test_health_checker_tcp_backend_stops_dead_then_returns_alive():
    async def scenario() -> None:
        changes: list[tuple[str, str, int, bool]] = []
        server, port, _ = await tcp_backend()
        checker = HealthChecker(on_change=lambda *change: changes.append(change))
        await checker.start()
        check = HealthCheckSpec(interval=0.3, timeout=0.3, healthy_threshold=3, unhealthy_threshold=2)
        checker.set_listener("lbl-1", ListenerProtocol.TCP, (TargetSpec(HOST, port),), check)
        await wait_until(lambda: detail_of(checker, "lbl-1", port) == "Alive", timeout=2)

        server.close()
        await server.wait_closed()
        took = await wait_until(lambda: not checker.is_healthy("lbl-1", HOST, port), timeout=5)
        assert took <= 0.3 * 2 + 0.3 + 0.4
        assert detail_of(checker, "lbl-1", port) == "Dead"
        assert changes == [("lbl-1", HOST, port, False)]

        server, _, _ = await tcp_backend(port=port)
        took = await wait_until(lambda: checker.is_healthy("lbl-1", HOST, port), timeout=5)
        assert 0.3 * 2 - 0.1 <= took <= 0.3 * 3 + 0.3 + 0.4
        assert changes[-1] == ("lbl-1", HOST, port, True)
        await checker.close()
        server.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_never_up_target_dead_after_first_probe():
    async def scenario() -> None:
        holder, port = closed_port()
        try:
            await verdict_for(ListenerProtocol.TCP, port, HealthCheckSpec(**FAST), "Dead")
        finally:
            holder.close()

    run("asyncio", scenario, timeout=60)


@pytest.mark.parametrize(
    ("status", "mask", "expected"),
    [(200, 2, "Alive"), (503, 2, "Dead"), (503, 16, "Alive"), (404, 31, "Alive"), (302, 3, "Dead")],
)
def test_health_checker_http_status_in_mask_alive_else_dead(status, mask, expected):
    async def scenario() -> None:
        server, port, _ = await tcp_backend(http_reply(status))
        check = HealthCheckSpec(check_type="HTTP", http_code_mask=mask, **FAST)
        await verdict_for(ListenerProtocol.TCP, port, check, expected)
        server.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_http_sends_method_path_and_domain():
    async def scenario() -> None:
        requests: list[bytes] = []

        def reply(request: bytes) -> bytes | None:
            if b"\r\n\r\n" not in request:
                return None
            requests.append(request)
            return b"HTTP/1.0 200 OK\r\n\r\n"

        server, port, _ = await tcp_backend(reply)
        check = HealthCheckSpec(check_type="HTTP", http_method="GET", http_path="/ready",
                                http_domain="svc.example", **FAST)
        await verdict_for(ListenerProtocol.TCP, port, check, "Alive")
        assert requests[0].startswith(b"GET /ready HTTP/1.1\r\nHost: svc.example\r\n")
        server.close()

    run("asyncio", scenario, timeout=60)


@pytest.mark.parametrize(("status", "expected"), [(200, "Alive"), (500, "Dead")])
def test_health_checker_https_status_over_tls_judged(status, expected):
    context = server_context("ecdsa")

    async def scenario() -> None:
        server, port, _ = await tcp_backend(http_reply(status), ssl_context=context)
        check = HealthCheckSpec(check_type="HTTPS", http_code_mask=2, **FAST)
        await verdict_for(ListenerProtocol.HTTPS, port, check, expected)
        server.close()

    run("asyncio", scenario, timeout=60)


def custom_reply(request_wanted: bytes, answer: bytes) -> Callable[[bytes], bytes | None]:
    def reply(request: bytes) -> bytes | None:
        return answer if request_wanted and request.startswith(request_wanted) else None

    return reply


@pytest.mark.parametrize(
    ("context_type", "send", "recv", "answer", "expected"),
    [
        ("TEXT", "PING\r\n", "+PONG", b"+PONG\r\n", "Alive"),
        ("TEXT", "PING\r\n", "+PONG", b"-ERR no\r\n", "Dead"),
        ("HEX", "0102", "AABB", b"\xaa\xbb\xcc", "Alive"),
        ("HEX", "0102", "AABB", b"\xaa\x00", "Dead"),
    ],
)
def test_health_checker_custom_tcp_reply_prefix_judged(context_type, send, recv, answer, expected):
    async def scenario() -> None:
        wanted = bytes.fromhex(send) if context_type == "HEX" else send.encode()
        server, port, _ = await tcp_backend(custom_reply(wanted, answer))
        check = HealthCheckSpec(check_type="CUSTOM", context_type=context_type,
                                send_context=send, recv_context=recv, **FAST)
        await verdict_for(ListenerProtocol.TCP, port, check, expected)
        server.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_custom_tcp_empty_send_reads_banner():
    async def scenario() -> None:
        server, port, _ = await tcp_backend(lambda request: b"220 ready\r\n")
        check = HealthCheckSpec(check_type="CUSTOM", recv_context="220", **FAST)
        await verdict_for(ListenerProtocol.TCP, port, check, "Alive")
        server.close()

    run("asyncio", scenario, timeout=60)


@pytest.mark.parametrize(
    ("context_type", "send", "recv", "answer", "expected"),
    [
        ("TEXT", "hello", "world", b"world!", "Alive"),
        ("TEXT", "hello", "world", b"nope", "Dead"),
        ("HEX", "00FF", "BEEF", b"\xbe\xef", "Alive"),
        ("HEX", "00FF", "BEEF", b"\xbe\xee", "Dead"),
        ("TEXT", "hello", "world", None, "Dead"),
        ("TEXT", "hello", "", None, "Alive"),
    ],
)
def test_health_checker_custom_udp_reply_prefix_judged(context_type, send, recv, answer, expected):
    async def scenario() -> None:
        transport, port = await udp_backend(answer)
        check = HealthCheckSpec(check_type="CUSTOM", context_type=context_type,
                                send_context=send, recv_context=recv, **FAST)
        await verdict_for(ListenerProtocol.UDP, port, check, expected)
        transport.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_custom_udp_port_unreachable_dead():
    async def scenario() -> None:
        transport, port = await udp_backend(None)
        transport.close()
        check = HealthCheckSpec(check_type="CUSTOM", send_context="hello", **{**FAST, "timeout": 5})
        await verdict_for(ListenerProtocol.UDP, port, check, "Dead")

    run("asyncio", scenario, timeout=60)


def test_health_checker_ping_loopback_alive():
    async def scenario() -> None:
        checker = HealthChecker()
        await checker.start()
        targets = (TargetSpec("127.0.0.1", 53), TargetSpec("127.0.0.9", 53), TargetSpec("127.0.0.9", 54))
        checker.set_listener("lbl-udp", ListenerProtocol.UDP, targets, HealthCheckSpec(check_type="PING", **FAST))
        assert checker.probe_count == 2
        await wait_until(lambda: all(h.detail == "Alive" for h in checker.snapshot("lbl-udp")), timeout=3)
        await checker.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_check_port_probes_it_not_target_port():
    async def scenario() -> None:
        server, live_port, _ = await tcp_backend()
        holder, dead_port = closed_port()
        checker = HealthChecker()
        await checker.start()
        checker.set_listener("lbl-a", ListenerProtocol.TCP, (TargetSpec(HOST, dead_port),),
                             HealthCheckSpec(check_port=live_port, **FAST))
        checker.set_listener("lbl-b", ListenerProtocol.TCP, (TargetSpec(HOST, live_port),),
                             HealthCheckSpec(check_port=dead_port, **FAST))
        await wait_until(lambda: detail_of(checker, "lbl-a", dead_port) == "Alive"
                         and detail_of(checker, "lbl-b", live_port) == "Dead", timeout=3)
        await checker.close()
        holder.close()
        server.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_same_check_two_listeners_one_probe_per_interval():
    async def scenario() -> None:
        server, port, stats = await tcp_backend()
        checker = HealthChecker()
        await checker.start()
        # A check that sends data completes its handshake, so the backend counts each probe.
        check = HealthCheckSpec(interval=0.25, timeout=0.2, check_type="CUSTOM", send_context="ping")
        for listener_id in ("lbl-1", "lbl-2"):
            checker.set_listener(listener_id, ListenerProtocol.TCP, (TargetSpec(HOST, port),), check)
        await asyncio.sleep(1.5)
        await checker.close()
        assert 4 <= stats["accepted"] <= 1.5 / 0.25 + 1
        server.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_tcp_check_half_open_target_alive_application_never_accepts():
    async def scenario() -> None:
        server, port, stats = await tcp_backend()
        checker = HealthChecker()
        await checker.start()
        checker.set_listener("lbl-1", ListenerProtocol.TCP, (TargetSpec(HOST, port),), HealthCheckSpec(**FAST))
        await wait_until(lambda: [h.detail for h in checker.snapshot("lbl-1")] == ["Alive"])
        await asyncio.sleep(0.3)
        assert stats["accepted"] == 0
        await checker.close()
        server.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_removed_listener_stops_probing():
    async def scenario() -> None:
        server, port, stats = await tcp_backend()
        checker = HealthChecker()
        await checker.start()
        counted = HealthCheckSpec(**FAST, check_type="CUSTOM", send_context="ping")
        checker.set_listener("lbl-1", ListenerProtocol.TCP, (TargetSpec(HOST, port),), counted)
        await wait_until(lambda: stats["accepted"] >= 1)
        checker.remove_listener("lbl-1")
        await asyncio.sleep(0.1)
        seen = stats["accepted"]
        await asyncio.sleep(0.6)
        assert stats["accepted"] == seen
        assert checker.probe_count == 0
        await checker.close()
        server.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_reapply_keeps_verdict_switch_off_close_on_probes_again():
    async def scenario() -> None:
        holder, port = closed_port()
        checker = HealthChecker()
        await checker.start()
        target = (TargetSpec(HOST, port),)
        checker.set_listener("lbl-1", ListenerProtocol.TCP, target, HealthCheckSpec(**FAST))
        await wait_until(lambda: detail_of(checker, "lbl-1", port) == "Dead", timeout=3)
        checker.set_listener("lbl-1", ListenerProtocol.TCP, target, HealthCheckSpec(**FAST))
        assert detail_of(checker, "lbl-1", port) == "Dead"
        checker.set_listener("lbl-1", ListenerProtocol.TCP, target, HealthCheckSpec(enabled=False, **FAST))
        assert checker.is_healthy("lbl-1", HOST, port)
        assert detail_of(checker, "lbl-1", port) == "Close"
        checker.set_listener("lbl-1", ListenerProtocol.TCP, target, HealthCheckSpec(**FAST))
        assert detail_of(checker, "lbl-1", port) == "Unknown"
        await wait_until(lambda: detail_of(checker, "lbl-1", port) == "Dead", timeout=3)
        await checker.close()
        holder.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_500_targets_all_judged_in_one_interval_without_tasks():
    async def scenario() -> None:
        listeners = [listening_port() for _ in range(250)]
        live_ports = [port for _, port in listeners]
        holders = [closed_port() for _ in range(250)]
        dead_ports = [port for _, port in holders]
        targets = tuple(TargetSpec(HOST, port) for port in live_ports + dead_ports)
        tasks_before = len(asyncio.all_tasks())
        checker = HealthChecker()
        await checker.start()
        checker.set_listener("lbl-big", ListenerProtocol.TCP, targets, HealthCheckSpec(interval=1, timeout=0.5))
        live = set(live_ports)

        def all_judged() -> bool:
            assert len(asyncio.all_tasks()) == tasks_before
            return all(
                h.detail == ("Alive" if h.port in live else "Dead") for h in checker.snapshot("lbl-big")
            )

        took = await wait_until(all_judged, timeout=4)
        assert took <= 1 + 0.5 + 0.5
        assert checker.probe_count == 500
        await checker.close()
        assert checker.in_flight == 0
        for holder, _ in listeners + holders:
            holder.close()

    run("asyncio", scenario, timeout=60)


class RecordingWaiter:
    """A stand-in attempt: records its events and runs ``action`` on the first."""

    def __init__(self, name: str, seen: list[str], action: Callable[[], None] | None = None) -> None:
        self.name = name
        self.seen = seen
        self.action = action

    def on_event(self, events: int) -> None:
        self.seen.append(self.name)
        action, self.action = self.action, None
        if action is not None:
            action()


def test_probe_poller_descriptor_closed_and_reused_in_batch_gets_no_stale_event():
    async def scenario() -> None:
        poller = ProbePoller(asyncio.get_running_loop())
        seen: list[str] = []
        pairs = [socket.socketpair() for _ in range(2)]
        replacement: list[socket.socket] = []

        def close_and_reuse(victim: socket.socket) -> Callable[[], None]:
            def action() -> None:
                if replacement:
                    return
                fd = victim.fileno()
                poller.forget(fd)
                reader, writer = socket.socketpair()
                os.dup2(reader.fileno(), fd)
                reader.close()
                victim.detach()
                replacement.extend([socket.socket(fileno=fd), writer])
                poller.register(fd, select.EPOLLIN, RecordingWaiter("reuser", seen))
            return action

        (a, a_peer), (b, b_peer) = pairs
        poller.register(a.fileno(), select.EPOLLIN, RecordingWaiter("a", seen, close_and_reuse(b)))
        poller.register(b.fileno(), select.EPOLLIN, RecordingWaiter("b", seen, close_and_reuse(a)))
        a_peer.send(b"x")
        b_peer.send(b"x")
        await wait_until(lambda: len(seen) >= 2)
        await asyncio.sleep(0.1)
        assert sorted(seen) == ["a", "b"]
        poller.close()
        for sock in [a, a_peer, b, b_peer, *replacement]:
            sock.close()

    run("asyncio", scenario, timeout=60)


def test_health_checker_every_socket_probe_kind_judged_on_both_loops(loop_kind):
    async def scenario() -> None:
        http, http_port, _ = await tcp_backend(http_reply(200))
        custom, custom_port, _ = await tcp_backend(custom_reply(b"PING", b"+PONG\r\n"))
        plain, plain_port, _ = await tcp_backend()
        udp, udp_port = await udp_backend(b"world")
        holder, dead_port = closed_port()
        checker = HealthChecker()
        await checker.start()
        checker.set_listener("http", ListenerProtocol.TCP, (TargetSpec(HOST, http_port),),
                             HealthCheckSpec(check_type="HTTP", http_code_mask=2, **FAST))
        checker.set_listener("custom", ListenerProtocol.TCP, (TargetSpec(HOST, custom_port),),
                             HealthCheckSpec(check_type="CUSTOM", send_context="PING", recv_context="+PONG", **FAST))
        checker.set_listener("tcp", ListenerProtocol.TCP, (TargetSpec(HOST, plain_port), TargetSpec(HOST, dead_port)),
                             HealthCheckSpec(**FAST))
        checker.set_listener("udp", ListenerProtocol.UDP, (TargetSpec(HOST, udp_port),),
                             HealthCheckSpec(check_type="CUSTOM", send_context="hello", recv_context="world", **FAST))
        expected = {("http", http_port): "Alive", ("custom", custom_port): "Alive",
                    ("tcp", plain_port): "Alive", ("tcp", dead_port): "Dead", ("udp", udp_port): "Alive"}
        await wait_until(lambda: all(detail_of(checker, key, port) == verdict
                                     for (key, port), verdict in expected.items()), timeout=3)
        await checker.close()
        for server in (http, custom, plain):
            server.close()
        udp.close()
        holder.close()

    run(loop_kind, scenario, timeout=60)
