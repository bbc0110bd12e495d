"""The embedded engine: reconciles each CLB's listeners on the app's own event loop.

``apply`` converges one CLB to its desired state in three steps, under a per-CLB lock so two
applies of one CLB never interleave: close the listeners that are gone or must be rebound
(VIP, protocol or ports changed) so their ports are free, update the others in place, then
bind the new ones. It returns only when every listener in the state is accepting (or has
failed, with the reason) and every removed listener's ports are released, so the caller can
report success and a client can connect at once. A listener whose bind fails is not kept;
the next apply tries it again. Applying an unchanged state touches nothing.

A removed (or rebound) listener is *retired*: its ports close before ``apply`` returns, and
its established connections drain in the background for ``drain_seconds`` (see
``ListenerCore.drain``), so a DeleteListener neither waits for its clients nor cuts them off.
``close`` retires every listener at once and waits for every drain, including those still
running from earlier applies; each ends within its grace.

The engine works on the default asyncio loop and on uvloop alike; the app chooses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from openclb.engine.contract import ApplyResult, EngineError, LoadBalancerStats, TargetHealth
from openclb.protocols import ListenerProtocol
from openclb.engine.spec import ListenerSpec, LoadBalancerState
from openclb.engine.embedded.access_log import AccessLogBook
from openclb.engine.embedded.health import HealthChecker, unwatch_listener, watch_listener
from openclb.engine.embedded.binding import BindFailure, bind_datagram_sockets, bind_stream_sockets
from openclb.engine.embedded.descriptors import DescriptorBudget
from openclb.engine.embedded.http_listener import HttpListener, UpstreamPool
from openclb.engine.embedded.http2 import http_session
from openclb.engine.embedded.http3 import sync_http3
from openclb.engine.embedded.listener import HealthView, ListenerCore, ListenerSettings, Sweeper, always_healthy
from openclb.engine.embedded.tcp import StreamHandler, StreamListener, TcpRelay
from openclb.engine.embedded.tls import TlsConfigError, terminates_tls
from openclb.engine.embedded.udp import DatagramListener


class _LoadBalancer:
    """The listeners one CLB is serving, by listener id."""

    def __init__(self, vip: str) -> None:
        self.vip = vip
        self.listeners: dict[str, ListenerCore] = {}
        self.lock = asyncio.Lock()


def _http3_holder(balancer: _LoadBalancer, spec: ListenerSpec) -> str | None:
    """The HTTPS listener of this CLB whose HTTP/3 side holds a UDP port ``spec`` wants."""
    if not spec.protocol.is_datagram:
        return None
    for listener in balancer.listeners.values():
        if getattr(listener, "http3", None) is not None and listener.spec.port in spec.ports:
            return listener.listener_id
    return None


class EmbeddedEngine:
    """The default data plane: every protocol served in-process with asyncio.

    Arguments (all optional):

    - ``health_view(listener_id, ip, port) -> bool``: whether a target may take new
      connections; supplied by the health checker. Default: every target is healthy.
    - ``stream_handlers``: protocol → stream handler (see ``tcp.StreamHandler``) for
      TCP-class protocols; a protocol not given uses the plain TCP relay (TCP, TCP_SSL)
      or the HTTP proxy (HTTP, HTTPS, on an ``HttpListener``).
    - ``upstream_pool_size``/``upstream_idle_seconds``: per target, how many idle keep-alive
      connections an HTTP/HTTPS listener keeps (KeepaliveEnable on), and for how long.
    - ``max_ports_per_listener``: a port range wider than this fails with an EngineError.
    - ``max_udp_flows``: concurrent flows per UDP/QUIC listener; new flows beyond are dropped.
    - ``quic_short_cid_length``: connection id length assumed in QUIC short headers.
    - ``connect_timeout``/``connect_attempts``: per-attempt upstream connect timeout, and how
      many targets a new TCP connection tries before it is closed.
    - ``backlog``: listen backlog of each TCP port.
    - ``drain_seconds``: how long the connections of a retired listener may take to finish
      (0: they are reset at once).
    - ``descriptor_budget``: how many file descriptors the connections of every listener
      may hold together (see ``descriptors``); past it new connections are refused. None:
      no budget. The app derives it from RLIMIT_NOFILE.
    - ``access_log_dir``: where the access logs of CLBs bound to a CLS log set and topic are
      written (``<dir>/<logset>/<topic>.log``, see ``access_log``); None: none are written.
    - ``free_bind``: bind VIPs this host does not hold (yet): VRRP brings them (``--ha vrrp``).
    - ``reuse_port``: share each port with the node's other data-plane workers (``--workers``).
    """

    # Carries out ``ListenerSpec.traffic_faults`` (see admission.py).
    supports_traffic_faults = True

    def __init__(
        self,
        *,
        health_checker: HealthChecker | None = None,
        health_view: HealthView | None = None,
        stream_handlers: Mapping[ListenerProtocol, StreamHandler] | None = None,
        max_ports_per_listener: int = 1000,
        max_udp_flows: int = 10_000,
        quic_short_cid_length: int = 8,
        connect_timeout: float = 5.0,
        connect_attempts: int = 3,
        backlog: int = 1024,
        upstream_pool_size: int = 32,
        upstream_idle_seconds: float = 60.0,
        drain_seconds: float = 0.0,
        descriptor_budget: int | None = None,
        access_log_dir: Path | None = None,
        free_bind: bool = False,
        reuse_port: bool = False,
    ) -> None:
        self._free_bind = free_bind
        self._reuse_port = reuse_port
        self._checker = health_checker
        if health_checker is not None and health_view is None:
            health_view = health_checker.is_healthy
        self._settings = ListenerSettings(
            health_view=health_view or always_healthy,
            backlog=backlog,
            connect_timeout=connect_timeout,
            connect_attempts=max(1, connect_attempts),
            max_udp_flows=max_udp_flows,
            quic_short_cid_length=quic_short_cid_length,
            sweeper=Sweeper(),
            descriptors=DescriptorBudget(descriptor_budget),
            access_logs=AccessLogBook(access_log_dir),
        )
        self._stream_handlers: dict[ListenerProtocol, StreamHandler] = dict(stream_handlers or {})
        self._max_ports = max_ports_per_listener
        self._pool_size = upstream_pool_size
        self._pool_idle = upstream_idle_seconds
        self._load_balancers: dict[str, _LoadBalancer] = {}
        self._drain_seconds = drain_seconds
        self._draining: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Start the health checker; listeners join the engine's one sweep timer when they open."""
        if self._checker is not None:
            await self._checker.start()

    def _watch(self, spec: ListenerSpec, old: ListenerSpec | None = None) -> None:
        if self._checker is not None:
            watch_listener(self._checker, spec, old)

    def _unwatch(self, spec: ListenerSpec) -> None:
        if self._checker is not None:
            unwatch_listener(self._checker, spec)

    async def apply(self, state: LoadBalancerState) -> ApplyResult:
        while True:
            balancer = self._load_balancers.get(state.load_balancer_id)
            if balancer is None:
                balancer = self._load_balancers[state.load_balancer_id] = _LoadBalancer(state.vip)
            async with balancer.lock:
                # A remove() that held the lock meanwhile retired this entry: start over.
                if self._load_balancers.get(state.load_balancer_id) is balancer:
                    return await self._reconcile(balancer, state)

    async def _reconcile(self, balancer: _LoadBalancer, state: LoadBalancerState) -> ApplyResult:
        wanted = {spec.listener_id: spec for spec in state.listeners}
        for listener_id, listener in list(balancer.listeners.items()):
            spec = wanted.get(listener_id)
            if spec is None or self._must_rebind(listener, spec, state.vip):
                del balancer.listeners[listener_id]
                await self._retire(listener)
        balancer.vip = state.vip
        failed: dict[str, EngineError] = {}
        opening = []
        # Updates first: one that frees a port (Quic turned off) does so before a new listener binds it.
        for spec in wanted.values():
            listener = balancer.listeners.get(spec.listener_id)
            if listener is None:
                opening.append(spec)
                continue
            old = listener.spec
            try:
                listener.update(spec)
            except TlsConfigError as exc:
                failed[spec.listener_id] = EngineError(
                    str(exc), f"listener {spec.listener_id}: TLS reconfiguration failed, old certificates kept")
                continue
            self._watch(spec, old)
            await self._sync_http3(listener, failed)
        for spec in opening:
            holder = _http3_holder(balancer, spec)
            if holder is not None:
                failed[spec.listener_id] = EngineError(
                    f"UDP port {spec.port} is used by HTTP/3 of listener {holder} (a domain with Quic on)",
                    f"listener {spec.listener_id}: UDP port {spec.port} held by the QUIC side of {holder}")
                continue
            try:
                listener = balancer.listeners[spec.listener_id] = await self._open(state, spec)
            except BindFailure as failure:
                failed[spec.listener_id] = failure.error
                continue
            self._watch(spec)
            await self._sync_http3(listener, failed)
        return ApplyResult(failed=failed)

    async def _sync_http3(self, listener: ListenerCore, failed: dict[str, EngineError]) -> None:
        """The UDP side of an HTTPS listener whose domains have Quic on (``http3.sync_http3``)."""
        if isinstance(listener, HttpListener):
            try:
                await sync_http3(listener, self._free_bind, self._reuse_port)
            except BindFailure as failure:
                failed[listener.listener_id] = failure.error

    def _must_rebind(self, listener: ListenerCore, spec: ListenerSpec, vip: str) -> bool:
        current = listener.spec
        return (
            listener.vip != vip
            or current.protocol != spec.protocol
            or current.ports != spec.ports
            or terminates_tls(current) != terminates_tls(spec)
        )

    async def _open(self, state: LoadBalancerState, spec: ListenerSpec) -> ListenerCore:
        ports = spec.ports
        if len(ports) == 0:
            raise BindFailure(EngineError(
                f"Port range {spec.port}-{spec.end_port} is empty",
                f"listener {spec.listener_id}: end_port {spec.end_port} < port {spec.port}"))
        if len(ports) > self._max_ports:
            raise BindFailure(EngineError(
                f"Port range {spec.port}-{spec.end_port} has {len(ports)} ports; "
                f"at most {self._max_ports} are allowed per listener",
                f"listener {spec.listener_id}: range exceeds max_ports_per_listener={self._max_ports}"))
        listener: StreamListener | DatagramListener
        if spec.protocol.is_datagram:
            sockets = bind_datagram_sockets(state.vip, ports, spec.listener_id, self._free_bind, self._reuse_port)
            listener = DatagramListener(state.load_balancer_id, state.vip, spec, self._settings)
        else:
            listener = self._stream_listener(state, spec)
            sockets = bind_stream_sockets(state.vip, ports, self._settings.backlog, spec.listener_id,
                                          self._free_bind, self._reuse_port)
        try:
            await listener.open(sockets)
        except OSError as exc:
            raise BindFailure(EngineError(
                f"Cannot serve port {spec.port} on {state.vip}: {exc.strerror or exc}",
                f"listener {spec.listener_id}: opening server failed: {exc!r}")) from exc
        return listener

    def _stream_listener(self, state: LoadBalancerState, spec: ListenerSpec) -> StreamListener:
        """The listener object for a TCP-class spec; certificates are loaded here, before any bind."""
        try:
            if spec.protocol in (ListenerProtocol.HTTP, ListenerProtocol.HTTPS):
                handler = self._stream_handlers.get(spec.protocol, http_session)
                return HttpListener(state.load_balancer_id, state.vip, spec, self._settings, handler,
                                    pool=UpstreamPool(self._pool_size, self._pool_idle, self._settings.descriptors))
            handler = self._stream_handlers.get(spec.protocol, TcpRelay)
            return StreamListener(state.load_balancer_id, state.vip, spec, self._settings, handler)
        except TlsConfigError as exc:
            raise BindFailure(EngineError(str(exc), f"listener {spec.listener_id}: {exc}")) from exc

    async def _retire(self, listener: ListenerCore) -> None:
        """Close ``listener``'s ports now; drain its connections in the background."""
        self._unwatch(listener.spec)
        await listener.stop_accepting()
        drain = asyncio.get_running_loop().create_task(listener.drain(self._drain_seconds))
        self._draining.add(drain)
        drain.add_done_callback(self._draining.discard)

    async def remove(self, load_balancer_id: str) -> None:
        balancer = self._load_balancers.get(load_balancer_id)
        if balancer is None:
            return
        async with balancer.lock:
            listeners, balancer.listeners = balancer.listeners, {}
            for listener in listeners.values():
                await self._retire(listener)
            if self._load_balancers.get(load_balancer_id) is balancer:
                del self._load_balancers[load_balancer_id]

    async def health(self, load_balancer_id: str) -> list[TargetHealth]:
        balancer = self._load_balancers.get(load_balancer_id)
        if balancer is None:
            return []
        if self._checker is not None:
            keys = [key for listener in balancer.listeners.values()
                    for key in (listener.listener_id, *(rule.location_id for rule in listener.spec.rules))]
            return [h for key in keys for h in self._checker.snapshot(key)]
        view = self._settings.health_view
        report = []
        for listener in balancer.listeners.values():
            groups = [(listener.listener_id, listener.spec.targets)]
            groups += [(rule.location_id, rule.targets) for rule in listener.spec.rules]
            for key, targets in groups:
                for target in targets:
                    healthy = view(key, target.ip, target.port)
                    report.append(TargetHealth(
                        listener_id=key, ip=target.ip, port=target.port,
                        healthy=healthy, detail="Alive" if healthy else "Dead"))
        return report

    async def stats(self) -> LoadBalancerStats:
        """``{load_balancer_id: {listener_id: counters}}``; see ``ListenerCore.stats``."""
        return {
            lb_id: {listener_id: listener.stats() for listener_id, listener in balancer.listeners.items()}
            for lb_id, balancer in self._load_balancers.items()
        }

    def traffic_fault_hits(self) -> dict[str, int]:
        """Events taken by each injected traffic fault, by fault id (``admission.TrafficFaults``)."""
        hits: dict[str, int] = {}
        for balancer in self._load_balancers.values():
            for listener in balancer.listeners.values():
                if listener.faults is not None:
                    for fault_id, count in listener.faults.hits().items():
                        hits[fault_id] = hits.get(fault_id, 0) + count
        return hits

    @property
    def access_logs(self) -> AccessLogBook:
        """The access logs of this engine (the HAProxy engine writes its listeners' into them too)."""
        return self._settings.access_logs

    @property
    def descriptors(self) -> DescriptorBudget:
        """The descriptor budget every listener counts against, for tests and diagnostics."""
        return self._settings.descriptors

    def listener(self, load_balancer_id: str, listener_id: str) -> ListenerCore | None:
        """The live listener object, for tests and diagnostics."""
        balancer = self._load_balancers.get(load_balancer_id)
        return balancer.listeners.get(listener_id) if balancer else None

    async def close(self) -> None:
        for load_balancer_id in list(self._load_balancers):
            await self.remove(load_balancer_id)
        if self._draining:
            await asyncio.wait(list(self._draining))
        await self._settings.access_logs.close()
        if self._checker is not None:
            await self._checker.close()
