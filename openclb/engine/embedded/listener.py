"""What every embedded listener shares: targets, scheduling, limits, counters, the sweep.

A listener is one ``ListenerSpec`` serving on one VIP, over one socket per port of its range.
Its spec can be replaced in place (``update``) without touching its sockets or its
established connections: targets keep their counters, new connections see the new weights,
scheduler and limits at once. Removing a target leaves its connections running unless the
spec says ``deregister_target_rst``, in which case they are reset.

Per-connection bookkeeping is kept off the hot path: relays bump plain int attributes and
set a ``busy`` flag; a coarse periodic sweep turns ``busy`` into idle times, closes what idled
past ``idle_timeout``, and refreshes and prunes session pins. There is never one timer per
connection, nor one per listener: the engine's one ``Sweeper`` sweeps every listener due, and
skips those with nothing to sweep (thousands of idle listeners cost one wake-up a second).

Every admitted connection is also counted against the engine's ``DescriptorBudget``
(``descriptors_per_connection`` each, from ``opened``/``accepted`` to ``closed``/``released``);
``admit`` refuses a new one that would not fit, as it refuses one over MaxConn.

A tracked connection (a TCP relay or a UDP flow) is any object with the attributes
``client_ip``, ``target``, ``busy``, ``idle_since``, ``bytes_in``, ``bytes_out`` and the
methods ``close()`` (graceful) and ``abort()`` (reset); bytes_in flows client → target.
A connection counted with ``opened`` has one target for life (``closed`` ends it); an HTTP
client connection reaches a target per request, so it is counted with ``accepted`` and
``released`` and its ``target`` is only the current request's (or None).

Stopping is two steps: ``stop_accepting`` closes every port at once (and refuses any
connection still completing its TLS handshake), then ``drain(grace)`` lets the established
connections end by themselves for at most ``grace`` seconds and aborts what is left. The
drain looks every ``DRAIN_CHECK_INTERVAL`` seconds whether it is done (``drained``), so
nothing is added to a connection's own path for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openclb.engine.spec import ListenerSpec
from openclb.engine.embedded.admission import Admission, TrafficFaults, reset_on_close
from openclb.engine.embedded.access_log import AccessLogBook, connection_entry, connection_start
from openclb.engine.embedded.balancer import Balancer, SessionTable, TargetState, TokenBucket
from openclb.engine.embedded.descriptors import DescriptorBudget

log = logging.getLogger("openclb.engine.listener")

HealthView = Callable[[str, str, int], bool]

MAX_SWEEP_INTERVAL = 1.0
MIN_SWEEP_INTERVAL = 0.05
DRAIN_CHECK_INTERVAL = 0.05
_NO_SOURCE: dict = {}


def always_healthy(listener_id: str, ip: str, port: int) -> bool:
    return True


class Sweeper:
    """The one timer that sweeps every listener of an engine.

    Listeners are grouped by sweep interval and each group is swept at its own fixed rate,
    so a listener is swept as often as it was with a timer of its own, while thousands of
    listeners share one wake-up per interval. A listener with nothing to sweep (see
    ``ListenerCore.needs_sweep``) is skipped. The timer runs only while listeners are held.
    """

    def __init__(self) -> None:
        self._interval_of: dict[ListenerCore, float] = {}
        self._groups: dict[float, set[ListenerCore]] = {}
        self._due: dict[float, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = math.inf

    def __len__(self) -> int:
        return len(self._interval_of)

    def add(self, listener: ListenerCore) -> None:
        """Sweep ``listener`` from now on (again: at the interval its current spec asks)."""
        interval = listener.sweep_interval()
        current = self._interval_of.get(listener)
        if current == interval:
            return
        if current is not None:
            self._leave(listener, current)
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._interval_of[listener] = interval
        group = self._groups.get(interval)
        if group is None:
            group = self._groups[interval] = set()
            self._due[interval] = time.monotonic() + interval
        group.add(listener)
        self._arm()

    def interval_of(self, listener: ListenerCore) -> float | None:
        """The interval ``listener`` is swept at; None when it is not being swept."""
        return self._interval_of.get(listener)

    def update(self, listener: ListenerCore) -> None:
        """Follow a change of ``listener``'s sweep interval, if it is being swept."""
        if listener in self._interval_of:
            self.add(listener)

    def remove(self, listener: ListenerCore) -> None:
        interval = self._interval_of.pop(listener, None)
        if interval is not None:
            self._leave(listener, interval)
        if not self._interval_of:
            self._cancel()
            self._loop = None

    def _leave(self, listener: ListenerCore, interval: float) -> None:
        group = self._groups[interval]
        group.discard(listener)
        if not group:
            del self._groups[interval]
            del self._due[interval]

    def _arm(self) -> None:
        if not self._due:
            self._cancel()
            return
        due = min(self._due.values())
        if self._timer is not None and self._armed_for <= due:
            return
        self._cancel()
        self._armed_for = due
        self._timer = self._loop.call_later(max(0.0, due - time.monotonic()), self._fire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_for = math.inf

    def _fire(self) -> None:
        self._timer = None
        self._armed_for = math.inf
        now = time.monotonic()
        for interval, due in list(self._due.items()):
            group = self._groups.get(interval)
            if due > now or group is None:
                continue
            self._due[interval] = due + interval if due + interval > now else now + interval
            for listener in list(group):
                if listener.needs_sweep():
                    try:
                        listener.sweep(now)
                    except Exception:
                        log.exception("sweep of listener %s failed", listener.listener_id)
        self._arm()


@dataclass(frozen=True)
class ListenerSettings:
    """Engine-wide knobs every listener reads; set once on the engine's constructor.

    ``sweeper``, ``descriptors`` and ``access_logs`` are not knobs but the engine's shared sweep
    timer, descriptor budget and access logs, carried here because this is what every listener
    is given.
    """

    health_view: HealthView = always_healthy
    backlog: int = 1024
    connect_timeout: float = 5.0
    connect_attempts: int = 3
    max_udp_flows: int = 10_000
    quic_short_cid_length: int = 8
    max_session_entries: int = 100_000
    sweeper: Sweeper = field(default_factory=Sweeper, compare=False, repr=False)
    descriptors: DescriptorBudget = field(default_factory=DescriptorBudget, compare=False, repr=False)
    access_logs: AccessLogBook = field(default_factory=AccessLogBook, compare=False, repr=False)


class ListenerCore:
    """Run-time state of one listener, independent of TCP or UDP."""

    kind = "?"
    # What one connection holds of the descriptor budget (see descriptors.py).
    descriptors_per_connection = 2
    # Whether this class extends ``sweep`` without overriding ``needs_sweep`` to say when
    # that has work: such a class is swept every time. Set for each subclass as it is defined.
    always_swept = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.always_swept = (
            cls.sweep is not ListenerCore.sweep and cls.needs_sweep is ListenerCore.needs_sweep
        )

    def __init__(self, load_balancer_id: str, vip: str, spec: ListenerSpec, settings: ListenerSettings) -> None:
        self.load_balancer_id = load_balancer_id
        self.vip = vip
        self.spec = spec
        self.settings = settings
        self.budget = settings.descriptors
        self.targets: dict[tuple[str, int], TargetState] = {}
        self.balancer = Balancer(spec.scheduler, self._is_healthy)
        self.bucket: TokenBucket | None = None
        self.connections: set = set()
        self.accepting = True
        self.total = 0
        self.dropped = 0
        self.closed_bytes_in = 0
        self.closed_bytes_out = 0
        self.admission: Admission | None = None
        self.faults: TrafficFaults | None = None
        self.screening = False
        # While the CLB is logged: the log, and when (and from where) each connection began.
        self.access_log = None
        self.log_starts: dict = {}
        self._configure(spec)

    @property
    def listener_id(self) -> str:
        return self.spec.listener_id

    def _is_healthy(self, target: TargetState) -> bool:
        return self.settings.health_view(self.spec.listener_id, target.ip, target.port)

    # -- spec -------------------------------------------------------------------------

    def update(self, spec: ListenerSpec) -> None:
        """Serve ``spec`` from now on, keeping sockets and established connections."""
        if spec != self.spec:
            self._configure(spec)

    def _configure(self, spec: ListenerSpec) -> None:
        old = self.spec
        self.spec = spec
        self._set_targets(spec)
        self.access_log = self.settings.access_logs.log_for(spec.access_log)
        if self.access_log is None:
            self.log_starts.clear()
        self.balancer.scheduler = spec.scheduler
        if spec.session_expire_time > 0:
            sessions = self.balancer.sessions
            if sessions is None:
                self.balancer.sessions = SessionTable(spec.session_expire_time, self.settings.max_session_entries)
            else:
                sessions.expire_seconds = spec.session_expire_time
        else:
            self.balancer.sessions = None
        if spec.max_cps > 0:
            if self.bucket is None or old.max_cps != spec.max_cps:
                self.bucket = TokenBucket(spec.max_cps, time.monotonic())
        else:
            self.bucket = None
        self._configure_admission(spec)
        self.settings.sweeper.update(self)

    def _configure_admission(self, spec: ListenerSpec) -> None:
        """Compile the spec's admission and traffic faults; ``screening`` says whether either applies."""
        if self.admission is None or self.admission.spec != spec.admission:
            l7 = spec.protocol in ("HTTP", "HTTPS")
            admission = Admission(spec.admission, "UDP" if spec.protocol.is_datagram else "TCP", l7)
            self.admission = admission if admission.active else None
        if spec.traffic_faults or self.faults is not None:
            faults = self.faults or TrafficFaults(spec.listener_id)
            faults.configure(spec.traffic_faults)
            self.faults = faults if faults else None
        self.screening = self.admission is not None or self.faults is not None

    def _set_targets(self, spec: ListenerSpec) -> None:
        wanted: dict[tuple[str, int], TargetState] = {}
        for target_spec in spec.targets:
            key = (target_spec.ip, target_spec.port)
            state = wanted.get(key) or self.targets.get(key) or TargetState(target_spec.ip, target_spec.port, target_spec.weight)
            state.weight = target_spec.weight
            wanted[key] = state
        for key, state in self.targets.items():
            if key in wanted:
                continue
            state.removed = True
            if spec.deregister_target_rst:
                for connection in list(state.connections):
                    connection.abort()
        self.targets = wanted
        self.balancer.set_targets(wanted.values())

    # -- admission and accounting -------------------------------------------------------

    def admit(self, now: float) -> bool:
        """Whether a new connection may start now: accepting, under max_conn, within the
        descriptor budget and under max_cps."""
        if not self.accepting:
            return False
        max_conn = self.spec.max_conn
        if max_conn > 0 and len(self.connections) >= max_conn:
            self.dropped += 1
            return False
        if not self.budget.admits(self.descriptors_per_connection):
            self.dropped += 1
            return False
        if self.bucket is not None and not self.bucket.take(now):
            self.dropped += 1
            return False
        return True

    def screen(self, transport) -> bool:
        """Whether a new stream connection passes the security groups, the block list (L4) and
        injected resets; a refused one is counted and left for the caller to abort."""
        admission = self.admission
        if admission is not None:
            peer = transport.get_extra_info("peername")
            local = transport.get_extra_info("sockname")
            if not admission.connection(transport, peer[0] if peer else "", local[1] if local else 0):
                self.dropped += 1
                return False
        if self.faults is not None and self.faults.resets():
            reset_on_close(transport)
            return False
        return True

    def pick(self, client_ip: str, now: float, exclude=()) -> TargetState | None:
        return self.balancer.pick(client_ip, now, exclude)

    def opened(self, connection, target: TargetState) -> None:
        self.connections.add(connection)
        self.budget.used += self.descriptors_per_connection
        self.total += 1
        target.active += 1
        target.total += 1
        target.connections.add(connection)
        if self.access_log is not None:
            self.log_starts[connection] = connection_start(connection)

    def accepted(self, connection) -> None:
        """Count a connection that is not tied to one target (an HTTP client connection)."""
        self.connections.add(connection)
        self.budget.used += self.descriptors_per_connection
        self.total += 1

    def released(self, connection) -> None:
        """The end of a connection counted with ``accepted``."""
        if connection not in self.connections:
            return
        self.connections.discard(connection)
        self.budget.release(self.descriptors_per_connection)
        self.closed_bytes_in += connection.bytes_in
        self.closed_bytes_out += connection.bytes_out

    def retarget(self, connection, old: TargetState, new: TargetState) -> None:
        """Move a connection that is not yet established to another target (connect retry)."""
        old.active -= 1
        old.connections.discard(connection)
        new.active += 1
        new.total += 1
        new.connections.add(connection)

    def closed(self, connection) -> None:
        if connection not in self.connections:
            return
        self.connections.discard(connection)
        self.budget.release(self.descriptors_per_connection)
        target = connection.target
        target.active -= 1
        target.connections.discard(connection)
        target.bytes_in += connection.bytes_in
        target.bytes_out += connection.bytes_out
        self.closed_bytes_in += connection.bytes_in
        self.closed_bytes_out += connection.bytes_out
        sessions = self.balancer.sessions
        if sessions is not None:
            sessions.refresh(connection.client_ip, target, time.monotonic())
        if self.access_log is not None:
            start = self.log_starts.pop(connection, None)
            if start is not None:
                self.access_log.record(connection_entry(self, connection, start))

    # -- the sweep --------------------------------------------------------------------

    def start_sweeping(self) -> None:
        self.settings.sweeper.add(self)

    def stop_sweeping(self) -> None:
        self.settings.sweeper.remove(self)

    def sweep_interval(self) -> float:
        spans = [s for s in (self.spec.idle_timeout, self.spec.session_expire_time) if s > 0]
        if not spans:
            return MAX_SWEEP_INTERVAL
        return max(MIN_SWEEP_INTERVAL, min(MAX_SWEEP_INTERVAL, min(spans) / 4))

    def needs_sweep(self) -> bool:
        """Whether ``sweep`` has anything to do: connections to watch or session pins to
        prune. A subclass whose ``sweep`` tends state of its own overrides this as well;
        one that does not is swept every time."""
        if self.connections or self.always_swept:
            return True
        sessions = self.balancer.sessions
        return sessions is not None and len(sessions) > 0

    def sweep(self, now: float) -> None:
        """Turn activity flags into idle times, close idle connections, prune pins."""
        idle_timeout = self.spec.idle_timeout
        sessions = self.balancer.sessions
        for connection in list(self.connections):
            if connection.busy:
                connection.busy = False
                connection.idle_since = now
                if sessions is not None:
                    sessions.refresh(connection.client_ip, connection.target, now)
            elif idle_timeout > 0 and now - connection.idle_since >= idle_timeout:
                connection.close()
        if sessions is not None:
            sessions.prune(now)

    # -- reporting and shutdown -------------------------------------------------------

    async def stop_accepting(self) -> None:
        """Close every port of this listener; established connections are left running."""
        self.accepting = False
        self.stop_sweeping()

    def finish_connections(self) -> None:
        """Ask established connections to end as soon as they are done (a drain begins).

        A plain relay has no notion of "done" but its peers closing it; HTTP sessions do.
        """

    def drained(self) -> bool:
        """Whether a drain has nothing left to wait for: every connection has ended."""
        return not self.connections

    async def drain(self, grace: float) -> None:
        """Give established connections ``grace`` seconds to end, then abort the rest."""
        self.finish_connections()
        deadline = time.monotonic() + grace
        try:
            while not self.drained():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await asyncio.sleep(min(left, DRAIN_CHECK_INTERVAL))
        finally:
            self.abort_connections()

    def abort_connections(self) -> None:
        for connection in list(self.connections):
            connection.abort()

    def stats(self) -> dict:
        """Counters of this listener and of each of its targets (live connections included)."""
        live_in = live_out = 0
        for connection in self.connections:
            live_in += connection.bytes_in
            live_out += connection.bytes_out
        targets = []
        for target in self.targets.values():
            target_in, target_out = target.bytes_in, target.bytes_out
            for connection in target.connections:
                target_in += connection.bytes_in
                target_out += connection.bytes_out
            targets.append({
                "ip": target.ip, "port": target.port, "weight": target.weight,
                "active": target.active, "total": target.total,
                "bytes_in": target_in, "bytes_out": target_out,
            })
        return {
            "protocol": str(self.spec.protocol), "vip": self.vip,
            "port": self.spec.port, "end_port": self.spec.end_port,
            "active": len(self.connections), "total": self.total, "dropped": self.dropped,
            "bytes_in": self.closed_bytes_in + live_in, "bytes_out": self.closed_bytes_out + live_out,
            "targets": targets,
        }

    def upstream_source(self, client_ip: str) -> dict:
        """``create_connection``'s ``local_addr`` towards targets: the CLB's SNAT IP for this
        client (one per client, spread by hash), or nothing (the host picks the address)."""
        ips = self.spec.source_ips
        if not ips:
            return _NO_SOURCE
        return {"local_addr": (ips[hash(client_ip) % len(ips)], 0)}

    def target_port(self, target: TargetState, listen_port: int) -> int:
        """A port-range listener maps its Nth port to the target's port + N (CLB behaviour)."""
        return target.port + (listen_port - self.spec.port)
