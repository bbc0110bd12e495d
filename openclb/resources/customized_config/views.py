"""Customized configurations → DescribeCustomizedConfigList and DescribeCustomizedConfigAssociateList items."""

from __future__ import annotations

from typing import Any

from openclb.domain.models import AccountObject, Listener
from openclb.resources.shared.clock import api_stamp


def config_item(item: AccountObject) -> dict[str, Any]:
    return {
        "UconfigId": item.id, "ConfigType": item.settings["config_type"], "ConfigName": item.name,
        "ConfigContent": item.settings["content"], "CreateTimestamp": api_stamp(item.created_at),
        "UpdateTimestamp": api_stamp(item.settings.get("updated_at") or item.created_at),
    }


def rule_bind_item(item: AccountObject, binding: dict[str, str], listener: Listener | None,
                   url: str) -> dict[str, Any]:
    """A SERVER (domain) or LOCATION (rule) binding, with its listener as it is now."""
    return {"LoadBalancerId": binding["load_balancer_id"], "ListenerId": binding["listener_id"],
            "Domain": binding["domain"], "LocationId": binding["location_id"],
            "ListenerName": listener.name if listener else "", "Protocol": listener.protocol if listener else "",
            "Vport": listener.port if listener else 0, "Url": url, "UconfigId": item.id}


def bind_item(item: AccountObject, lb_id: str) -> dict[str, Any]:
    """A CLB binding: the real API shows a CLB configuration's binding with empty listener fields."""
    return {"LoadBalancerId": lb_id, "ListenerId": "", "Domain": "", "LocationId": "", "ListenerName": "",
            "Protocol": "", "Vport": 0, "Url": "", "UconfigId": item.id}
