"""A security group as the store keeps it (vpc API 2017-03-12; enforced by the CLBs bound to it).

``policies`` is ``{"ingress": [...], "egress": [...]}``, each policy a dict of the stored
members (``protocol``, ``port``, ``cidr_block``, ``ipv6_cidr_block``, ``action``,
``description``, ``modify_time``), in evaluation order; ``version`` counts policy changes as
the API's ``SecurityGroupPolicySet.Version`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    app_id: int
    region: str
    name: str
    description: str
    project_id: str
    created_at: str
    updated_at: str
    version: int = 0
    policies: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"ingress": [], "egress": []})
    tags: list[dict[str, str]] = field(default_factory=list)
