"""Customized configurations → DescribeCustomizedConfigList and DescribeCustomizedConfigAssociateList items."""

from __future__ import annotations

from typing import Any

from openclb.domain.models import AccountObject
from openclb.resources.shared.clock import api_stamp


def config_item(item: AccountObject) -> dict[str, Any]:
    return {
        "UconfigId": item.id, "ConfigType": item.settings["config_type"], "ConfigName": item.name,
        "ConfigContent": item.settings["content"], "CreateTimestamp": api_stamp(item.created_at),
        "UpdateTimestamp": api_stamp(item.settings.get("updated_at") or item.created_at),
    }


def bind_item(item: AccountObject, lb_id: str) -> dict[str, Any]:
    """A CLB binding: the real API shows a CLB configuration's binding with empty listener fields."""
    return {"LoadBalancerId": lb_id, "ListenerId": "", "Domain": "", "LocationId": "", "ListenerName": "",
            "Protocol": "", "Vport": 0, "Url": "", "UconfigId": item.id}
