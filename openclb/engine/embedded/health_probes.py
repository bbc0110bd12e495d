"""Health probes: what one probe sends, how its reply is judged, and the sockets that carry it.

The pure half (``ProbeSpec``, ``probe_spec_for``, the reply checks, the ICMP codec) has no
sockets and is unit-tested alone. The IO half runs one probe attempt as plain loop callbacks
on a non-blocking socket (``add_writer`` for the connect, ``add_reader`` for the reply): no
task, no transport, no timer of its own. The checker's single timer enforces the timeout by
calling ``abort``. Every attempt reports exactly once through ``done(ok)``, and never from
inside ``start`` itself, so the scheduler is never re-entered while it launches probes.

Choices where the real CLB's behaviour is not written down:
- CUSTOM replies match when they *start with* RecvContext (checked byte by byte as data
  arrives, so a wrong reply fails at once instead of at the timeout). An empty RecvContext
  asks for nothing: over TCP the probe passes once connected and SendContext is written;
  over UDP it passes unless the target answers "port unreachable" within the timeout.
- HTTPS checks speak HTTP over TLS without verifying the certificate, as a load balancer's
  checks do; GRPC checks (and unknown types on stream listeners) are plain TCP connects.
- Stream probes close with RST (SO_LINGER 0), as HAProxy's checks do, so thousands of
  probes a second leave no TIME_WAIT sockets behind.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol as TypingProtocol

from openclb.engine.desired import HealthCheckSpec, Protocol, TargetSpec

log = logging.getLogger("openclb.engine.health")

_READ_SIZE = 4096
_MAX_STATUS_LINE = 4096
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_RST_ON_CLOSE = struct.pack("ii", 1, 0)
_ICMP_ECHO_REPLY = 0
_ICMP_ECHO_REQUEST = 8
_PING_PAYLOAD = b"openclb-health!!"


class ProbeKind(StrEnum):
    TCP = "TCP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    CUSTOM_TCP = "CUSTOM_TCP"
    CUSTOM_UDP = "CUSTOM_UDP"
    PING = "PING"


@dataclass(frozen=True)
class ProbeSpec:
    """Everything one probe does; equal specs are one probe shared by every listener asking.

    ``port`` is 0 for PING (one echo per address serves every port on it).
    """

    kind: ProbeKind
    ip: str
    port: int
    interval: float
    timeout: float
    payload: bytes = b""
    expect: bytes = b""
    http_code_mask: int = 31
    server_name: str = ""


def decode_context(context_type: str, text: str) -> bytes:
    """SendContext/RecvContext as bytes: TEXT is ASCII, HEX is pairs of hex digits.

    HEX that is not hex (the API rejects it; this is only defence) is taken as TEXT.
    """
    if context_type.upper() == "HEX":
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return text.encode("ascii", "replace")


def http_request(check: HealthCheckSpec, ip: str) -> bytes:
    """The request an HTTP check sends; Host is HttpCheckDomain, or the target's address."""
    host = check.http_domain or (f"[{ip}]" if ":" in ip else ip)
    path = check.http_path or "/"
    method = (check.http_method or "HEAD").upper()
    version = check.http_version or "HTTP/1.1"
    return f"{method} {path} {version}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode(
        "ascii", "replace"
    )


def probe_kind_for(protocol: Protocol, check_type: str) -> ProbeKind:
    """Which probe a listener's CheckType means; UDP listeners know only PING and CUSTOM."""
    check_type = check_type.upper()
    if protocol.is_datagram:
        return ProbeKind.CUSTOM_UDP if check_type == "CUSTOM" else ProbeKind.PING
    return {
        "HTTP": ProbeKind.HTTP,
        "HTTPS": ProbeKind.HTTPS,
        "CUSTOM": ProbeKind.CUSTOM_TCP,
        "PING": ProbeKind.PING,
    }.get(check_type, ProbeKind.TCP)


def probe_spec_for(protocol: Protocol, target: TargetSpec, check: HealthCheckSpec) -> ProbeSpec:
    """The probe that checks ``target`` for a listener of ``protocol`` with ``check``."""
    kind = probe_kind_for(protocol, check.check_type)
    port = target.port if check.check_port in (None, -1) else check.check_port
    common = {"interval": float(check.interval), "timeout": float(check.timeout)}
    if kind is ProbeKind.PING:
        return ProbeSpec(kind, target.ip, 0, **common)
    if kind in (ProbeKind.HTTP, ProbeKind.HTTPS):
        request = http_request(check, target.ip)
        return ProbeSpec(kind, target.ip, port, payload=request, http_code_mask=check.http_code_mask,
                         server_name=check.http_domain, **common)
    if kind in (ProbeKind.CUSTOM_TCP, ProbeKind.CUSTOM_UDP):
        payload = decode_context(check.context_type, check.send_context)
        expect = decode_context(check.context_type, check.recv_context)
        return ProbeSpec(kind, target.ip, port, payload=payload, expect=expect, **common)
    return ProbeSpec(kind, target.ip, port, **common)


class ReplyCheck(TypingProtocol):
    def feed(self, data: bytes) -> bool | None:
        """Judge the reply so far: True/False once decided, None to read more."""

    def finish(self) -> bool:
        """Judge the reply when the peer closed before ``feed`` decided."""


class PrefixCheck:
    """A reply passes when it starts with ``expect``; decided as soon as bytes disagree."""

    def __init__(self, expect: bytes) -> None:
        self._expect = expect
        self._received = b""

    def feed(self, data: bytes) -> bool | None:
        self._received += data[: len(self._expect) - len(self._received)]
        if not self._expect.startswith(self._received):
            return False
        if len(self._received) >= len(self._expect):
            return True
        return None

    def finish(self) -> bool:
        return self._received == self._expect


class HttpStatusCheck:
    """An HTTP reply passes when its status class is in HttpCode (1=1xx … 16=5xx)."""

    def __init__(self, code_mask: int) -> None:
        self._code_mask = code_mask
        self._received = b""

    def feed(self, data: bytes) -> bool | None:
        self._received += data
        if b"\n" in self._received:
            return self._judge()
        if len(self._received) > _MAX_STATUS_LINE:
            return False
        return None

    def finish(self) -> bool:
        return self._judge()

    def _judge(self) -> bool:
        status = parse_http_status(self._received)
        return status is not None and http_status_passes(status, self._code_mask)


def parse_http_status(received: bytes) -> int | None:
    """The status code of an HTTP/1.x status line, or None if it is not one."""
    line = received.split(b"\n", 1)[0].rstrip(b"\r")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        return None
    if len(parts[1]) != 3 or not parts[1].isdigit():
        return None
    return int(parts[1])


def http_status_passes(status: int, code_mask: int) -> bool:
    """Whether ``status``'s class bit (1xx → 1, 2xx → 2, 3xx → 4, 4xx → 8, 5xx → 16) is set."""
    status_class = status // 100
    if not 1 <= status_class <= 5:
        return False
    return bool(code_mask & (1 << (status_class - 1)))


def reply_check_for(spec: ProbeSpec) -> ReplyCheck | None:
    """How a stream probe judges the reply; None means connecting (and sending) is enough."""
    if spec.kind in (ProbeKind.HTTP, ProbeKind.HTTPS):
        return HttpStatusCheck(spec.http_code_mask)
    if spec.kind is ProbeKind.CUSTOM_TCP and spec.expect:
        return PrefixCheck(spec.expect)
    return None


def icmp_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo_request(ident: int, sequence: int, payload: bytes = _PING_PAYLOAD) -> bytes:
    """An ICMP echo request with a correct checksum."""
    header = struct.pack("!BBHHH", _ICMP_ECHO_REQUEST, 0, 0, ident, sequence)
    checksum = icmp_checksum(header + payload)
    return struct.pack("!BBHHH", _ICMP_ECHO_REQUEST, 0, checksum, ident, sequence) + payload


def parse_icmp_echo_reply(packet: bytes, has_ip_header: bool) -> tuple[int, int] | None:
    """(ident, sequence) of an ICMP echo reply; None for any other packet."""
    if has_ip_header:
        if not packet:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < 8:
        return None
    icmp_type, code, _checksum, ident, sequence = struct.unpack("!BBHHH", packet[:8])
    if icmp_type != _ICMP_ECHO_REPLY or code != 0:
        return None
    return ident, sequence


# ---------------------------------------------------------------------------------------
# IO: one attempt of one probe, as loop callbacks on a non-blocking socket.

Done = Callable[[bool], None]


class Attempt(TypingProtocol):
    verdict_on_timeout: bool

    def start(self) -> None:
        """Begin the probe; the result arrives later through ``done``."""

    def abort(self) -> None:
        """Give up (timeout or shutdown): release everything; ``done`` is not called."""


def _family_of(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET


class _SocketAttempt:
    """What the plain-socket attempts share: open, report once, release the descriptor."""

    verdict_on_timeout = False
    _kind = socket.SOCK_STREAM

    def __init__(
        self, loop: asyncio.AbstractEventLoop, spec: ProbeSpec, source_ip: str | None, done: Done
    ) -> None:
        self._loop = loop
        self._spec = spec
        self._source_ip = source_ip
        self._done = done
        self._sock: socket.socket | None = None

    def start(self) -> None:
        try:
            self._sock = socket.socket(_family_of(self._spec.ip), self._kind)
            self._sock.setblocking(False)
            self._begin(self._sock)
        except (OSError, ValueError):
            self._loop.call_soon(self._finish, False)

    def abort(self) -> None:
        self._done = _ignore
        self._release()

    def _begin(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def _finish(self, ok: bool) -> None:
        done, self._done = self._done, _ignore
        self._release()
        done(ok)

    def _release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        fd = sock.fileno()
        if fd >= 0:
            self._loop.remove_writer(fd)
            self._loop.remove_reader(fd)
        sock.close()


class StreamAttempt(_SocketAttempt):
    """TCP connect, then optionally write a request and judge the reply (TCP/HTTP/CUSTOM)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, spec: ProbeSpec, source_ip: str | None, done: Done
    ) -> None:
        super().__init__(loop, spec, source_ip, done)
        self._unsent = spec.payload
        self._check = reply_check_for(spec)

    def _begin(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_ON_CLOSE)
        if self._source_ip:
            if sock.family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((self._source_ip, 0))
        code = sock.connect_ex((self._spec.ip, self._spec.port))
        if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
            raise OSError(code, "connect failed")
        self._loop.add_writer(sock.fileno(), self._on_writable)

    def _on_writable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self._finish(False)
            return
        if self._unsent:
            try:
                sent = sock.send(self._unsent)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._finish(False)
                return
            self._unsent = self._unsent[sent:]
            if self._unsent:
                return
        self._loop.remove_writer(sock.fileno())
        if self._check is None:
            self._finish(True)
            return
        self._loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None or self._check is None:
            return
        try:
            data = sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._finish(False)
            return
        verdict = self._check.feed(data) if data else self._check.finish()
        if verdict is not None:
            self._finish(verdict)


class DatagramAttempt(_SocketAttempt):
    """UDP CUSTOM: send SendContext, wait for a reply starting with RecvContext.

    "Port unreachable" fails at once; silence fails at the timeout, unless no reply is
    expected (empty RecvContext), in which case silence is a pass.
    """

    _kind = socket.SOCK_DGRAM

    def __init__(
        self, loop: asyncio.AbstractEventLoop, spec: ProbeSpec, source_ip: str | None, done: Done
    ) -> None:
        super().__init__(loop, spec, source_ip, done)
        self.verdict_on_timeout = not spec.expect

    def _begin(self, sock: socket.socket) -> None:
        if self._source_ip:
            sock.bind((self._source_ip, 0))
        sock.connect((self._spec.ip, self._spec.port))
        sock.send(self._spec.payload)
        self._loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        if self._sock is None:
            return
        try:
            data = self._sock.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._finish(False)
            return
        self._finish(data.startswith(self._spec.expect))


class TlsAttempt:
    """HTTPS check: the only probe that runs as a task, because TLS needs asyncio's SSL layer."""

    verdict_on_timeout = False

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        spec: ProbeSpec,
        source_ip: str | None,
        done: Done,
        ssl_context: ssl.SSLContext,
    ) -> None:
        self._loop = loop
        self._spec = spec
        self._source_ip = source_ip
        self._done = done
        self._ssl_context = ssl_context
        self._task: asyncio.Task[bool] | None = None

    def start(self) -> None:
        self._task = self._loop.create_task(self._run())
        self._task.add_done_callback(self._on_task_done)

    def abort(self) -> None:
        self._done = _ignore
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> bool:
        writer = None
        try:
            reader, writer = await asyncio.open_connection(
                self._spec.ip,
                self._spec.port,
                ssl=self._ssl_context,
                server_hostname=self._spec.server_name or None,
                local_addr=(self._source_ip, 0) if self._source_ip else None,
            )
            writer.write(self._spec.payload)
            check = HttpStatusCheck(self._spec.http_code_mask)
            while True:
                data = await reader.read(_READ_SIZE)
                verdict = check.feed(data) if data else check.finish()
                if verdict is not None:
                    return verdict
        except Exception:
            return False
        finally:
            if writer is not None:
                writer.transport.abort()

    def _on_task_done(self, task: asyncio.Task[bool]) -> None:
        done, self._done = self._done, _ignore
        if not task.cancelled():
            done(task.result())


class IcmpPinger:
    """One ICMP socket shared by every PING probe; replies are matched by (address, sequence).

    Prefers an unprivileged ICMP datagram socket (allowed by net.ipv4.ping_group_range),
    else a raw socket (needs CAP_NET_RAW). With neither, or for IPv6 targets, pings pass and
    this is logged once: a check we cannot run must not take a healthy server out of service.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, source_ip: str | None, ident: int) -> None:
        self.loop = loop
        self._source_ip = source_ip
        self._ident = ident & 0xFFFF
        self._sequence = 0
        self._pending: dict[tuple[str, int], PingAttempt] = {}
        self._sock: socket.socket | None = None
        self._has_ip_header = False
        self._opened = False
        self._warned: set[str] = set()

    def attempt(self, spec: ProbeSpec, done: Done) -> PingAttempt:
        return PingAttempt(self, spec, done)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            self.loop.remove_reader(sock.fileno())
            sock.close()
        self._pending.clear()

    def send(self, attempt: PingAttempt) -> bool | None:
        """Send one echo: None when sent (a reply or the timeout decides), else the verdict."""
        ip = attempt.spec.ip
        if ":" in ip:
            self._warn_once("ipv6", "PING checks of IPv6 targets are not supported; counted healthy")
            return True
        sock = self._socket()
        if sock is None:
            return True
        sequence = self._next_sequence(ip)
        try:
            sock.sendto(icmp_echo_request(self._ident, sequence), (ip, 0))
        except OSError:
            return False
        self._pending[(ip, sequence)] = attempt
        attempt.key = (ip, sequence)
        return None

    def forget(self, key: tuple[str, int]) -> None:
        self._pending.pop(key, None)

    def _next_sequence(self, ip: str) -> int:
        for _ in range(0x10000):
            self._sequence = (self._sequence + 1) & 0xFFFF
            if (ip, self._sequence) not in self._pending:
                break
        return self._sequence

    def _socket(self) -> socket.socket | None:
        if self._opened:
            return self._sock
        self._opened = True
        for kind, has_ip_header in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
            try:
                sock = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
            except OSError:
                continue
            try:
                sock.setblocking(False)
                if self._source_ip:
                    sock.bind((self._source_ip, 0))
            except OSError:
                sock.close()
                continue
            self._sock, self._has_ip_header = sock, has_ip_header
            self.loop.add_reader(sock.fileno(), self._on_readable)
            return sock
        self._warn_once("socket", "no ICMP socket allowed (ping_group_range, CAP_NET_RAW); "
                        "PING checks count every target healthy")
        return None

    def _on_readable(self) -> None:
        sock = self._sock
        for _ in range(256):
            if sock is None:
                return
            try:
                packet, address = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            reply = parse_icmp_echo_reply(packet, self._has_ip_header)
            if reply is None:
                continue
            ident, sequence = reply
            if self._has_ip_header and ident != self._ident:
                continue
            attempt = self._pending.pop((address[0], sequence), None)
            if attempt is not None:
                attempt.reply()

    def _warn_once(self, topic: str, message: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            log.warning("health: %s", message)


class PingAttempt:
    """One ICMP echo through the shared pinger."""

    verdict_on_timeout = False

    def __init__(self, pinger: IcmpPinger, spec: ProbeSpec, done: Done) -> None:
        self.spec = spec
        self.key: tuple[str, int] | None = None
        self._pinger = pinger
        self._done = done

    def start(self) -> None:
        verdict = self._pinger.send(self)
        if verdict is not None:
            self._pinger.loop.call_soon(self._finish, verdict)

    def abort(self) -> None:
        self._done = _ignore
        if self.key is not None:
            self._pinger.forget(self.key)

    def reply(self) -> None:
        self._finish(True)

    def _finish(self, ok: bool) -> None:
        done, self._done = self._done, _ignore
        done(ok)


def _ignore(ok: bool) -> None:
    """The ``done`` of an attempt that already reported or was aborted."""
