"""From the served states to the next load: what it retires, and what each waiting apply is told (pure).

- ``retired_listeners``: listeners whose binding (VIP, protocol, ports) is gone, whose
  connections the old workers hold are cut after the drain grace.
- ``deregistered_servers``: real servers gone from listeners with DeregisterTargetRst on,
  whose connections are closed at once.
- ``leaving_haproxy``: whether a listener HAProxy serves goes to the embedded engine.
- ``settle``: each apply of a group commit gets the failures of its own listeners;
  ``failure_message`` is what the API user reads when HAProxy refused the configuration.
"""

from __future__ import annotations

import asyncio

from openclb.engine.contract import EngineError
from openclb.engine.haproxy.render import FALLBACK_PREFIX, server_name
from openclb.engine.spec import ListenerSpec, LoadBalancerState


def failure_message(complaint: str) -> str:
    """The API user's message for a configuration HAProxy refused: a certificate it could not
    load is named as such (the embedded engine's TlsConfigError says the same)."""
    lowered = complaint.lower()
    if any(word in lowered for word in ("certificate", ".pem", "crt-list", "ssl")):
        return "The load balancer data plane (HAProxy) could not load a certificate of the change"
    return "The load balancer data plane (HAProxy) could not apply the change"


def settle(batch: list[tuple[LoadBalancerState, asyncio.Future]], failed: dict[str, EngineError]) -> None:
    """Give each waiting apply the failures of its own listeners."""
    for wanted, future in batch:
        if not future.done():
            mine = {s.listener_id for s in wanted.listeners}
            future.set_result({listener_id: error for listener_id, error in failed.items() if listener_id in mine})


def retired_listeners(before: dict[str, LoadBalancerState], after: dict[str, LoadBalancerState]) -> set[str]:
    """Listeners served ``before`` whose binding (VIP, protocol, ports) is gone ``after``."""
    def bindings(states: dict[str, LoadBalancerState]) -> dict[str, tuple]:
        return {spec.listener_id: (state.vip, spec.protocol, spec.ports)
                for state in states.values() for spec in state.listeners}

    kept = bindings(after)
    return {listener_id for listener_id, binding in bindings(before).items() if kept.get(listener_id) != binding}


def deregistered_servers(before: dict[str, LoadBalancerState],
                          after: dict[str, LoadBalancerState]) -> set[tuple[str, str]]:
    """(section, server) of real servers gone from listeners that stay with DeregisterTargetRst on,
    each with its fallback twin."""
    old = {spec.listener_id: spec for state in before.values() for spec in state.listeners}
    gone: set[tuple[str, str]] = set()
    for state in after.values():
        for spec in state.listeners:
            previous = old.get(spec.listener_id)
            if previous is None or not spec.deregister_target_rst:
                continue
            kept = {server_name(t) for t in spec.targets}
            for target in previous.targets:
                name = server_name(target)
                if name not in kept:
                    gone |= {(spec.listener_id, name), (spec.listener_id, FALLBACK_PREFIX + name)}
    return gone


def leaving_haproxy(served: LoadBalancerState | None, theirs: tuple[ListenerSpec, ...]) -> bool:
    """Whether a port HAProxy serves for this CLB goes to the embedded engine (an HTTP listener
    that gains an access log, a customized configuration...): HAProxy must let it go first."""
    if served is None or not theirs:
        return False
    ports = {port for spec in served.listeners for port in spec.ports}
    return any(port in ports for spec in theirs for port in spec.ports)
