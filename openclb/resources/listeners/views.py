"""Listeners → DescribeListeners' Listener (every member the SDK model has, never a stray null)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openclb.domain.models import Listener, Rule
from openclb.protocols import L7
from openclb.resources.certificates.views import certificate
from openclb.resources.forwarding.views import rule_output
from openclb.resources.listeners.settings import ListenerSettings
from openclb.resources.shared.clock import api_stamp


def listener(item: Listener, rules: Sequence[Rule] = ()) -> dict[str, Any]:
    settings = ListenerSettings.of(item)
    return {
        "ListenerId": item.id,
        "Protocol": item.protocol,
        "Port": item.port,
        "Certificate": certificate(settings.certificate),
        "Rules": [rule_output(r) for r in rules] if item.protocol in L7 else None,
        "ListenerName": item.name,
        "CreateTime": api_stamp(item.created_at),
        "EndPort": item.end_port,
        "TargetGroup": None,
        "Toa": False,
        "TargetGroupList": None,
        **settings.to_view(item),
    }
