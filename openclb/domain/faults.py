"""Injected faults: what a test suite asked to go wrong, for which account, and how often.

A ``FaultBook`` exists only on a server started with ``--faults`` (``Settings.fault_injection``).
Every fault belongs to one account (AppId) and only that account's calls meet it. Kinds:

- ``ApiError``: a CLB call of ``Action`` (every action when none is given) fails with the
  error ``Code`` before its handler runs, so nothing changes, as a throttled or busy call.
- ``ApiLatency``: such a call waits ``Seconds`` before it is handled.
- ``TaskFailure``: the task such a call starts waits ``Seconds`` (0 by default), then ends with
  Status 1 and ``Message``; its changes are rolled back like a task the engine refuses.
- ``TaskDelay``: the task stays at Status 2 for ``Seconds``, then is carried out as usual.
- ``TargetUnhealthy``: one real server is reported unhealthy by DescribeTargetHealth and gets
  no new connection until the fault is cleared (the engine wrapper, ``engine/faults.py``).
- Traffic faults on one listener (``ListenerKey``), carried out by the data plane itself
  (``engine/embedded/admission.py``): ``TrafficLatency`` delays every new connection (TCP) or
  request (HTTP/HTTPS) by ``Seconds``; ``TrafficReset`` resets new TCP connections at accept;
  ``DatagramDrop`` drops a UDP listener's datagrams. They take ``Count``, ``Probability`` and
  ``Seed`` too, counted and drawn in the data plane, which logs each event it meets.

The four event kinds fire on at most ``Count`` calls (None: until cleared) and, with
``Probability`` below 1, on that fraction of the calls they match, drawn from a generator seeded
with ``Seed`` when given, so a run can be repeated exactly. Every fault armed, fired and cleared
is logged (logger ``openclb.faults``, level WARNING). The book lives on the event loop: no locks.
"""

from __future__ import annotations

import itertools
import logging
import random
from dataclasses import dataclass, field
from enum import StrEnum

log = logging.getLogger("openclb.faults")


class FaultKind(StrEnum):
    API_ERROR = "ApiError"
    API_LATENCY = "ApiLatency"
    TASK_FAILURE = "TaskFailure"
    TASK_DELAY = "TaskDelay"
    TARGET_UNHEALTHY = "TargetUnhealthy"
    TRAFFIC_LATENCY = "TrafficLatency"
    TRAFFIC_RESET = "TrafficReset"
    DATAGRAM_DROP = "DatagramDrop"


CALL_KINDS = (FaultKind.API_ERROR, FaultKind.API_LATENCY)
TASK_KINDS = (FaultKind.TASK_FAILURE, FaultKind.TASK_DELAY)
TRAFFIC_KINDS = (FaultKind.TRAFFIC_LATENCY, FaultKind.TRAFFIC_RESET, FaultKind.DATAGRAM_DROP)
DEFAULT_TASK_MESSAGE = "The task failed (injected fault)."


@dataclass(frozen=True)
class TargetKey:
    """A real server of a CLB: ``group_id`` is its listener (L4) or its rule's LocationId (L7)."""

    load_balancer_id: str
    listener_id: str
    group_id: str
    ip: str
    port: int


@dataclass(frozen=True)
class ListenerKey:
    """The listener a traffic fault acts on."""

    load_balancer_id: str
    listener_id: str


@dataclass
class Fault:
    fault_id: str
    app_id: int
    kind: FaultKind
    action: str | None = None
    code: str = ""
    message: str = ""
    seconds: float = 0.0
    count: int | None = None
    probability: float = 1.0
    seed: int | None = None
    target: TargetKey | None = None
    listener: ListenerKey | None = None
    hits: int = 0
    _draw: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._draw = random.Random(self.seed)

    def matches(self, app_id: int, action: str) -> bool:
        return self.app_id == app_id and self.action in (None, action) and self.count != 0

    def fires(self) -> bool:
        """One matching event: True when the fault takes it (and is used up by one)."""
        if self.probability < 1.0 and self._draw.random() >= self.probability:
            return False
        self.hits += 1
        if self.count is not None:
            self.count -= 1
        return True


@dataclass(frozen=True)
class CallEffects:
    """What a CLB call meets before its handler: a wait, and perhaps an error (code, message)."""

    latency: float = 0.0
    error: tuple[str, str] | None = None


@dataclass(frozen=True)
class TaskFault:
    """What a task meets: ``hold`` seconds at Status 2, then ``fail_message`` (Status 1) or its work."""

    fault_id: str
    hold: float
    fail_message: str | None


class FaultBook:
    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._calls: dict[str, tuple[int, str]] = {}
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        self._faults[fault.fault_id] = fault
        log.warning("fault armed", extra=_fields(fault))
        return fault

    def new_id(self) -> str:
        return f"fault-{next(self._ids):08d}"

    def faults(self, app_id: int) -> list[Fault]:
        return [f for f in self._faults.values() if f.app_id == app_id]

    def clear(self, app_id: int | None, fault_ids: list[str] | None = None) -> list[Fault]:
        """Remove the account's faults (every account's with ``app_id`` None), or only ``fault_ids``."""
        gone = [f for f in self._faults.values()
                if (app_id is None or f.app_id == app_id) and (not fault_ids or f.fault_id in fault_ids)]
        for fault in gone:
            del self._faults[fault.fault_id]
        if gone:
            log.warning("faults cleared", extra={"account": app_id, "fault_ids": [f.fault_id for f in gone]})
        return gone

    def unhealthy_targets(self, load_balancer_id: str) -> frozenset[TargetKey]:
        return frozenset(f.target for f in self._faults.values()
                         if f.kind is FaultKind.TARGET_UNHEALTHY and f.target is not None
                         and f.target.load_balancer_id == load_balancer_id)

    def traffic_faults(self, load_balancer_id: str) -> list[Fault]:
        """The traffic faults armed on the listeners of ``load_balancer_id``."""
        return [f for f in self._faults.values() if f.kind in TRAFFIC_KINDS and f.listener is not None
                and f.listener.load_balancer_id == load_balancer_id]

    def begin_call(self, app_id: int, action: str, request_id: str) -> CallEffects:
        """The faults a CLB call meets; the call is remembered until ``end_call`` for its task."""
        latency, error = 0.0, None
        for fault in list(self._faults.values()):
            if fault.kind not in CALL_KINDS or not fault.matches(app_id, action):
                continue
            if fault.kind is FaultKind.API_ERROR and error is not None:
                continue
            if not fault.fires():
                continue
            _fired(fault, request_id, action)
            if fault.kind is FaultKind.API_LATENCY:
                latency += fault.seconds
            else:
                error = (fault.code, fault.message)
        if error is None:
            self._calls[request_id] = (app_id, action)
        return CallEffects(latency, error)

    def end_call(self, request_id: str) -> None:
        self._calls.pop(request_id, None)

    def task_fault(self, task_id: str) -> TaskFault | None:
        """The fault the task started by call ``task_id`` (its RequestId) meets, if any."""
        call = self._calls.get(task_id)
        if call is None:
            return None
        app_id, action = call
        for fault in list(self._faults.values()):
            if fault.kind in TASK_KINDS and fault.matches(app_id, action) and fault.fires():
                _fired(fault, task_id, action)
                failure = (fault.message or DEFAULT_TASK_MESSAGE) if fault.kind is FaultKind.TASK_FAILURE else None
                return TaskFault(fault.fault_id, fault.seconds, failure)
        return None


def _fields(fault: Fault) -> dict:
    extra = {"fault_id": fault.fault_id, "account": fault.app_id, "kind": str(fault.kind), "action": fault.action,
             "code": fault.code or None, "count": fault.count, "probability": fault.probability,
             "seconds": fault.seconds}
    if fault.target is not None:
        extra["target"] = f"{fault.target.group_id}/{fault.target.ip}:{fault.target.port}"
    if fault.listener is not None:
        extra["listener_id"] = fault.listener.listener_id
    return extra


def _fired(fault: Fault, request_id: str, action: str) -> None:
    log.warning("fault injected", extra={**_fields(fault), "request_id": request_id, "action": action,
                                         "left": fault.count})
