"""The two mechanics every settings dataclass shares: what a mapping gives, what differs from the defaults.

A resource's settings type (``ListenerSettings``, ``RuleSettings``, ``LoadBalancerSettings``,
``HealthCheck``) is built from stored rows and from request members alike, where unknown keys
are ignored and None means "not given"; and it is stored sparse, as the members that differ
from its defaults, so a later default reaches old rows too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any


def given_members(cls: type, mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    """The members of ``mapping`` that are fields of ``cls`` and not None."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in (mapping or {}).items() if k in names and v is not None}


def differing_from_defaults(settings: Any, leave_out: Iterable[str] = ()) -> dict[str, Any]:
    """The members of ``settings`` whose value is not its type's default (``leave_out`` aside)."""
    defaults = type(settings)()
    skipped = set(leave_out)
    return {f.name: getattr(settings, f.name) for f in fields(settings)
            if f.name not in skipped and getattr(settings, f.name) != getattr(defaults, f.name)}
