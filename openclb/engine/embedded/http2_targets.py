"""HTTP/1.1 target connections for HTTP/2 streams, kept alive and reused across streams.

A ``TargetLink`` is one connection to a target that carries one stream's request at a time
(``http2_exchange.StreamExchange`` reads and writes it as a coroutine: ``read``, ``drain``).
Between streams it waits in the listener's ``stream_pool`` (an ``http_listener.UpstreamPool``
of its own, pruned, narrowed to the rules' targets and closed with the HTTP/1.1 pool), keyed
by (ip, port, TLS marker), when the listener's KeepaliveEnable is on. A connection opened and
closed per stream was the largest single cost of an HTTP/2 request (181 → 98 µs of CPU per
request in the ``http2`` benchmark once reused).

An idle link that receives bytes or EOF is closed and leaves the pool (a target closing idle
keep-alive connections is normal; bytes nobody asked for are never read as a response). A
link reads no further while ``READ_SIZE`` bytes it read wait for its stream (back-pressure).
"""

from __future__ import annotations

import asyncio
import ssl

from openclb.engine.embedded.http_listener import UpstreamKey

READ_SIZE = 65536


class TargetExpired(Exception):
    """The target was silent past the listener's response timeout (see ``TargetLink.expire``)."""


class TargetLink(asyncio.Protocol):
    """One connection to a target for HTTP/2 streams; see the module docstring."""

    __slots__ = ("loop", "pool", "key", "transport", "chunks", "eof", "closed", "in_use", "idle_since", "waiter",
                 "writable", "paused", "buffered")

    def __init__(self, loop: asyncio.AbstractEventLoop, pool, key: UpstreamKey) -> None:
        # Kept: CPython 3.11 makes a getpid() syscall per get_running_loop(), one per read.
        self.loop = loop
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.chunks: list[bytes] = []
        self.eof = False
        self.closed = False
        self.in_use = True
        self.idle_since = 0.0
        self.waiter: asyncio.Future | None = None
        self.writable: asyncio.Future | None = None
        self.paused = False
        self.buffered = 0

    # -- transport callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.in_use:
            self.closed = True
            self.transport.close()
            return
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered >= READ_SIZE and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.eof = True
        self._wake()
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)
        if not self.in_use:
            self.pool.discard(self.key, self)

    def pause_writing(self) -> None:
        self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- what a stream uses ---------------------------------------------------------------

    def expire(self) -> None:
        """The stream's deadline passed: its pending ``read`` raises ``TargetExpired``."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TargetExpired())

    async def read(self) -> bytes:
        """The bytes received since the last read, or b"" at EOF."""
        while not self.chunks:
            if self.eof:
                return b""
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.paused and not self.closed:
            self.paused = False
            self.transport.resume_reading()
        return data

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("the target closed the connection")
        if self.writable is not None:
            await self.writable

    def release(self, reusable: bool, now: float) -> None:
        """The stream is done with this link: back to the pool when ``reusable``, else closed."""
        if reusable and not self.closed and not self.chunks and not self.eof:
            self.in_use = False
            if self.paused:
                self.paused = False
                self.transport.resume_reading()
            if self.pool.put(self.key, self, now):
                return
            self.in_use = True
        self.closed = True
        self.transport.abort()


async def open_link(pool, key: UpstreamKey, ip: str, port: int, tls: ssl.SSLContext | None,
                    timeout: float) -> TargetLink:
    """A new link to ip:port (TLS with ``tls``), within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _, link = await loop.create_connection(lambda: TargetLink(loop, pool, key), ip, port, ssl=tls)
    return link
