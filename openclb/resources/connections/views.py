"""Engine counters → DescribeTargetConnections' TargetConnections objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def target_connections(lb_id: str, listeners: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "LoadBalancerId": lb_id,
            "ListenerId": listener_id,
            "Ip": target["ip"],
            "Port": int(target["port"]),
            "ActiveConnections": int(target.get("active", 0)),
            "TotalConnections": int(target.get("total", 0)),
        }
        for listener_id, counters in sorted(listeners.items())
        for target in counters.get("targets", [])
    ]
