"""The API port's HTTP server: connection limits, timeouts, and the envelope for every answer.

Built on aiohttp's low-level server with its own connection protocol (``ApiConnection``), so
that what aiohttp would otherwise answer itself also gets the API's JSON envelope:
- malformed framing (bad request line, header or chunking; a line or header over its limit)
  is answered ``InvalidRequest`` (``RequestSizeLimitExceeded`` for an overlong line) with
  ``Connection: close``, logged as one line without a traceback;
- a path other than ``/`` gets ``InvalidRequest``, except ``GET /healthz`` (liveness, for
  load balancers and orchestrators in front of openclb) and the pages it is given (the web
  console at ``/console``, which also takes a browser's plain ``GET /``);
- ``CONNECT`` gets ``UnsupportedProtocol`` with HTTP 405, the one non-200 status: a 2xx answer
  to CONNECT opens a tunnel and carries no body, so it could not carry the envelope.

Connection lifecycle, each state with its own deadline (``ApiLimits``):
- a new connection, or a kept-alive one whose next request has begun, must deliver the
  request head within ``head_timeout``; a kept-alive connection may stay idle ``idle_timeout``
  between requests; a body must arrive within ``body_timeout`` (the gateway's read). A
  connection past its deadline is closed.
- at most ``max_connections`` are open. One over the cap closes the connection that has
  waited longest for a request head (idle or slow), so idle and slowloris sockets cannot keep
  a signed call out; when every connection is busy with a request, the new one is refused.
  Calls in progress are never cut.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from openclb import errors
from openclb.api import serializer

# aiohttp refuses request lines over 8 KB before the gateway sees them; GETs up to this size
# reach it, so one over the documented 32 KB cap gets its documented code.
MAX_REQUEST_LINE = 1024 * 1024

log = logging.getLogger("openclb.api")

_IDLE, _HEAD, _BUSY = "idle", "head", "busy"


@dataclass(frozen=True)
class ApiLimits:
    head_timeout: float = 10.0
    idle_timeout: float = 60.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    # At stop: how long requests in flight may take before their connections are closed.
    drain_seconds: float = 5.0


class ConnectionGuard:
    """Counts the API's open connections and picks the one to close when over the cap.

    ``_waiting`` holds the connections waiting for a request head, oldest wait first (dicts keep
    insertion order; re-entering the state moves a connection to the end).
    """

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self.open = 0
        self._waiting: dict[ApiConnection, None] = {}

    def opened(self, connection: ApiConnection) -> bool:
        """Count a new connection; False when it must be refused (every other one is busy)."""
        self.open += 1
        if self.open <= self.max_connections:
            return True
        victim = next(iter(self._waiting), None)
        if victim is None:
            return False
        del self._waiting[victim]
        victim.force_close()
        return True

    def waiting(self, connection: ApiConnection) -> None:
        self._waiting.pop(connection, None)
        self._waiting[connection] = None

    def busy(self, connection: ApiConnection) -> None:
        self._waiting.pop(connection, None)

    def closed(self, connection: ApiConnection) -> None:
        self._waiting.pop(connection, None)
        self.open -= 1


class ApiConnection(RequestHandler):
    """One API connection: aiohttp's protocol plus deadlines, the cap, and envelope errors."""

    def __init__(self, manager: web.Server, *, guard: ConnectionGuard, limits: ApiLimits, **kwargs) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._limits = limits
        self._state = _HEAD
        self._deadline: asyncio.TimerHandle | None = None
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._counted = True
        if not self._guard.opened(self):
            transport.abort()
            return
        self._wait(_HEAD, self._limits.head_timeout)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_deadline()
        if self._counted:
            self._counted = False
            self._guard.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._state is _IDLE and data:
            self._wait(_HEAD, self._limits.head_timeout)
        heads = self._request_count
        super().data_received(data)
        if self._request_count != heads and self._state is not _BUSY:
            self._state = _BUSY
            self._cancel_deadline()
            self._guard.busy(self)

    async def finish_response(self, request, resp, start_time):
        result = await super().finish_response(request, resp, start_time)
        if not self._messages and not self._force_close and self._counted:
            self._wait(_IDLE, self._limits.idle_timeout)
        return result

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None, message: str | None = None):
        """The envelope instead of aiohttp's text/plain page; one log line, no traceback."""
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        if isinstance(exc, LineTooLong):
            error: errors.ApiError = errors.RequestSizeLimitExceeded("A request line or header is too long.")
        elif status < 500:
            error = errors.InvalidRequest("The request is not valid HTTP/1.1.")
        else:
            error = errors.InternalError()
        request_id = str(uuid.uuid4())
        reason = message or (type(exc).__name__ if exc is not None else "")
        log.info(
            "api call",
            extra={"request_id": request_id, "account": None, "action": None, "code": error.code,
                   "reason": reason[:200]},
        )
        response = serializer.http_response(serializer.error_body(error, request_id))
        response.force_close()
        return response

    def _wait(self, state: str, seconds: float) -> None:
        self._state = state
        self._cancel_deadline()
        self._deadline = self._loop.call_later(seconds, self._expired)
        self._guard.waiting(self)

    def _expired(self) -> None:
        self._deadline = None
        if self._state is not _BUSY:
            self.force_close()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


class ApiServer(web.Server):
    """aiohttp's low-level server making ``ApiConnection``s that share one guard."""

    def __init__(self, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]], limits: ApiLimits) -> None:
        # aiohttp's own keep-alive close is a backstop behind the deadlines above.
        super().__init__(
            handler,
            keepalive_timeout=limits.idle_timeout + limits.head_timeout,
            max_line_size=MAX_REQUEST_LINE,
            auto_decompress=False,
            access_log=None,
        )
        self.guard = ConnectionGuard(limits.max_connections)
        self.limits = limits

    def __call__(self) -> ApiConnection:
        return ApiConnection(self, loop=self._loop, guard=self.guard, limits=self.limits, **self._kwargs)


class Pages(Protocol):
    """Web pages served beside the API (the console): which requests they take, and the answer."""

    def serves(self, request: web.BaseRequest) -> bool: ...

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse: ...


def dispatcher(
    api: Callable[[web.BaseRequest], Awaitable[web.Response]], pages: Pages | None = None,
) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    """``/`` to the gateway, ``GET /healthz`` to liveness, pages to ``pages``, else the envelope."""

    async def dispatch(request: web.BaseRequest) -> web.Response:
        if request.method == "CONNECT":
            error = errors.UnsupportedProtocol("The HTTP method CONNECT is not supported; use GET or POST.")
            body = serializer.error_body(error, str(uuid.uuid4()))
            response = web.Response(body=body, status=405, headers=serializer.RESPONSE_HEADERS)
            response.force_close()
            return response
        path = request.path
        if pages is not None and pages.serves(request):
            return await pages.handle(request)
        if path == "/":
            return await api(request)
        if path == "/healthz" and request.method in ("GET", "HEAD"):
            return web.json_response({"status": "ok"})
        error = errors.InvalidRequest("Nothing is served at this path; the API answers at `/`.")
        response = serializer.http_response(serializer.error_body(error, str(uuid.uuid4())))
        if not request.content.is_eof():
            response.force_close()
        return response

    return dispatch


async def start_api_server(
    handler: Callable[[web.BaseRequest], Awaitable[web.Response]], host: str, port: int, limits: ApiLimits,
    pages: Pages | None = None,
) -> tuple[web.ServerRunner, int]:
    """Serve the API on ``host:port``; returns the runner (``cleanup()`` stops it) and the port bound."""
    server = ApiServer(dispatcher(handler, pages), limits)
    runner = web.ServerRunner(server, shutdown_timeout=limits.drain_seconds)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner, _bound_port(site, port)


def _bound_port(site: web.TCPSite, default: int) -> int:
    sockets = site._server.sockets if site._server else []
    return sockets[0].getsockname()[1] if sockets else default


class Runners:
    """The HTTP servers of one openclb (API, metrics), stopped together by ``cleanup()``."""

    def __init__(self) -> None:
        self._runners: list[web.BaseRunner] = []

    def add(self, runner: web.BaseRunner) -> None:
        self._runners.append(runner)

    async def cleanup(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
