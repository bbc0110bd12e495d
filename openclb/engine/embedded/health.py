"""The health checker: one timer probes every real server of every listener, as the CLB does.

Verdicts (``HealthState``, plain code, no sockets):
- A server goes Dead after UnHealthNum consecutive failed probes and back to Alive after
  HealthNum consecutive passes; any other result resets the opposite count.
- A new server is "Unknown" until its first probe completes, and the first result decides
  at once (pass → Alive, fail → Dead) so a server that was never up stops getting traffic
  after one probe, not three. While Unknown it *serves* (``is_healthy`` is True: traffic
  flows from the first second) but is *reported* unhealthy, as DescribeTargetHealth does
  (HealthStatus false for "not yet probed", HealthStatusDetail "Unknown").
- HealthSwitch off: no probes; every server serves and is reported HealthStatus true with
  detail "Close", the real API's word for "health check switched off". Switching it back on
  starts from Unknown again.
- Servers of listeners the checker was never told about serve (the engine decides).

Scheduling, built for ten thousand servers every five seconds at near-zero idle CPU:
- A probe is a ``ProbeSpec`` (address, probe port, kind, settings, interval); listeners
  whose servers need the same probe share one and each keeps its own ``HealthState``.
  PING probes ignore the port, so one echo serves every port of an address.
- One heap of (due, probe) and one ``loop.call_later`` handle drive everything: a probe's
  next launch and its in-flight attempt's deadline are both entries there. Each wake-up
  handles every entry due within a few milliseconds, so load is batched, and attempts are
  socket callbacks (see ``health_probes``), not tasks: their sockets wait in one private
  epoll that the loop watches as a single reader, so a TCP check costs five syscalls
  (socket, setsockopt, connect, epoll_ctl, close) and no loop handle.
- A probe's first launch is jittered uniformly over its interval; after that it runs at a
  fixed rate (launch + interval), never overlapping itself.
- At most ``max_in_flight`` attempts run at once (file descriptors are finite); due
  probes beyond that wait a moment.

``on_change(listener_id, ip, port, serves)`` is called when whether a server serves flips
(Alive/Unknown/Close ↔ Dead), after the verdict is recorded, so the engine may reschedule.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import random
import ssl
import time
from collections.abc import Callable
from enum import StrEnum
from functools import partial

from openclb.engine.contract import TargetHealth
from openclb.protocols import ListenerProtocol
from openclb.engine.spec import HealthCheckSpec, ListenerSpec, TargetSpec
from openclb.engine.embedded.health_grpc import rule_check
from openclb.engine.embedded.health_probes import ProbeKind, ProbeSpec, probe_spec_for
from openclb.engine.embedded.health_sockets import (
    Attempt,
    DatagramAttempt,
    IcmpPinger,
    ProbePoller,
    StreamAttempt,
    TlsAttempt,
)

log = logging.getLogger("openclb.engine.health")

_BATCH_WINDOW = 0.01
_BUSY_RETRY = 0.05
_MIN_INTERVAL = 0.05

OnChange = Callable[[str, str, int, bool], None]


class Verdict(StrEnum):
    UNKNOWN = "Unknown"
    ALIVE = "Alive"
    DEAD = "Dead"
    CLOSE = "Close"


# Read on every pick of a target: a module global, not ``Verdict.DEAD``, which Python 3.11 looks up
# through ``EnumType.__getattr__`` at about twice the cost of the whole ``serves`` read otherwise.
_DEAD = Verdict.DEAD


class HealthState:
    """The verdict on one server of one listener, moved only by probe results (sans-IO).

    ``record_*`` and ``switch_off`` return whether ``serves`` flipped.
    """

    __slots__ = ("healthy_threshold", "unhealthy_threshold", "verdict", "passes", "failures")

    def __init__(self, healthy_threshold: int = 3, unhealthy_threshold: int = 3) -> None:
        self.healthy_threshold = healthy_threshold
        self.unhealthy_threshold = unhealthy_threshold
        self.verdict = Verdict.UNKNOWN
        self.passes = 0
        self.failures = 0

    @property
    def serves(self) -> bool:
        """Whether new traffic may go to this server."""
        return self.verdict is not _DEAD

    @property
    def reported_healthy(self) -> bool:
        """HealthStatus as DescribeTargetHealth reports it."""
        return self.verdict in (Verdict.ALIVE, Verdict.CLOSE)

    def set_thresholds(self, healthy_threshold: int, unhealthy_threshold: int) -> None:
        self.healthy_threshold = healthy_threshold
        self.unhealthy_threshold = unhealthy_threshold

    def record_success(self) -> bool:
        if self.verdict is Verdict.CLOSE:
            return False
        self.failures = 0
        if self.verdict is Verdict.DEAD:
            self.passes += 1
            if self.passes < self.healthy_threshold:
                return False
        return self._become(Verdict.ALIVE)

    def record_failure(self) -> bool:
        if self.verdict is Verdict.CLOSE:
            return False
        self.passes = 0
        if self.verdict is Verdict.ALIVE:
            self.failures += 1
            if self.failures < self.unhealthy_threshold:
                return False
        return self._become(Verdict.DEAD)

    def switch_off(self) -> bool:
        return self._become(Verdict.CLOSE)

    def switch_on(self) -> None:
        if self.verdict is Verdict.CLOSE:
            self._become(Verdict.UNKNOWN)

    def _become(self, verdict: Verdict) -> bool:
        served = self.serves
        if verdict is not self.verdict:
            self.passes = self.failures = 0
        self.verdict = verdict
        return served != self.serves


class _Subscription:
    """One server of one listener: its verdict and the probe that feeds it."""

    __slots__ = ("listener_id", "ip", "port", "state", "probe")

    def __init__(self, listener_id: str, ip: str, port: int, state: HealthState) -> None:
        self.listener_id = listener_id
        self.ip = ip
        self.port = port
        self.state = state
        self.probe: _Probe | None = None


class _Probe:
    """One shared probe; ``token`` invalidates its stale heap entries."""

    __slots__ = ("spec", "subscribers", "attempt", "started_at", "token", "removed")

    def __init__(self, spec: ProbeSpec) -> None:
        self.spec = spec
        self.subscribers: set[_Subscription] = set()
        self.attempt: Attempt | None = None
        self.started_at = 0.0
        self.token = 0
        self.removed = False


class HealthChecker:
    """Probes the real servers of every listener it is told about; answers is_healthy in O(1)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        source_ip: str | None = None,
        on_change: OnChange | None = None,
        max_in_flight: int = 4096,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._source_ip = source_ip
        self._on_change = on_change
        self._max_in_flight = max_in_flight
        self._rng = rng or random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: dict[str, dict[tuple[str, int], _Subscription]] = {}
        self._probes: dict[ProbeSpec, _Probe] = {}
        self._heap: list[tuple[float, int, _Probe, int]] = []
        self._sequence = 0
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = math.inf
        self._draining = False
        self._in_flight = 0
        self._pinger: IcmpPinger | None = None
        self._poller: ProbePoller | None = None
        self._ssl_context: ssl.SSLContext | None = None
        self._grpcs_context: ssl.SSLContext | None = None
        self._closed = False

    @property
    def probe_count(self) -> int:
        """Distinct probes running (shared ones counted once)."""
        return len(self._probes)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._arm()

    def set_listener(
        self,
        listener_id: str,
        protocol: ListenerProtocol,
        targets: tuple[TargetSpec, ...],
        check: HealthCheckSpec,
    ) -> None:
        """Make ``listener_id`` check exactly ``targets`` with ``check``; verdicts of kept
        servers carry over, so re-applying the same listener changes nothing."""
        current = self._listeners.get(listener_id, {})
        wanted: dict[tuple[str, int], _Subscription] = {}
        flipped: list[_Subscription] = []
        for target in targets:
            address = (target.ip, target.port)
            if address in wanted:
                continue
            subscription = current.get(address) or _Subscription(
                listener_id, target.ip, target.port, HealthState()
            )
            subscription.state.set_thresholds(check.healthy_threshold, check.unhealthy_threshold)
            if check.enabled:
                subscription.state.switch_on()
                self._subscribe(subscription, probe_spec_for(protocol, target, check))
            else:
                self._subscribe(subscription, None)
                if subscription.state.switch_off():
                    flipped.append(subscription)
            wanted[address] = subscription
        for address, subscription in current.items():
            if address not in wanted:
                self._subscribe(subscription, None)
        self._listeners[listener_id] = wanted
        self._notify(flipped)

    def remove_listener(self, listener_id: str) -> None:
        for subscription in self._listeners.pop(listener_id, {}).values():
            self._subscribe(subscription, None)

    def is_healthy(self, listener_id: str, ip: str, port: int) -> bool:
        subscriptions = self._listeners.get(listener_id)
        if subscriptions is None:
            return True
        subscription = subscriptions.get((ip, port))
        return subscription is None or subscription.state.serves

    def snapshot(self, listener_id: str) -> list[TargetHealth]:
        return [
            TargetHealth(
                listener_id=listener_id,
                ip=subscription.ip,
                port=subscription.port,
                healthy=subscription.state.reported_healthy,
                detail=subscription.state.verdict.value,
            )
            for subscription in self._listeners.get(listener_id, {}).values()
        ]

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for probe in self._probes.values():
            self._stop(probe)
        self._probes.clear()
        self._listeners.clear()
        self._heap.clear()
        if self._pinger is not None:
            self._pinger.close()
            self._pinger = None
        if self._poller is not None:
            self._poller.close()
            self._poller = None

    def _subscribe(self, subscription: _Subscription, spec: ProbeSpec | None) -> None:
        """Move ``subscription`` to the probe for ``spec`` (None: no probe)."""
        old = subscription.probe
        if old is not None and old.spec == spec:
            return
        if old is not None:
            old.subscribers.discard(subscription)
            if not old.subscribers:
                self._stop(old)
                del self._probes[old.spec]
        subscription.probe = None
        if spec is None:
            return
        probe = self._probes.get(spec)
        if probe is None:
            probe = self._probes[spec] = _Probe(spec)
            self._schedule(probe, self._clock() + self._rng.uniform(0, spec.interval))
        probe.subscribers.add(subscription)
        subscription.probe = probe

    def _stop(self, probe: _Probe) -> None:
        probe.removed = True
        if probe.attempt is not None:
            probe.attempt.abort()
            probe.attempt = None
            self._in_flight -= 1

    def _schedule(self, probe: _Probe, due: float) -> None:
        probe.token += 1
        self._sequence += 1
        heapq.heappush(self._heap, (due, self._sequence, probe, probe.token))
        if not self._draining:
            self._arm()

    def _arm(self) -> None:
        """Keep the one timer set for the earliest heap entry."""
        if self._loop is None or self._closed or not self._heap:
            return
        due = self._heap[0][0]
        if self._timer is not None:
            if self._armed_for <= due:
                return
            self._timer.cancel()
        self._armed_for = due
        self._timer = self._loop.call_later(max(0.0, due - self._clock()), self._drain)

    def _drain(self) -> None:
        self._timer = None
        self._armed_for = math.inf
        self._draining = True
        try:
            now = self._clock()
            horizon = now + _BATCH_WINDOW
            while self._heap and self._heap[0][0] <= horizon:
                _due, _sequence, probe, token = heapq.heappop(self._heap)
                if probe.removed or token != probe.token:
                    continue
                if probe.attempt is None:
                    self._launch(probe, now)
                else:
                    self._expire(probe)
        finally:
            self._draining = False
            self._arm()

    def _launch(self, probe: _Probe, now: float) -> None:
        if self._in_flight >= self._max_in_flight:
            self._schedule(probe, now + _BUSY_RETRY)
            return
        probe.started_at = now
        attempt = self._attempt_for(probe)
        probe.attempt = attempt
        self._in_flight += 1
        self._schedule(probe, now + probe.spec.timeout)
        try:
            attempt.start()
        except Exception:
            log.exception("health: probe of %s:%s failed to start", probe.spec.ip, probe.spec.port)
            attempt.abort()
            self._loop.call_soon(self._on_result, probe, False)

    def _expire(self, probe: _Probe) -> None:
        attempt = probe.attempt
        attempt.abort()
        self._on_result(probe, attempt.verdict_on_timeout)

    def _on_result(self, probe: _Probe, ok: bool) -> None:
        if probe.removed or probe.attempt is None:
            return
        probe.attempt = None
        self._in_flight -= 1
        interval = max(probe.spec.interval, _MIN_INTERVAL)
        self._schedule(probe, max(probe.started_at + interval, self._clock()))
        record = HealthState.record_success if ok else HealthState.record_failure
        self._notify([s for s in probe.subscribers if record(s.state)])

    def _notify(self, flipped: list[_Subscription]) -> None:
        if self._on_change is None:
            return
        for subscription in flipped:
            try:
                self._on_change(
                    subscription.listener_id,
                    subscription.ip,
                    subscription.port,
                    subscription.state.serves,
                )
            except Exception:
                log.exception("health: on_change failed for %s", subscription.listener_id)

    def _attempt_for(self, probe: _Probe) -> Attempt:
        spec = probe.spec
        done = partial(self._on_result, probe)
        if spec.kind is ProbeKind.PING:
            return self._icmp_pinger().attempt(spec, done)
        if spec.kind is ProbeKind.HTTPS or spec.kind is ProbeKind.GRPCS:
            return TlsAttempt(self._loop, spec, self._source_ip, done, self._tls_context(spec.kind))
        if spec.kind is ProbeKind.CUSTOM_UDP:
            return DatagramAttempt(self._probe_poller(), spec, self._source_ip, done)
        return StreamAttempt(self._probe_poller(), spec, self._source_ip, done)

    def _probe_poller(self) -> ProbePoller:
        if self._poller is None:
            self._poller = ProbePoller(self._loop)
        return self._poller

    def _icmp_pinger(self) -> IcmpPinger:
        if self._pinger is None:
            self._pinger = IcmpPinger(self._loop, self._source_ip, self._rng.getrandbits(16))
        return self._pinger

    def _tls_context(self, kind: ProbeKind) -> ssl.SSLContext:
        if kind is ProbeKind.GRPCS:
            if self._grpcs_context is None:
                self._grpcs_context = ssl.create_default_context()
                self._grpcs_context.check_hostname = False
                self._grpcs_context.verify_mode = ssl.CERT_NONE
                self._grpcs_context.set_alpn_protocols(["h2"])
            return self._grpcs_context
        if self._ssl_context is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self._ssl_context = context
        return self._ssl_context


def watch_listener(checker: HealthChecker, spec: ListenerSpec, old: ListenerSpec | None = None) -> None:
    """Keep the checker's view of one listener (and of each of its rules, keyed by LocationId,
    as the control plane reads rule health) equal to its spec."""
    checker.set_listener(spec.listener_id, spec.protocol, spec.targets, spec.health_check)
    for rule in spec.rules:
        checker.set_listener(rule.location_id, spec.protocol, rule.targets, rule_check(rule))
    if old is not None:
        kept = {rule.location_id for rule in spec.rules}
        for rule in old.rules:
            if rule.location_id not in kept:
                checker.remove_listener(rule.location_id)


def unwatch_listener(checker: HealthChecker, spec: ListenerSpec) -> None:
    checker.remove_listener(spec.listener_id)
    for rule in spec.rules:
        checker.remove_listener(rule.location_id)
