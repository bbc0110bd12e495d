"""Forwarding rules → the API's RuleOutput (the only PascalCase of rules)."""

from __future__ import annotations

from typing import Any

from openclb.domain.models import Rule
from openclb.resources.certificates.views import certificate
from openclb.resources.forwarding.settings import RuleSettings
from openclb.resources.shared.clock import api_stamp


def rule_output(rule: Rule) -> dict[str, Any]:
    settings = RuleSettings.of(rule)
    return {
        "LocationId": rule.id,
        "Domain": rule.domains[0],
        "Url": rule.url,
        **settings.to_view(),
        "Certificate": certificate(settings.certificate),
        "ListenerId": rule.listener_id,
        "CreateTime": api_stamp(rule.created_at),
        "TargetGroup": None,
        "WafDomainId": "",
        "Domains": list(rule.domains),
        "TargetGroupList": None,
    }
