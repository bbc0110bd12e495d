"""What an InjectFault call may ask for: each kind takes its own members and no other.

- ``ApiError``: ``Code`` (required; a code openclb knows, ``openclb/errors.py``), ``Message``.
- ``ApiLatency``: ``Seconds`` (required, above 0).
- ``TaskFailure``: ``Seconds`` (the time at Status 2 before failing, default 0), ``Message``.
- ``TaskDelay``: ``Seconds`` (required, above 0).
- These four take ``Action`` (an action openclb implements; none: every CLB action), ``Count``
  (1 or more; none: until cleared), ``Probability`` (above 0, at most 1; default 1) and ``Seed``.
- ``TargetUnhealthy``: ``LoadBalancerId``, ``ListenerId``, ``Ip``, ``Port`` (required) and
  ``LocationId`` (required on HTTP/HTTPS listeners): a real server registered there.
- ``TrafficLatency`` (``Seconds`` required), ``TrafficReset`` and ``DatagramDrop``:
  ``LoadBalancerId`` and ``ListenerId`` (required), ``Count``, ``Probability``, ``Seed``.
  Latency and resets act on TCP, TCP_SSL, HTTP and HTTPS listeners, drops on UDP listeners.
A member given to a kind that does not take it is ``InvalidParameterCombination``; Seconds are
at most 600, messages up to 255 characters.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from openclb import errors
from openclb.domain.faults import Fault, FaultKind
from openclb.resources.shared import checks as rules

MAX_SECONDS = 600.0
_EVENT = ("action", "count", "probability", "seed")
_TARGET = ("load_balancer_id", "listener_id", "location_id", "ip", "port")
_TRAFFIC = ("load_balancer_id", "listener_id", "count", "probability", "seed")
_TAKES = {
    FaultKind.API_ERROR: ("code", "message", *_EVENT),
    FaultKind.API_LATENCY: ("seconds", *_EVENT),
    FaultKind.TASK_FAILURE: ("seconds", "message", *_EVENT),
    FaultKind.TASK_DELAY: ("seconds", *_EVENT),
    FaultKind.TARGET_UNHEALTHY: _TARGET,
    FaultKind.TRAFFIC_LATENCY: ("seconds", *_TRAFFIC),
    FaultKind.TRAFFIC_RESET: _TRAFFIC,
    FaultKind.DATAGRAM_DROP: _TRAFFIC,
}
_WIRE = {"load_balancer_id": "LoadBalancerId", "listener_id": "ListenerId", "location_id": "LocationId", "ip": "Ip"}


def wire(name: str) -> str:
    return _WIRE.get(name, name.title())


def fault_kind(params: dict[str, Any]) -> FaultKind:
    kind = params["kind"]
    rules.check_enum("Kind", kind, tuple(FaultKind))
    kind = FaultKind(kind)
    for name, value in params.items():
        if name != "kind" and value is not None and name not in _TAKES[kind]:
            raise errors.InvalidParameterCombination(f"`{wire(name)}` does not apply to a {kind} fault.")
    return kind


def _seconds(params: dict[str, Any], required: bool) -> float:
    seconds = params.get("seconds")
    if seconds is None:
        if required:
            raise errors.MissingParameter("The request is missing a required parameter `Seconds`.")
        return 0.0
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise errors.InvalidParameterValueRange(f"`Seconds` must be above 0 and at most {MAX_SECONDS:g}.")
    return float(seconds)


def event_fault(params: dict[str, Any], kind: FaultKind, app_id: int, fault_id: str, actions: frozenset[str]) -> Fault:
    """An ApiError, ApiLatency, TaskFailure or TaskDelay fault from InjectFault's parameters."""
    action = params.get("action")
    if action is not None and action not in actions:
        raise errors.InvalidParameterValue(f"`Action` {action} is not a CLB action openclb implements.")
    count, probability = _draws(params)
    message = params.get("message") or ""
    rules.check_free_text("Message", message, 255)
    code = ""
    if kind is FaultKind.API_ERROR:
        code = params.get("code") or ""
        if not code:
            raise errors.MissingParameter("The request is missing a required parameter `Code`.")
        if errors.by_code(code) is None:
            raise errors.InvalidParameterValue(f"`Code` {code} is not an error code openclb knows (openclb/errors.py).")
    seconds = _seconds(params, kind in (FaultKind.API_LATENCY, FaultKind.TASK_DELAY))
    return Fault(fault_id, app_id, kind, action=action, code=code, message=message, seconds=seconds, count=count,
                 probability=float(probability), seed=params.get("seed"))


def _draws(params: dict[str, Any]) -> tuple[int | None, float]:
    """``Count`` (1 or more, or none) and ``Probability`` (above 0, at most 1; default 1)."""
    count = params.get("count")
    rules.check_range("Count", count, 1, 2**31)
    probability = params.get("probability", 1.0)
    if not (math.isfinite(probability) and 0 < probability <= 1):
        raise errors.InvalidParameterValueRange("`Probability` must be above 0 and at most 1.")
    return count, float(probability)


def traffic_fault(params: dict[str, Any], kind: FaultKind, app_id: int, fault_id: str) -> Fault:
    """A TrafficLatency, TrafficReset or DatagramDrop fault (its listener is set by the caller)."""
    for name in ("load_balancer_id", "listener_id"):
        if params.get(name) is None:
            raise errors.MissingParameter(f"The request is missing a required parameter `{wire(name)}`.")
    count, probability = _draws(params)
    seconds = _seconds(params, kind is FaultKind.TRAFFIC_LATENCY)
    return Fault(fault_id, app_id, kind, seconds=seconds, count=count, probability=probability,
                 seed=params.get("seed"))


def traffic_fault_protocol(kind: FaultKind, protocol: str) -> None:
    """Drops act on datagram listeners (UDP), latency and resets on stream listeners."""
    datagram = protocol in ("UDP", "QUIC")
    if (kind is FaultKind.DATAGRAM_DROP) != datagram:
        wanted = "UDP" if kind is FaultKind.DATAGRAM_DROP else "TCP, TCP_SSL, HTTP or HTTPS"
        raise errors.InvalidParameterValue(f"A {kind} fault acts on {wanted} listeners, not on {protocol}.")


def target_address(params: dict[str, Any]) -> tuple[str, int]:
    for name in ("load_balancer_id", "listener_id", "ip", "port"):
        if params.get(name) is None:
            raise errors.MissingParameter(f"The request is missing a required parameter `{wire(name)}`.")
    rules.check_range("Port", params["port"], 1, 65535)
    try:
        return str(ipaddress.ip_address(params["ip"])), params["port"]
    except ValueError:
        raise errors.InvalidParameterValue(f"`Ip` {params['ip']!r} is not an IP address.") from None
