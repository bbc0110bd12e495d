"""What the HAProxy engine reports of the listeners HAProxy serves, read from ``show stat``.

Health per real server and counters per listener (and per rule), in the embedded engine's
shapes, so the worker and the API see one engine whichever serves a listener. HAProxy's
counters restart with each new worker (every reload).
"""

from __future__ import annotations

from collections.abc import Iterable

from openclb.engine.contract import LoadBalancerStats, TargetHealth
from openclb.engine.haproxy import runtime
from openclb.engine.haproxy.render import server_name, target_groups
from openclb.engine.spec import LoadBalancerState

StatRows = dict[tuple[str, str], dict[str, str]]
IDLE_COUNTERS = {"active": 0, "total": 0, "dropped": 0, "bytes_in": 0, "bytes_out": 0}


def health_report(state: LoadBalancerState, rows: StatRows) -> list[TargetHealth]:
    """Each real server of ``state``'s HAProxy listeners, healthy or not and why."""
    report = []
    for spec in state.listeners:
        for section, targets, checked in target_groups(spec):
            for target in targets:
                healthy, detail = runtime.classify_health(rows.get((section, server_name(target))), checked)
                report.append(TargetHealth(section, target.ip, target.port, healthy, detail))
    return report


def merged_stats(inner: LoadBalancerStats, states: Iterable[LoadBalancerState], rows: StatRows) -> LoadBalancerStats:
    """The embedded part's counters with those of every HAProxy listener added."""
    merged = {lb_id: dict(listeners) for lb_id, listeners in inner.items()}
    for state in states:
        for spec in state.listeners:
            counters = runtime.listener_counters(rows, spec.listener_id) or dict(IDLE_COUNTERS)
            groups = [(section, [{"ip": t.ip, "port": t.port, "weight": t.weight,
                                  **runtime.server_counters(rows, section, server_name(t))} for t in targets])
                      for section, targets, _ in target_groups(spec)]
            merged.setdefault(state.load_balancer_id, {})[spec.listener_id] = {
                "protocol": str(spec.protocol), "vip": state.vip, "port": spec.port,
                "end_port": spec.end_port, **counters, "targets": [t for _, ts in groups for t in ts]}
            if spec.rules:
                merged[state.load_balancer_id][spec.listener_id]["rules"] = [
                    {"location_id": section, "targets": ts} for section, ts in groups]
    return merged
