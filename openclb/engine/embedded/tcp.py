"""TCP-class listeners and the plain TCP relay, the engine's hot path.

A ``StreamListener`` serves one listener's ports with one asyncio server per port. What
happens to an accepted connection is decided by a *stream handler*: a callable
``handler(listener, listen_port) -> asyncio.BaseProtocol`` used as the server's protocol
factory. ``TcpRelay`` is the handler for TCP and TCP_SSL; HTTP and HTTPS use
``http_proxy.HttpSession`` on an ``http_listener.HttpListener``; both use the same listener
services (``admit``, ``pick``, ``opened``/``closed``).

A listener that terminates TLS (TCP_SSL with SSL on, HTTPS) serves its ports with the front
context of its ``tls.TlsTerminator``: the relay then sees decrypted bytes and is otherwise
unchanged, and a certificate change reconfigures the terminator without rebinding.

The relay is a pair of asyncio Protocols writing straight to each other's transports:
no coroutine, queue or copy per chunk. Flow control is the transports' own: when one side's
write buffer passes its high-water mark (``pause_writing``), the other side stops reading
until it drains (``resume_writing``), so a slow reader holds at most about one high-water
mark plus one read chunk per direction in memory. Half-closes are passed on (``write_eof``)
when the other side can; when either side is gone the other is closed after flushing.
Both asyncio and uvloop set TCP_NODELAY on every TCP transport they create.

Invariants: a connection is counted (``listener.opened``) from the moment a target is
picked until the client transport is lost, exactly once; the upstream connect is the only
coroutine per connection, and it is cancelled if the client leaves first. A listener with
``proxy_protocol`` writes the PROXY v2 header to the target before anything of the client's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

from openclb.engine.spec import ListenerSpec
from openclb.engine.embedded.balancer import TargetState
from openclb.engine.embedded.listener import ListenerCore, ListenerSettings
from openclb.engine.embedded.proxy_protocol import v2_header
from openclb.engine.embedded.tls import HANDSHAKE_TIMEOUT, TlsTerminator, terminates_tls
from openclb.engine.embedded.upstream_connect import connect_within

StreamHandler = Callable[["StreamListener", int], asyncio.BaseProtocol]

_monotonic = time.monotonic


class StreamListener(ListenerCore):
    """A TCP/TCP_SSL/HTTP/HTTPS listener: one server per port, one handler for all."""

    kind = "TCP"

    def __init__(
        self,
        load_balancer_id: str,
        vip: str,
        spec: ListenerSpec,
        settings: ListenerSettings,
        handler: StreamHandler,
    ) -> None:
        self.tls: TlsTerminator | None = None
        super().__init__(load_balancer_id, vip, spec, settings)
        self.handler = handler
        self.servers: list[asyncio.AbstractServer] = []
        # Kept because asyncio.get_running_loop() is a getpid() syscall per call on CPython 3.11.
        self.loop: asyncio.AbstractEventLoop | None = None

    def _configure(self, spec: ListenerSpec) -> None:
        # Certificates first: a TlsConfigError must leave the listener exactly as it was.
        if terminates_tls(spec):
            if self.tls is None:
                self.tls = TlsTerminator()
            self.tls.configure(spec)
        super()._configure(spec)

    async def open(self, sockets) -> None:
        """Start serving on already bound, listening sockets (one per port)."""
        loop = self.loop = asyncio.get_running_loop()
        tls = {} if self.tls is None else {"ssl": self.tls.context, "ssl_handshake_timeout": HANDSHAKE_TIMEOUT}
        try:
            for port, sock in sockets:
                server = await loop.create_server(
                    partial(self.handler, self, port), sock=sock, backlog=self.settings.backlog, **tls)
                self.servers.append(server)
        except BaseException:
            for server in self.servers:
                server.close()
            for _, sock in sockets[len(self.servers):]:
                sock.close()
            raise
        self.start_sweeping()

    async def stop_accepting(self) -> None:
        """Release every port at once; established connections keep running."""
        await super().stop_accepting()
        for server in self.servers:
            server.close()
        self.servers = []
        # asyncio closes the listening sockets at once; uvloop finishes closing its handles
        # (and our socket objects) on the next loop iteration.
        await asyncio.sleep(0)


class TcpRelay(asyncio.Protocol):
    """The client side of one relayed connection; owns the connection's accounting."""

    __slots__ = (
        "listener", "listen_port", "transport", "upstream", "target", "client_ip",
        "busy", "idle_since", "bytes_in", "bytes_out", "connecting", "early",
        "client_eof", "upstream_eof", "throttled", "closed",
    )

    def __init__(self, listener: StreamListener, listen_port: int) -> None:
        self.listener = listener
        self.listen_port = listen_port
        self.transport: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.target: TargetState | None = None
        self.client_ip = ""
        self.busy = False
        self.idle_since = 0.0
        self.bytes_in = 0
        self.bytes_out = 0
        self.connecting: asyncio.Task | None = None
        self.early: list[bytes] | None = None
        self.client_eof = False
        self.upstream_eof = False
        self.throttled = False
        self.closed = False

    # -- accept -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        listener = self.listener
        now = _monotonic()
        if (listener.screening and not listener.screen(transport)) or not listener.admit(now):
            transport.abort()
            return
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if peer else ""
        target = listener.pick(self.client_ip, now)
        if target is None:
            listener.dropped += 1
            transport.close()
            return
        # asyncio honours this at once; uvloop only once reading has started, so bytes that
        # arrive before the upstream is connected are also held in ``early``.
        transport.pause_reading()
        self.target = target
        self.idle_since = now
        listener.opened(self, target)
        self.connecting = listener.loop.create_task(self._connect())

    async def _connect(self) -> None:
        listener = self.listener
        settings = listener.settings
        loop = listener.loop
        task = self.connecting
        tried: list[TargetState] = []
        if listener.faults is not None:
            delay = listener.faults.delay()
            if delay:
                await asyncio.sleep(delay)
        while not self.closed:
            target = self.target
            try:
                await connect_within(loop, task, settings.connect_timeout, partial(_UpstreamSide, self),
                                     target.ip, listener.target_port(target, self.listen_port),
                                     **listener.upstream_source(self.client_ip))
                return
            except Exception:  # refused, unreachable, timed out: each means "try another"
                tried.append(target)
            if self.closed or len(tried) >= settings.connect_attempts:
                break
            retry = listener.pick(self.client_ip, _monotonic(), exclude=tried)
            if retry is None:
                break
            listener.retarget(self, target, retry)
            self.target = retry
        if not self.closed:
            self.transport.close()

    def attach(self, upstream: asyncio.Transport) -> None:
        """The upstream is connected: flush what the client sent meanwhile, start relaying."""
        self.upstream = upstream
        self.connecting = None
        if self.listener.spec.proxy_protocol:
            transport = self.transport
            upstream.write(v2_header(transport.get_extra_info("peername"), transport.get_extra_info("sockname")))
        early = self.early
        if early is not None:
            self.early = None
            for data in early:
                upstream.write(data)
        if self.client_eof:
            # Nothing more will come from the client: pass the EOF on, keep reading paused.
            if upstream.can_write_eof():
                upstream.write_eof()
            else:
                self.transport.close()
        elif not self.throttled:
            self.transport.resume_reading()

    # -- client → upstream ------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        upstream = self.upstream
        self.bytes_in += len(data)
        self.busy = True
        if upstream is not None:
            upstream.write(data)
            return
        if self.early is None:
            self.early = []
        self.early.append(data)
        self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.client_eof = True
        upstream = self.upstream
        if upstream is None:
            return self.connecting is not None
        if self.upstream_eof or not upstream.can_write_eof():
            # Both directions are done: close after flushing, one shutdown() fewer (as HAProxy).
            upstream.close()
            return False
        upstream.write_eof()
        return True

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self) -> None:
        # A side that already sent EOF stays paused: resuming it would report EOF again.
        if self.upstream is not None and not self.upstream_eof:
            self.upstream.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.target is None:
            return
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        if self.upstream is not None:
            self.upstream.close()
        self.listener.closed(self)

    # -- upstream → client (called by _UpstreamSide) ----------------------------------

    def upstream_eof_received(self) -> bool:
        self.upstream_eof = True
        transport = self.transport
        if self.client_eof or not transport.can_write_eof():
            transport.close()
            return False
        transport.write_eof()
        return True

    # -- tracked-connection interface -------------------------------------------------

    def close(self) -> None:
        self.transport.close()
        if self.upstream is not None:
            self.upstream.close()

    def abort(self) -> None:
        self.transport.abort()
        if self.upstream is not None:
            self.upstream.abort()


class _UpstreamSide(asyncio.Protocol):
    """The target side of a relay: forwards to the client transport, nothing else."""

    __slots__ = ("relay", "client")

    def __init__(self, relay: TcpRelay) -> None:
        self.relay = relay
        self.client = relay.transport

    def connection_made(self, transport: asyncio.Transport) -> None:
        if self.relay.closed:
            transport.abort()
            return
        self.relay.attach(transport)

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        self.client.write(data)
        relay.bytes_out += len(data)
        relay.busy = True

    def eof_received(self) -> bool:
        return self.relay.upstream_eof_received()

    def pause_writing(self) -> None:
        self.relay.throttled = True
        self.client.pause_reading()

    def resume_writing(self) -> None:
        relay = self.relay
        relay.throttled = False
        if not relay.client_eof:
            self.client.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()
