"""Prometheus metrics on their own address, off the API port.

Metrics name every account's CLBs, listeners and targets, so they are not served where API
clients connect: ``GET /metrics`` answers only here, by default on loopback
(``--metrics-listen``). With a token (``OPENCLB_METRICS_TOKEN``) a scrape must carry
``Authorization: Bearer <token>``; the comparison is constant-time and a refusal is HTTP 401
with ``WWW-Authenticate: Bearer``, as Prometheus' ``authorization`` setting expects.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

Render = Callable[[web.Request], Awaitable[web.Response]]


def metrics_app(render: Render, token: str | None) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        if token is not None and not _bearer_matches(request.headers.get("Authorization", ""), token):
            return web.Response(status=401, text="401: bearer token required\n",
                                headers={"WWW-Authenticate": 'Bearer realm="openclb metrics"'})
        return await render(request)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def start_metrics_server(render: Render, host: str, port: int, token: str | None) -> tuple[web.AppRunner, int]:
    """Serve ``GET /metrics`` on ``host:port``; returns the runner and the port bound."""
    runner = web.AppRunner(metrics_app(render, token), access_log=None, keepalive_timeout=15)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    sockets = site._server.sockets if site._server else []
    return runner, (sockets[0].getsockname()[1] if sockets else port)
