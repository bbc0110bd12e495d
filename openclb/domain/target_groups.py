"""Target groups as the store keeps them: the group, its instances, its associations.

A target group is a set of real servers (instances: an address and a port with a weight)
that listeners (layer 4) and forwarding rules (layer 7) whose TargetType is TARGETGROUP
forward to, instead of targets of their own. One group may serve several listeners across
CLBs: an association names one listener (and, on layer 7, one rule) and the group it
forwards to; a listener or rule has at most one associated group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TargetGroup:
    id: str
    app_id: int
    region: str
    name: str
    vpc_id: str
    port: int | None
    created_at: str
    updated_at: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetGroupInstance:
    """A real server of a group: BindIP and Port, with its weight."""

    target_group_id: str
    ip: str
    port: int
    weight: int = 10
    registered_at: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.ip, self.port)


@dataclass(frozen=True)
class TargetGroupAssociation:
    """A group bound to a listener (``location_id`` empty, layer 4) or to one of its rules (layer 7)."""

    target_group_id: str
    lb_id: str
    listener_id: str
    location_id: str = ""
    weight: int | None = None
    created_at: str = ""

    @property
    def bound_to(self) -> tuple[str, str]:
        """What the association occupies: one listener, or one rule of it."""
        return (self.listener_id, self.location_id)
