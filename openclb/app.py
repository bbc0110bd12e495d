"""Composition root: builds store, engine, worker and gateway from Settings, in order.

Start order: data dir (made owner-only, 0700) → store (migrations) → master key (checked
against the store; clear private keys from an older version sealed) → engine → worker (rebinds
every listener, resumes unfinished tasks) → HTTP front door (the API port, then metrics on
their own address). Stop order is the reverse, so no API call is accepted that the worker
could no longer carry out, and no port stays open after stop. A master key that is wrong or
missing stops the start (``MasterKeyError``) before anything is bound. A metrics address that
cannot be bound is logged and left unserved: it must not keep the load balancer down.

With ``Settings.fault_injection`` (``openclb serve --faults``) one ``FaultBook`` is shared by the
gateway (API errors and latency), the worker (task faults) and the admin handlers, and the
engine is wrapped in ``FaultInjectingEngine`` (unhealthy targets, refused or held applies).

While it runs, a server holds a shared lock on ``<data-dir>/serve.lock``: ``openclb state
import|reset`` on the data dir take it exclusively, so they refuse to write under a running server.

The master key lives in one object, the sealer built here: the handlers get it (through
``Services``) to seal uploads, the desired-state builder to open keys for the engine.

Stopping drains, bounded by ``Settings.drain_seconds``: the API stops accepting and gives
requests in flight that long; the worker cancels what it is carrying out (those tasks stay
running in the store and the next start resumes them); the engine closes every listener's
ports at once and gives established connections that long to finish before closing them.

What outlives openclb: with the HAProxy engine, HAProxy serves on when openclb dies without
stopping (kill -9, a crash) and the next start on the same data dir adopts it, so TCP and
TCP_SSL connections survive. ``stop()`` (SIGTERM, SIGINT, and what tests call) stops
everything, HAProxy included; ``stop(keep_data_plane=True)`` (SIGUSR2: an upgrade restart)
stops openclb and leaves HAProxy serving for the next start to adopt. Listeners of the
embedded engine live in this process and stop with it either way. A start without the
HAProxy engine stops an HAProxy a crashed openclb of the data dir left behind: it holds the
listeners' ports.
"""

from __future__ import annotations

import asyncio
import gc
import fcntl
import logging
import os
import resource
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from aiohttp import web

from openclb.api.accounts import load_registry
from openclb.api.gateway import Gateway
from openclb.api.ratelimit import RateLimiter
from openclb.api.replay import DurableNonces
from openclb.api.server import ApiLimits, Runners, start_api_server
from openclb.console import routes as console_routes
from openclb.config import Settings, read_function_map, read_instance_map
from openclb.domain.faults import FaultBook
from openclb.obs import metrics
from openclb.obs.metrics_server import start_metrics_server
from openclb.engine.contract import DetachableEngine, Engine
from openclb.engine.embedded.engine import EmbeddedEngine
from openclb.engine.embedded.health import HealthChecker
from openclb.engine.faults import FaultInjectingEngine
from openclb.resources.certificates.sealing import open_sealer
from openclb.resources.desired_state import desired_state
from openclb.resources.shared.clock import sortable_now
from openclb.resources.shared.services import Services
from openclb.resources import CLB_ACTIONS, build_handlers
from openclb.store.nonces import NonceStore
from openclb.store.store import Store
from openclb.reconcile.worker import TaskWorker

log = logging.getLogger("openclb.app")


ENGINES = ("embedded", "haproxy")


def descriptor_budget(settings: Settings) -> int | None:
    """What the embedded data plane may hold of this process's RLIMIT_NOFILE (None: no limit)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    budget = settings.descriptor_budget(soft)
    log.info("data-plane descriptor budget", extra={"descriptor_budget": budget, "open_files_limit": soft})
    return budget


def build_engine(settings: Settings) -> Engine:
    """The data plane ``settings.engine`` names; HAProxy serves TCP/TCP_SSL, the embedded engine the rest."""
    if settings.engine not in ENGINES:
        raise ValueError(f"unknown engine {settings.engine!r}; available: {', '.join(ENGINES)}")
    budget = descriptor_budget(settings)
    engine: Engine
    if settings.workers > 1 and settings.engine == "embedded":
        from openclb.engine.embedded.workers import WorkerOptions, WorkerPool

        engine = WorkerPool(settings.workers, WorkerOptions(
            settings.max_port_range, settings.drain_seconds, None if budget is None else budget // settings.workers,
            settings.ha == "vrrp", settings.data_dir / "logs"))
    else:
        engine = EmbeddedEngine(health_checker=HealthChecker(), max_ports_per_listener=settings.max_port_range,
                                drain_seconds=settings.drain_seconds, descriptor_budget=budget,
                                access_log_dir=settings.data_dir / "logs", free_bind=settings.ha == "vrrp")
    if settings.engine == "haproxy":
        from openclb.engine.haproxy.engine import HaproxyEngine

        engine = HaproxyEngine(settings.data_dir / "haproxy", embedded=engine, binary=settings.haproxy_binary,
                               max_ports_per_listener=settings.max_port_range, drain_seconds=settings.drain_seconds,
                               threads=settings.workers)
    return FaultInjectingEngine(engine) if settings.fault_injection else engine


def build_worker(settings: Settings, store: Store, engine: Engine, executor, desired, faults: FaultBook | None):
    """The single-node worker, or with ``--node-name`` one node's worker of a shared PostgreSQL store."""
    task_faults = faults.task_fault if faults is not None else None
    if settings.node_name is None:
        return TaskWorker(store, engine, executor, sortable_now, desired, task_faults=task_faults)
    from openclb.reconcile.cluster import ClusterWorker, NodeConfig

    node = NodeConfig(settings.node_name, settings.endpoint_url, settings.node_timeout)
    vrrp = None
    if settings.ha == "vrrp":
        from openclb.engine.keepalived import Keepalived, VrrpSettings

        vrrp = Keepalived(VrrpSettings(settings.node_name, settings.vip_interface, settings.vrrp_priority or 0,
                                       settings.vrrp_router_id, binary=settings.keepalived_binary),
                          settings.data_dir / "keepalived")
    return ClusterWorker(store, engine, executor, sortable_now, desired, task_faults=task_faults, node=node,
                         vrrp=vrrp)


class OpenClb:
    """One running openclb server; ``await start()``, then ``await stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.generated_account = None
        self._runner: Runners | None = None
        self.port = settings.listen_port
        self.metrics_port: int | None = None
        self.faults: FaultBook | None = None
        self._lock_file: int | None = None

    async def start(self) -> None:
        settings = self.settings
        settings.check_nodes()
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)
        self._lock_file = hold_serve_lock(settings.data_dir)
        if not settings.instance_addresses:
            settings = self.settings = settings.with_(instance_addresses=read_instance_map(settings.data_dir))
        if not settings.function_endpoints:
            settings = self.settings = settings.with_(function_endpoints=read_function_map(settings.data_dir))
        registry, self.generated_account = load_registry(
            settings.accounts_file, settings.env_secret_id, settings.env_secret_key, settings.env_token
        )
        self.store = Store(settings.effective_store_url)
        try:
            keys = open_sealer(self.store, settings.master_key, settings.master_key_file)
        except Exception:
            self.store.close()
            self._release_lock()
            raise
        self.executor = ThreadPoolExecutor(max_workers=1 if self.store.is_sqlite else 4, thread_name_prefix="store")
        if settings.engine != "haproxy":
            from openclb.engine.haproxy.process import stop_left_over

            if await stop_left_over(settings.data_dir / "haproxy", settings.haproxy_binary):
                log.warning("stopped the HAProxy a previous openclb left serving: the %s engine serves now",
                            settings.engine)
        self.engine = build_engine(settings)
        self.faults = FaultBook() if settings.fault_injection else None
        await self.engine.start()
        self.worker = build_worker(settings, self.store, self.engine, self.executor, partial(desired_state, keys=keys),
                                   self.faults)
        await self.worker.start()
        fault_engine = self.engine if isinstance(self.engine, FaultInjectingEngine) else None
        services = Services(self.store, self.worker, settings, self.executor, keys, self.faults, fault_engine,
                            CLB_ACTIONS)
        limiter = RateLimiter(settings.rate_limit_default, settings.rate_limits)
        gateway = Gateway(
            registry, build_handlers(services), limiter, auth_required=settings.auth_mode != "none",
            nonces=DurableNonces(NonceStore(self.store.engine), self.executor),
            calls_per_account=settings.api_calls_per_account, body_timeout=settings.api_body_timeout,
            faults=self.faults,
        )
        self.accounts = registry
        self._runner = Runners()
        limits = ApiLimits(settings.api_head_timeout, settings.api_idle_timeout, settings.api_body_timeout,
                           settings.api_max_connections, settings.drain_seconds)
        api_runner, self.port = await start_api_server(gateway.handle, settings.listen_host, settings.listen_port,
                                                       limits, console_routes)
        self._runner.add(api_runner)
        if settings.node_name is not None:
            await self.worker.announce_api(self.endpoint_url)
        if settings.metrics_port is not None:
            try:
                metrics_runner, self.metrics_port = await start_metrics_server(
                    self._metrics, settings.metrics_host, settings.metrics_port, settings.metrics_token)
            except OSError as exc:
                log.error("metrics not served: cannot listen on %s:%s: %s",
                          settings.metrics_host, settings.metrics_port, exc)
            else:
                self._runner.add(metrics_runner)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.settings.listen_host}:{self.port}"

    @property
    def metrics_url(self) -> str | None:
        if self.metrics_port is None:
            return None
        return f"http://{self.settings.metrics_host}:{self.metrics_port}"

    async def stop(self, keep_data_plane: bool = False) -> None:
        """Stop, draining; ``keep_data_plane``: leave what can outlive openclb (HAProxy) serving."""
        if self._runner is not None:
            await self._runner.cleanup()
        await self.worker.close()
        if keep_data_plane and isinstance(self.engine, DetachableEngine):
            await self.engine.detach()
        else:
            await self.engine.close()
        self.executor.shutdown(wait=True)
        self.store.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None


    async def _metrics(self, _request: web.Request) -> web.Response:
        stats = await self.engine.stats()
        health = [h for lb_id in stats for h in await self.engine.health(lb_id)]
        return web.Response(text=metrics.render(stats, health), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})


SERVE_LOCK = "serve.lock"


def hold_serve_lock(data_dir) -> int:
    """A shared lock on the data dir's ``serve.lock`` for as long as the returned descriptor is open."""
    fd = os.open(data_dir / SERVE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


async def serve_forever(settings: Settings, announce) -> None:
    """Run until SIGINT/SIGTERM (stop everything) or SIGUSR2 (stop, leaving HAProxy serving);
    ``announce(server)`` prints the endpoint once it is up."""
    import signal

    server = OpenClb(settings)
    await server.start()
    announce(server)
    # What start-up built lives as long as the process: the collector's full passes need not
    # walk it again each time (they would, at a cost that grows with the process, while
    # the data plane runs).
    gc.collect()
    gc.freeze()
    received: list[signal.Signals] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
        loop.add_signal_handler(sig, lambda sig=sig: (received.append(sig), stop.set()))
    await stop.wait()
    await server.stop(keep_data_plane=received[0] is signal.SIGUSR2)
