"""The writes of security groups: a new group, a changed group (its bound CLBs applied again), deletion.

A change of a group that CLBs are bound to is one task over those CLBs: their busy flags are
taken, the group row changes with its before-image recorded, and the worker applies each CLB
again, so the data plane enforces the new policies when the task ends (and a refused apply
restores the old ones). A group no CLB uses changes in a plain transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, insert, update

from openclb.domain.models import Scope, Task
from openclb.domain.security_groups import SecurityGroup
from openclb.store import schema
from openclb.store.store import Store

_groups = schema.security_groups


def insert_group(store: Store, group: SecurityGroup) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(_groups).values(**asdict(group)))


def change_group(store: Store, group_id: str, values: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(_groups).where(_groups.c.id == group_id).values(**values))


def change_group_with_task(store: Store, scope: Scope, group_id: str, values: dict[str, Any],
                           lb_ids: Sequence[str], task: Task) -> None:
    with store.task_write(task) as write:
        for lb_id in lb_ids:
            write.take_busy(scope, lb_id)
        write.update(_groups, _groups.c.id == group_id, **values)


def delete_group(store: Store, group_id: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(_groups).where(_groups.c.id == group_id))
