"""Fault injection: an engine that refuses, holds or sidelines what it is told to, and serves the rest.

``FaultInjectingEngine`` wraps a real engine (``--faults``, ``Settings.fault_injection``); nothing
in the control plane knows it is there.

- Refusals: while a listener id is armed (``refuse_next_apply``), an ``apply`` whose state holds
  that listener is refused as a whole, the way a real engine refuses a state it cannot load (a
  certificate OpenSSL rejects, a port taken between create and modify): the real engine is not
  called, so the data plane keeps serving what it served, and the listener is reported failed
  with the armed message. Each arming refuses one apply.
- ``delay_next_apply`` holds the next apply for a while before it goes through (a slow reload,
  a task caught by a database outage).
- Unhealthy targets (``set_unhealthy``): the real servers named are handed to the real engine
  with weight 0, so they get no new connection (established ones carry on), and ``health``
  reports them unhealthy (``Dead``) whatever the real checks say. The wrapper keeps the last
  state it handed on for each CLB, so a change of the set applies at once; ``remove`` forgets
  both. Keys are ``(group_id, ip, port)``: group_id is the listener id, or the rule's
  LocationId on HTTP/HTTPS listeners, as in ``TargetHealth``.

Traffic faults (``set_traffic_faults``): ``TrafficFaultSpec`` objects put on the named listeners
of the state handed on, for an engine that carries them out (``supports_traffic_faults``: the
embedded engine; HAProxy has no seeded draws or counts per fault, so it is refused).

Applies of one CLB go through the wrapper one at a time, so the last state asked for is the
one served.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

from openclb.engine.contract import ApplyResult, Engine, EngineError, TargetHealth
from openclb.engine.spec import LoadBalancerState, TargetSpec, TrafficFaultSpec

TargetKey = tuple[str, str, int]


class FaultInjectingEngine:
    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self._armed: Counter[str] = Counter()
        self._messages: dict[str, str] = {}
        self._delays: list[float] = []
        self._states: dict[str, LoadBalancerState] = {}
        self._unhealthy: dict[str, frozenset[TargetKey]] = {}
        self._traffic: dict[str, dict[str, tuple[TrafficFaultSpec, ...]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def refuse_next_apply(self, listener_id: str, message: str = "The engine refused the change (injected fault).") -> None:
        self._armed[listener_id] += 1
        self._messages[listener_id] = message

    def delay_next_apply(self, seconds: float) -> None:
        self._delays.append(seconds)

    def _lock(self, load_balancer_id: str) -> asyncio.Lock:
        return self._locks.setdefault(load_balancer_id, asyncio.Lock())

    async def apply(self, state: LoadBalancerState) -> ApplyResult:
        async with self._lock(state.load_balancer_id):
            if self._delays:
                await asyncio.sleep(self._delays.pop(0))
            refused = [spec.listener_id for spec in state.listeners if self._armed[spec.listener_id] > 0]
            if not refused:
                self._states[state.load_balancer_id] = state
                return await self.inner.apply(self._sidelined(state))
            for listener_id in refused:
                self._armed[listener_id] -= 1
            return ApplyResult({listener_id: EngineError(self._messages[listener_id], "injected fault")
                                for listener_id in refused})

    async def remove(self, load_balancer_id: str) -> None:
        async with self._lock(load_balancer_id):
            self._states.pop(load_balancer_id, None)
            self._unhealthy.pop(load_balancer_id, None)
            self._traffic.pop(load_balancer_id, None)
            await self.inner.remove(load_balancer_id)

    async def set_unhealthy(self, load_balancer_id: str, targets: frozenset[TargetKey]) -> None:
        """Sideline exactly ``targets`` of one CLB (an empty set restores them); applied at once."""
        async with self._lock(load_balancer_id):
            if targets:
                self._unhealthy[load_balancer_id] = frozenset(targets)
            else:
                self._unhealthy.pop(load_balancer_id, None)
            state = self._states.get(load_balancer_id)
            if state is not None:
                await self.inner.apply(self._sidelined(state))

    @property
    def supports_traffic_faults(self) -> bool:
        return bool(getattr(self.inner, "supports_traffic_faults", False))

    async def set_traffic_faults(self, load_balancer_id: str,
                                 faults: dict[str, tuple[TrafficFaultSpec, ...]]) -> None:
        """Put exactly ``faults`` (by listener id) on one CLB's listeners; applied at once."""
        async with self._lock(load_balancer_id):
            if faults:
                self._traffic[load_balancer_id] = dict(faults)
            else:
                self._traffic.pop(load_balancer_id, None)
            state = self._states.get(load_balancer_id)
            if state is not None:
                await self.inner.apply(self._sidelined(state))

    def traffic_fault_hits(self) -> dict[str, int]:
        """How many events each traffic fault has taken in the data plane, by fault id."""
        hits = getattr(self.inner, "traffic_fault_hits", None)
        return hits() if hits is not None else {}

    def _sidelined(self, state: LoadBalancerState) -> LoadBalancerState:
        """``state`` with the unhealthy targets at weight 0 and the traffic faults on their listeners."""
        traffic = self._traffic.get(state.load_balancer_id)
        if traffic:
            state = replace(state, listeners=tuple(
                replace(spec, traffic_faults=traffic[spec.listener_id]) if spec.listener_id in traffic else spec
                for spec in state.listeners))
        keys = self._unhealthy.get(state.load_balancer_id)
        if not keys:
            return state

        def weighed(group_id: str, targets: tuple[TargetSpec, ...]) -> tuple[TargetSpec, ...]:
            return tuple(replace(t, weight=0) if (group_id, t.ip, t.port) in keys else t for t in targets)

        listeners = tuple(
            replace(spec, targets=weighed(spec.listener_id, spec.targets),
                    rules=tuple(replace(rule, targets=weighed(rule.location_id, rule.targets)) for rule in spec.rules))
            for spec in state.listeners
        )
        return replace(state, listeners=listeners)

    async def health(self, load_balancer_id: str) -> list[TargetHealth]:
        report = await self.inner.health(load_balancer_id)
        keys = self._unhealthy.get(load_balancer_id)
        state = self._states.get(load_balancer_id)
        if not keys or state is None:
            return report
        served = {(group_id, t.ip, t.port) for group_id, targets in _groups(state) for t in targets}
        sidelined = sorted(keys & served)
        kept = [h for h in report if (h.listener_id, h.ip, h.port) not in keys]
        return kept + [TargetHealth(group_id, ip, port, False, "Dead") for group_id, ip, port in sidelined]

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def _groups(state: LoadBalancerState):
    for spec in state.listeners:
        yield spec.listener_id, spec.targets
        for rule in spec.rules:
            yield rule.location_id, rule.targets
