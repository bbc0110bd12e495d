"""Reads of security groups: by scope (the vpc API), by id (a CLB's desired state), per account (snapshots)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from openclb.domain.security_groups import SecurityGroup
from openclb.store import schema
from openclb.store.store import Store

_groups = schema.security_groups


def _rows(store: Store, where) -> list[SecurityGroup]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(_groups).where(where).order_by(_groups.c.created_at, _groups.c.id)).mappings()
        return [SecurityGroup(**dict(row)) for row in rows]


def in_scope(store: Store, app_id: int, region: str) -> list[SecurityGroup]:
    return _rows(store, (_groups.c.app_id == app_id) & (_groups.c.region == region))


def of_account(store: Store, app_id: int | None) -> list[SecurityGroup]:
    """Every group of ``app_id`` (of every account with None), all regions."""
    return _rows(store, _groups.c.app_id == app_id if app_id is not None else _groups.c.id.is_not(None))


def by_ids(store: Store, ids: Iterable[str]) -> dict[str, SecurityGroup]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    return {group.id: group for group in _rows(store, _groups.c.id.in_(wanted))}
