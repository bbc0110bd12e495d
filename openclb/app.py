"""Composition root: builds store, engine, worker and gateway from Settings, in order.

Start order: store (migrations) → engine → worker (rebinds every listener, resumes unfinished
tasks) → HTTP front door. Stop order is the reverse, so no API call is accepted that the
worker could no longer carry out, and no port stays open after stop.

Stopping drains, bounded by ``Settings.drain_seconds``: the API stops accepting and gives
requests in flight that long; the worker cancels what it is carrying out (those tasks stay
running in the store and the next start resumes them); the engine closes every listener's
ports at once and gives established connections that long to finish before closing them.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from openclb.api.accounts import load_registry
from openclb.api.gateway import Gateway, build_http_app
from openclb.api.ratelimit import RateLimiter
from openclb.config import Settings, read_instance_map
from openclb.obs import metrics
from openclb.engine.contract import Engine
from openclb.engine.embedded.engine import EmbeddedEngine
from openclb.engine.embedded.health import HealthChecker
from openclb.resources.shared.clock import sortable_now
from openclb.resources.shared.services import Services
from openclb.resources import build_handlers
from openclb.store.store import Store
from openclb.reconcile.worker import TaskWorker

log = logging.getLogger("openclb.app")


ENGINES = ("embedded", "haproxy")


def build_engine(settings: Settings) -> Engine:
    """The data plane ``settings.engine`` names; HAProxy serves TCP/TCP_SSL, the embedded engine the rest."""
    if settings.engine not in ENGINES:
        raise ValueError(f"unknown engine {settings.engine!r}; available: {', '.join(ENGINES)}")
    embedded = EmbeddedEngine(health_checker=HealthChecker(), max_ports_per_listener=settings.max_port_range,
                              drain_seconds=settings.drain_seconds)
    if settings.engine == "embedded":
        return embedded
    from openclb.engine.haproxy.engine import HaproxyEngine

    return HaproxyEngine(settings.data_dir / "haproxy", embedded=embedded, binary=settings.haproxy_binary,
                         max_ports_per_listener=settings.max_port_range, drain_seconds=settings.drain_seconds)


class OpenClb:
    """One running openclb server; ``await start()``, then ``await stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.generated_account = None
        self._runner: web.AppRunner | None = None
        self.port = settings.listen_port

    async def start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if not settings.instance_addresses:
            settings = self.settings = settings.with_(instance_addresses=read_instance_map(settings.data_dir))
        registry, self.generated_account = load_registry(
            settings.accounts_file, settings.env_secret_id, settings.env_secret_key, settings.env_token
        )
        self.store = Store(settings.effective_store_url)
        self.executor = ThreadPoolExecutor(max_workers=1 if self.store.is_sqlite else 4, thread_name_prefix="store")
        self.engine = build_engine(settings)
        await self.engine.start()
        self.worker = TaskWorker(self.store, self.engine, self.executor, sortable_now)
        await self.worker.start()
        services = Services(self.store, self.worker, settings, self.executor)
        limiter = RateLimiter(settings.rate_limit_default, settings.rate_limits)
        gateway = Gateway(registry, build_handlers(services), limiter, auth_required=settings.auth_mode != "none")
        self.accounts = registry
        app = build_http_app(gateway, [web.get("/healthz", _healthz), web.get("/metrics", self._metrics)])
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.drain_seconds)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.listen_host, settings.listen_port, reuse_address=True)
        await site.start()
        sockets = site._server.sockets if site._server else []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.settings.listen_host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.worker.close()
        await self.engine.close()
        self.executor.shutdown(wait=True)
        self.store.close()

    async def _metrics(self, _request: web.Request) -> web.Response:
        stats = await self.engine.stats()
        health = [h for lb_id in stats for h in await self.engine.health(lb_id)]
        return web.Response(text=metrics.render(stats, health), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def serve_forever(settings: Settings, announce) -> None:
    """Run until SIGINT/SIGTERM; ``announce(server)`` prints the endpoint once it is up."""
    import signal

    server = OpenClb(settings)
    await server.start()
    announce(server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
