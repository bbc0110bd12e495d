"""The target side of the layer-7 proxy: one connection to a real server, reused when allowed.

An ``Upstream`` carries one session's request at a time (``session`` is that
``http_proxy.HttpSession``, None while idle in the listener's pool). It parses the response
with its own h11 client connection and hands events to the session, which writes them to
the client; it stops pulling events while the client's transport is over its high-water
mark (the session resumes it). After a 101 it relays raw bytes. When the response is done,
``release`` returns it to the pool if keep-alive is on and both of its h11 states are DONE,
else closes it. An idle pooled connection that receives bytes or EOF is closed and leaves
the pool (a target closing idle keep-alive connections is normal).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import h11

from openclb.engine.embedded.http_listener import HttpListener, UpstreamKey

if TYPE_CHECKING:
    from openclb.engine.embedded.http_proxy import HttpSession

MAX_HEAD = 64 * 1024

_monotonic = time.monotonic
_DONE = h11.DONE
_NEED_DATA = h11.NEED_DATA
_PAUSED = h11.PAUSED
_Data = h11.Data
_EndOfMessage = h11.EndOfMessage


class Upstream(asyncio.Protocol):
    """One connection to a target: serves one session's request at a time, then the pool."""

    __slots__ = ("listener", "key", "transport", "h11", "session", "idle_since", "closed", "answered")

    def __init__(self, listener: HttpListener, key: UpstreamKey) -> None:
        self.listener = listener
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.session: HttpSession | None = None
        self.idle_since = 0.0
        self.closed = False
        self.answered = False

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
        self.h11.receive_data(data)
        try:
            self.drive()
        except Exception:
            session.fail("response from target")

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
        if session is not None:
            self.h11.receive_data(b"")
            try:
                self.drive()
            except Exception:
                session.fail("end of response from target")
        return False

    def drive(self) -> None:
        owner = session = self.session
        try:
            self._drive(session)
        finally:
            if owner is not None and owner.pending:
                owner.flush()

    def _drive(self, session: HttpSession | None) -> None:
        h = self.h11
        while session is not None and not session.client_full:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError:
                self.transport.close()
                session.upstream_lost(self)
                return
            kind = type(event)
            if kind is _Data:
                session.response_body(event)
            elif kind is h11.Response:
                session.response_head(event)
            elif kind is _EndOfMessage:
                session.response_end(self)
                return
            elif kind is h11.InformationalResponse:
                session.response_informational(event)
                if session.tunnel:
                    return
            elif event is _NEED_DATA or event is _PAUSED:
                return
            else:  # ConnectionClosed before the response ended
                self.transport.close()
                session.upstream_lost(self)
                return
            session = self.session

    def release(self) -> None:
        """The response is complete: back to the pool if reusable, else close."""
        self.session = None
        self.answered = False
        h = self.h11
        listener = self.listener
        if (listener.spec.keepalive and not self.closed and not listener.closing
                and h.our_state is _DONE and h.their_state is _DONE):
            h.start_next_cycle()
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
            session._want_reading(False)

    def resume_writing(self) -> None:
        session = self.session
        if session is None:
            return
        session.upstream_full = False
        if session.tunnel:
            session.transport.resume_reading()
        else:
            session._drive()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        session = self.session
        if session is None:
            self.listener.pool.discard(self.key, self)
        elif session.tunnel:
            session.upstream = None
            session.transport.close()
        else:
            session.upstream_lost(self)
