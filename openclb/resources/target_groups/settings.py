"""A target group's settings: the one place their defaults live.

``TargetGroupSettings`` holds the CreateTargetGroup / ModifyTargetGroupAttribute members a
group keeps besides its name, VPC and default port (columns of their own). openclb serves
legacy (v1) target groups, whose listeners' scheduler, persistence and health check apply to
their instances: the protocol, scheduling, health-check and session members are kept and shown
as given. ``Weight`` is the default weight of an instance registered without one (10 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from openclb.domain.target_groups import TargetGroup
from openclb.resources.shared.settings import differing_from_defaults, given_members

DEFAULT_INSTANCE_WEIGHT = 10
# The request members ModifyTargetGroupAttribute may change besides the name and the port.
MODIFIABLE = ("schedule_algorithm", "health_check", "weight", "keepalive_enable", "session_expire_time",
              "snat_enable")


@dataclass(frozen=True)
class TargetGroupSettings:
    target_group_type: str = "v1"
    protocol: str | None = None
    health_check: dict[str, Any] | None = None
    schedule_algorithm: str | None = None
    tags: list[dict[str, str]] | None = None
    weight: int | None = None
    full_listen_switch: bool = False
    keepalive_enable: bool = False
    session_expire_time: int = 0
    ip_version: str = "IPv4"
    snat_enable: bool = False

    @classmethod
    def of(cls, group: TargetGroup) -> TargetGroupSettings:
        return cls(**given_members(cls, group.settings))

    @classmethod
    def from_request(cls, params: dict[str, Any]) -> TargetGroupSettings:
        """CreateTargetGroup's members (``Type`` is ``target_group_type`` here)."""
        return cls(**given_members(cls, {**params, "target_group_type": params.get("type")}))

    def merged(self, params: dict[str, Any]) -> TargetGroupSettings:
        """ModifyTargetGroupAttribute: the members given replace the stored ones."""
        return replace(self, **{k: v for k, v in given_members(type(self), params).items() if k in MODIFIABLE})

    def to_stored(self) -> dict[str, Any]:
        return differing_from_defaults(self)

    def instance_weight(self, given: int | None) -> int:
        """An instance's weight: its own, else the group's default, else 10."""
        if given is not None:
            return given
        return self.weight if self.weight is not None else DEFAULT_INSTANCE_WEIGHT
