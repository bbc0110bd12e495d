"""A fault → DescribeFaults' ``Fault`` object (``api/admin.py``); members a kind lacks are null."""

from __future__ import annotations

from typing import Any

from openclb.domain.faults import Fault


def fault(item: Fault, engine_hits: dict[str, int] | None = None) -> dict[str, Any]:
    """``engine_hits``: the events the data plane met, by fault id (traffic faults are counted there)."""
    target = item.target
    listener = item.listener
    return {
        "FaultId": item.fault_id,
        "Kind": str(item.kind),
        "Action": item.action,
        "Code": item.code or None,
        "Message": item.message or None,
        "Count": item.count,
        "Probability": item.probability,
        "Seconds": item.seconds,
        "LoadBalancerId": target.load_balancer_id if target else listener.load_balancer_id if listener else None,
        "ListenerId": target.listener_id if target else listener.listener_id if listener else None,
        "LocationId": target.group_id if target and target.group_id != target.listener_id else None,
        "Ip": target.ip if target else None,
        "Port": target.port if target else None,
        "Hits": (engine_hits or {}).get(item.fault_id, item.hits),
    }
