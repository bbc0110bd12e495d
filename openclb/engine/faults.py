"""Fault injection: an engine that refuses what it is told to refuse, and serves the rest.

``FaultInjectingEngine`` wraps a real engine. While a listener id is armed, an ``apply`` whose
state holds that listener is refused as a whole, the way a real engine refuses a state it
cannot load (a certificate OpenSSL rejects, a port taken between create and modify): the
real engine is not called, so the data plane keeps serving what it served, and the listener
is reported failed with the armed message. Each arming refuses one apply. ``delay_next_apply``
holds the next apply for a while before it goes through (a slow reload, a task caught by a
database outage). It exists for test suites (``Settings.fault_injection``); nothing in the control plane knows it is there.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from openclb.engine.contract import ApplyResult, Engine, EngineError
from openclb.engine.spec import LoadBalancerState


class FaultInjectingEngine:
    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self._armed: Counter[str] = Counter()
        self._messages: dict[str, str] = {}
        self._delays: list[float] = []

    def refuse_next_apply(self, listener_id: str, message: str = "The engine refused the change (injected fault).") -> None:
        self._armed[listener_id] += 1
        self._messages[listener_id] = message

    def delay_next_apply(self, seconds: float) -> None:
        self._delays.append(seconds)

    async def apply(self, state: LoadBalancerState) -> ApplyResult:
        if self._delays:
            await asyncio.sleep(self._delays.pop(0))
        refused = [spec.listener_id for spec in state.listeners if self._armed[spec.listener_id] > 0]
        if not refused:
            return await self.inner.apply(state)
        for listener_id in refused:
            self._armed[listener_id] -= 1
        return ApplyResult({listener_id: EngineError(self._messages[listener_id], "injected fault")
                            for listener_id in refused})

    def __getattr__(self, name: str):
        return getattr(self.inner, name)
