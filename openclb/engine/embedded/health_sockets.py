"""Health probe sockets: one attempt of one probe, driven by the probes' own epoll.

An attempt runs as callbacks on a non-blocking socket that waits in the checker's one
``ProbePoller`` (a private epoll the loop watches as a single reader): no task, no transport,
no timer and no loop handle of its own. The checker's single timer enforces the timeout by
calling ``abort``. Every attempt reports exactly once through ``done(ok)``, and never from
inside ``start`` itself, so the scheduler is never re-entered while it launches probes.
HTTPS (a task, for asyncio's TLS) and PING (one shared ICMP socket) are the exceptions.
What a probe sends and how its reply is judged is ``health_probes``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import select
import socket
import ssl
import struct
from collections.abc import Callable
from typing import Protocol as TypingProtocol

from openclb.engine.embedded.health_probes import (
    ICMP6_ECHO_REPLY,
    ICMP6_ECHO_REQUEST,
    HttpStatusCheck,
    ProbeSpec,
    icmp_echo_request,
    parse_icmp_echo_reply,
    reply_check_for,
)

log = logging.getLogger("openclb.engine.health")

_READ_SIZE = 4096
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_RST_ON_CLOSE = struct.pack("ii", 1, 0)
_NONBLOCK = socket.SOCK_NONBLOCK
_TROUBLE = select.EPOLLERR | select.EPOLLHUP
_MAX_EVENTS = 256

Done = Callable[[bool], None]


class Attempt(TypingProtocol):
    verdict_on_timeout: bool

    def start(self) -> None:
        """Begin the probe; the result arrives later through ``done``."""

    def abort(self) -> None:
        """Give up (timeout or shutdown): release everything; ``done`` is not called."""


class ProbePoller:
    """One private epoll for every probe socket, watched by the loop as a single reader.

    The loop's own ``add_writer``/``add_reader`` cost a poll handle (uvloop) or selector
    entry per descriptor, created and destroyed per attempt: two or three syscalls more per
    check than the probe itself needs. Here each wait is one ``epoll_ctl`` with EPOLLONESHOT,
    completions are collected in batches by one ``poll(0)``, and closing a socket drops it
    from the epoll with no call of ours.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._waiting: dict[int, _SocketAttempt] = {}
        loop.add_reader(self._epoll.fileno(), self._on_ready)

    def register(self, fd: int, events: int, attempt: _SocketAttempt) -> None:
        """Wait for ``events`` (once) on a descriptor not yet registered."""
        self._epoll.register(fd, events | select.EPOLLONESHOT)
        self._waiting[fd] = attempt

    def rearm(self, fd: int, events: int) -> None:
        """Wait for ``events`` (once) again on a registered descriptor."""
        self._epoll.modify(fd, events | select.EPOLLONESHOT)

    def forget(self, fd: int) -> None:
        """Stop dispatching to ``fd``; the caller closes it, which unregisters it."""
        self._waiting.pop(fd, None)

    def close(self) -> None:
        self._waiting.clear()
        if not self._epoll.closed:
            self.loop.remove_reader(self._epoll.fileno())
            self._epoll.close()

    def _on_ready(self) -> None:
        if self._epoll.closed:
            return
        waiting = self._waiting
        # Bound to attempts before any runs: a descriptor closed and reused by a later
        # attempt during this batch must not receive the old socket's event.
        ready = [(waiting.get(fd), events) for fd, events in self._epoll.poll(0, _MAX_EVENTS)]
        for attempt, events in ready:
            if attempt is not None:
                attempt.on_event(events)


class _SocketAttempt:
    """What the plain-socket attempts share: open, report once, release the descriptor."""

    verdict_on_timeout = False
    _type = socket.SOCK_STREAM | _NONBLOCK

    def __init__(self, poller: ProbePoller, spec: ProbeSpec, source_ip: str | None, done: Done) -> None:
        self._poller = poller
        self._spec = spec
        self._source_ip = source_ip
        self._done = done
        self._sock: socket.socket | None = None

    def start(self) -> None:
        try:
            self._sock = socket.socket(self._spec.family, self._type)
            self._begin(self._sock)
        except (OSError, ValueError):
            self._poller.loop.call_soon(self._finish, False)

    def abort(self) -> None:
        self._done = _ignore
        self._release()

    def on_event(self, events: int) -> None:
        raise NotImplementedError

    def _begin(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def _recv(self, sock: socket.socket, size: int) -> bytes | None:
        """What arrived (b"" at EOF), or None: nothing yet (waiting again) or the socket failed (finished)."""
        try:
            return sock.recv(size)
        except (BlockingIOError, InterruptedError):
            self._poller.rearm(sock.fileno(), select.EPOLLIN)
        except OSError:
            self._finish(False)
        return None

    def _finish(self, ok: bool) -> None:
        done, self._done = self._done, _ignore
        self._release()
        done(ok)

    def _release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            self._poller.forget(sock.fileno())
            sock.close()


class StreamAttempt(_SocketAttempt):
    """TCP connect, then optionally write a request and judge the reply (TCP/HTTP/CUSTOM)."""

    def __init__(self, poller: ProbePoller, spec: ProbeSpec, source_ip: str | None, done: Done) -> None:
        super().__init__(poller, spec, source_ip, done)
        self._unsent = spec.payload
        self._check = reply_check_for(spec)
        self._connected = False

    def _begin(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_ON_CLOSE)
        if not self._unsent and self._check is None:
            # A pure connect check is half-open, as the CLB's and HAProxy's are: SYN, SYN-ACK,
            # then RST from the close. The delayed final ACK is never sent, so the target's
            # application never accepts the check (no log line, no wake-up per check).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
        if self._source_ip:
            if sock.family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((self._source_ip, 0))
        code = sock.connect_ex((self._spec.ip, self._spec.port))
        if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
            raise OSError(code, "connect failed")
        self._poller.register(sock.fileno(), select.EPOLLOUT, self)

    def on_event(self, events: int) -> None:
        sock = self._sock
        if sock is None:
            return
        if not self._connected:
            # A clean EPOLLOUT is a completed connect; only an error or hang-up needs SO_ERROR.
            if events & _TROUBLE and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self._finish(False)
                return
            self._connected = True
        if self._unsent:
            self._send(sock)
        elif self._check is not None:
            self._receive(sock)
        else:
            self._finish(True)

    def _send(self, sock: socket.socket) -> None:
        try:
            sent = sock.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._finish(False)
            return
        self._unsent = self._unsent[sent:]
        if self._unsent:
            self._poller.rearm(sock.fileno(), select.EPOLLOUT)
        elif self._check is None:
            self._finish(True)
        else:
            self._poller.rearm(sock.fileno(), select.EPOLLIN)

    def _receive(self, sock: socket.socket) -> None:
        data = self._recv(sock, _READ_SIZE)
        if data is None:
            return
        verdict = self._check.feed(data) if data else self._check.finish()
        if verdict is None:
            self._poller.rearm(sock.fileno(), select.EPOLLIN)
        else:
            self._finish(verdict)


class DatagramAttempt(_SocketAttempt):
    """UDP CUSTOM: send SendContext, wait for a reply starting with RecvContext.

    "Port unreachable" fails at once; silence fails at the timeout, unless no reply is
    expected (empty RecvContext), in which case silence is a pass.
    """

    _type = socket.SOCK_DGRAM | _NONBLOCK

    def __init__(self, poller: ProbePoller, spec: ProbeSpec, source_ip: str | None, done: Done) -> None:
        super().__init__(poller, spec, source_ip, done)
        self.verdict_on_timeout = not spec.expect

    def _begin(self, sock: socket.socket) -> None:
        if self._source_ip:
            sock.bind((self._source_ip, 0))
        sock.connect((self._spec.ip, self._spec.port))
        sock.send(self._spec.payload)
        self._poller.register(sock.fileno(), select.EPOLLIN, self)

    def on_event(self, events: int) -> None:
        sock = self._sock
        if sock is None:
            return
        data = self._recv(sock, 65535)
        if data is not None:
            self._finish(data.startswith(self._spec.expect))


class TlsAttempt:
    """HTTPS and GRPCS checks: the only probes that run as a task, because TLS needs asyncio's SSL layer."""

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
            check = reply_check_for(self._spec)
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
    """ICMP sockets (one for IPv4, one for IPv6 targets) shared by every PING probe; replies are
    matched by (address, sequence).

    Prefers an unprivileged ICMP datagram socket (allowed by net.ipv4.ping_group_range),
    else a raw socket (needs CAP_NET_RAW). With neither, pings pass and this is logged once: a
    check we cannot run must not take a healthy server out of service.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, source_ip: str | None, ident: int) -> None:
        self.loop = loop
        self._source_ip = source_ip
        self._ident = ident & 0xFFFF
        self._sequence = 0
        self._pending: dict[tuple[str, int], PingAttempt] = {}
        # family (4 or 6) → (socket, whether what it reads starts with the IP header)
        self._sockets: dict[int, tuple[socket.socket, bool]] = {}
        self._opened: set[int] = set()
        self._warned: set[str] = set()

    def attempt(self, spec: ProbeSpec, done: Done) -> PingAttempt:
        return PingAttempt(self, spec, done)

    def close(self) -> None:
        sockets, self._sockets = self._sockets, {}
        for sock, _ in sockets.values():
            self.loop.remove_reader(sock.fileno())
            sock.close()
        self._pending.clear()

    def send(self, attempt: PingAttempt) -> bool | None:
        """Send one echo: None when sent (a reply or the timeout decides), else the verdict."""
        ip = attempt.spec.ip
        family = 6 if ":" in ip else 4
        found = self._socket(family)
        if found is None:
            return True
        sequence = self._next_sequence(ip)
        request_type = ICMP6_ECHO_REQUEST if family == 6 else 8
        try:
            found[0].sendto(icmp_echo_request(self._ident, sequence, request_type=request_type), (ip, 0))
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

    def _socket(self, family: int) -> tuple[socket.socket, bool] | None:
        if family in self._opened:
            return self._sockets.get(family)
        self._opened.add(family)
        af, proto = (socket.AF_INET6, socket.IPPROTO_ICMPV6) if family == 6 else (socket.AF_INET, socket.IPPROTO_ICMP)
        # A raw ICMPv6 socket reads no IPv6 header; a raw ICMP (v4) one reads the IPv4 header.
        for kind, has_ip_header in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, family == 4)):
            try:
                sock = socket.socket(af, kind, proto)
            except OSError:
                continue
            try:
                sock.setblocking(False)
                if self._source_ip and (":" in self._source_ip) == (family == 6):
                    sock.bind((self._source_ip, 0))
            except OSError:
                sock.close()
                continue
            self._sockets[family] = (sock, has_ip_header)
            self.loop.add_reader(sock.fileno(), self._on_readable, family)
            return self._sockets[family]
        self._warn_once(f"socket{family}", f"no ICMP socket allowed for IPv{family} (ping_group_range, "
                        "CAP_NET_RAW); PING checks count those targets healthy")
        return None

    def _on_readable(self, family: int) -> None:
        reply_type = ICMP6_ECHO_REPLY if family == 6 else 0
        for _ in range(256):
            found = self._sockets.get(family)
            if found is None:
                return
            sock, has_ip_header = found
            try:
                packet, address = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            reply = parse_icmp_echo_reply(packet, has_ip_header, reply_type)
            if reply is None:
                continue
            ident, sequence = reply
            if kind_is_raw(sock) and ident != self._ident:
                continue
            attempt = self._pending.pop((address[0], sequence), None)
            if attempt is not None:
                attempt.reply()

    def _warn_once(self, topic: str, message: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            log.warning("health: %s", message)


def kind_is_raw(sock: socket.socket) -> bool:
    """A raw ICMP socket sees every echo reply of the host; a datagram one only its own."""
    return sock.type == socket.SOCK_RAW


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
