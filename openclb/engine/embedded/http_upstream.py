"""The target side of the layer-7 proxy: one connection to a real server, reused when allowed.

An ``Upstream`` carries one session's request at a time (``session``, an
``UpstreamSession``: what this module needs of ``http_proxy.HttpSession``, which it does not
import; None while idle in the listener's pool). It parses the response
with llhttp (``httptools.HttpResponseParser``): the C parser calls back at the end of the head,
per body piece and at the end, and the session turns those into bytes for the client, written
once per read from the target. The head itself is cut from the bytes received (from where it
began to the blank line) rather than collected header by header, since the session forwards
it nearly verbatim. Its transport stops reading while the client's transport is over its
high-water mark (the session pauses and resumes it). After a 101 it relays raw bytes.

llhttp cannot be told that a response answers a HEAD request, so the head callback ends the
parse itself (``_NoBody``) and the parser is replaced. A response delimited by the target
closing its connection ends at EOF, which llhttp is never told about either.

When the response is done, ``release`` returns the connection to the pool if keep-alive is
on and the request went out whole, else closes it. An idle pooled connection that receives
bytes or EOF is closed and leaves the pool (a target closing idle keep-alive connections is
normal).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from openclb.engine.embedded.http_listener import HttpListener, UpstreamKey

MAX_HEAD = 64 * 1024

_monotonic = time.monotonic


class UpstreamSession(Protocol):
    """What an ``Upstream`` needs of the client session it serves (``http_proxy.HttpSession``)."""

    transport: asyncio.Transport
    upstream: Upstream | None
    method: bytes
    tunnel: bool
    upstream_full: bool
    busy: bool
    bytes_out: int

    def response_informational(self, upstream: Upstream) -> None: ...
    def response_switching(self, upstream: Upstream) -> None: ...
    def response_head(self, upstream: Upstream) -> bool: ...
    def response_body(self, data: bytes) -> None: ...
    def response_end(self, upstream: Upstream) -> None: ...
    def start_tunnel(self, upstream: Upstream, rest: bytes) -> None: ...
    def upstream_lost(self, upstream: Upstream) -> None: ...
    def flush(self) -> None: ...
    def want_reading(self, wanted: bool) -> None: ...
    def drive(self) -> None: ...
    def fail(self, where: str, error: BaseException | None = None) -> None: ...


class _NoBody(Exception):
    """Raised from the head callback of a response that has no body whatever its headers say."""


class Upstream(asyncio.Protocol):
    """One connection to a target: serves one session's request at a time, then the pool."""

    __slots__ = (
        "listener", "key", "transport", "parser", "session", "idle_since", "closed", "answered",
        "status", "head", "buffer", "offset", "in_head", "complete", "until_close", "stray",
    )

    def __init__(self, listener: HttpListener, key: UpstreamKey) -> None:
        self.listener = listener
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = HttpResponseParser(self)
        self.session: UpstreamSession | None = None
        self.idle_since = 0.0
        self.closed = False
        self.answered = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.head = b""
        self.buffer = b""
        self.offset = 0
        self.in_head = True
        self.complete = False
        self.until_close = False
        self.stray = False

    # -- llhttp callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            self.stray = True  # bytes after the response: never forwarded, never pooled

    def on_headers_complete(self) -> None:
        self.in_head = False
        status = self.status = self.parser.get_status_code()
        session = self.session
        if session is None or self.stray:
            return
        buffer, start = self.buffer, self.offset
        end = buffer.find(b"\r\n\r\n", start) + 4
        self.head = buffer[start:end]
        self.offset = end
        if status < 200:
            if status == 101:
                session.response_switching(self)
            else:
                session.response_informational(self)
            return
        self.until_close = session.response_head(self)
        if session.method == b"HEAD":
            self.complete = True
            raise _NoBody

    def on_body(self, data: bytes) -> None:
        session = self.session
        if session is not None and not self.stray:
            session.response_body(data)

    def on_message_complete(self) -> None:
        if self.status >= 200 or self.stray:
            self.complete = True
        else:
            self.status = 0
            self.in_head = True

    # -- transport callbacks ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None:
            self.transport.close()
            return
        self.answered = True
        session.bytes_out += len(data)
        session.busy = True
        if session.tunnel:
            session.transport.write(data)
            return
        if self.in_head:
            self.buffer = self.buffer + data if self.buffer else data
            self.offset = 0
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            session.start_tunnel(self, data[upgrade.args[0]:])
            return
        except HttpParserError as error:
            if isinstance(error.__context__, _NoBody):
                self.parser = HttpResponseParser(self)
            elif isinstance(error.__context__, Exception):
                session.fail("response from target", error.__context__)
                return
            else:
                self._broken(session)
                return
        else:
            if self.in_head:
                if len(self.buffer) - self.offset > MAX_HEAD:
                    self._broken(session)
                    return
                self.buffer = self.buffer[self.offset:]
            else:
                self.buffer = b""
        session.flush()
        if self.complete:
            session.response_end(self)

    def _broken(self, session: UpstreamSession) -> None:
        """The target broke HTTP (or sent a head too large): drop it; the session answers."""
        self.transport.close()
        session.flush()
        session.upstream_lost(self)

    def eof_received(self) -> bool:
        session = self.session
        if session is not None and session.tunnel:
            client = session.transport
            if client.can_write_eof():
                client.write_eof()
                # A TLS transport closes on EOF whatever we answer.
                return self.key[2] is None
            client.close()
            return False
        self.closed = True
        if session is not None and self.until_close and not self.complete:
            self.complete = True
            session.response_end(self)
        return False

    def release(self, whole_request_sent: bool) -> None:
        """The response is complete: back to the pool if reusable, else close."""
        self.session = None
        self.answered = False
        listener = self.listener
        reusable = (listener.keepalive and whole_request_sent and not self.closed and not listener.closing
                    and not self.until_close and not self.stray)
        self._reset()
        if reusable:
            self.transport.resume_reading()
            if listener.pool.put(self.key, self, _monotonic()):
                return
        self.transport.close()

    def pause_writing(self) -> None:
        session = self.session
        if session is None:
            return
        session.upstream_full = True
        if session.tunnel:
            session.transport.pause_reading()
        else:
            session.want_reading(False)

    def resume_writing(self) -> None:
        session = self.session
        if session is None:
            return
        session.upstream_full = False
        if session.tunnel:
            session.transport.resume_reading()
        else:
            session.drive()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        session = self.session
        if session is None:
            self.listener.pool.discard(self.key, self)
        elif session.tunnel:
            session.upstream = None
            session.transport.close()
        elif self.until_close and not self.complete:
            self.complete = True
            session.response_end(self)
        else:
            session.upstream_lost(self)
