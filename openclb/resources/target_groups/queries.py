"""The store side of target groups: reads of one scope, writes with and without a task.

Creating, renaming and deleting a group change no data plane and commit directly. A change of
a group's instances, and every (dis)association, is one task (``TaskWrite``) over every CLB
whose listeners the change reaches: the busy flag of each is taken, in id order, and the
group's row is touched first, so that on PostgreSQL a concurrent association and instance
change of one group take turns and each sees the other's committed rows. The CLBs of a task
are read before it begins; a write that finds them changed meanwhile raises
``AssociationsChanged`` and the client retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from openclb.domain.models import Scope, Task
from openclb.domain.target_groups import TargetGroup, TargetGroupAssociation, TargetGroupInstance
from openclb.resources.shared.clock import sortable_now
from openclb.store import schema
from openclb.store.query import columns
from openclb.store.store import Store
from openclb.store.transitions import QuotaReached, StoreConflict, TaskWrite

g, i, a = schema.target_groups, schema.target_group_instances, schema.target_group_associations


class AssociationsChanged(StoreConflict):
    """The CLBs a group serves changed between reading them and writing: retry."""


class AlreadyBound(StoreConflict):
    """A listener or rule took a target group meanwhile."""


class GroupInUse(StoreConflict):
    """A group to delete is associated (``args[0]``: their ids)."""


class GroupGone(StoreConflict):
    """A group was deleted meanwhile."""


def _all(conn: Connection, table, cls: type, where) -> list:
    return [cls(*row) for row in conn.execute(select(*columns(table, cls)).where(where))]


def groups_in_scope(store: Store, scope: Scope) -> list[TargetGroup]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(*columns(g, TargetGroup)).where(g.c.app_id == scope.app_id, g.c.region == scope.region)
                            .order_by(g.c.created_at, g.c.id))
        return [TargetGroup(*row) for row in rows]


def members_of(store: Store, group_ids: Sequence[str]) -> tuple[list[TargetGroupInstance], list[TargetGroupAssociation]]:
    """The instances and the associations of the groups, on one connection."""
    wanted = sorted(set(group_ids))
    if not wanted:
        return [], []
    with store.engine.connect() as conn:
        instances = [TargetGroupInstance(*row) for row in conn.execute(
            select(*columns(i, TargetGroupInstance)).where(i.c.target_group_id.in_(wanted))
            .order_by(i.c.registered_at, i.c.ip, i.c.port))]
        associations = _all(conn, a, TargetGroupAssociation, a.c.target_group_id.in_(wanted))
    return instances, sorted(associations, key=lambda x: (x.created_at, x.listener_id, x.location_id))


def associations_at(store: Store, places: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TargetGroupAssociation]:
    """The associations that occupy these (listener, rule) places."""
    listener_ids = sorted({listener_id for listener_id, _ in places})
    if not listener_ids:
        return {}
    with store.engine.connect() as conn:
        found = _all(conn, a, TargetGroupAssociation, a.c.listener_id.in_(listener_ids))
    return {x.bound_to: x for x in found if x.bound_to in set(places)}


def lb_ids_of_group(conn: Connection, group_id: str) -> list[str]:
    return sorted({lb_id for (lb_id,) in conn.execute(select(a.c.lb_id).where(a.c.target_group_id == group_id))})


def serving_load_balancers(store: Store, group_id: str) -> list[str]:
    """The CLBs whose listeners or rules forward to the group: what a change of its instances reaches."""
    with store.engine.connect() as conn:
        return lb_ids_of_group(conn, group_id)


def insert_group(store: Store, group: TargetGroup, instances: Sequence[TargetGroupInstance], quota: int) -> None:
    """A new group with its first instances; QuotaReached past the region's quota."""
    with store.engine.begin() as conn:
        count = conn.execute(select(func.count()).select_from(g).where(
            g.c.app_id == group.app_id, g.c.region == group.region)).scalar_one()
        if count >= quota:
            raise QuotaReached(count)
        conn.execute(insert(g).values(**asdict(group)))
        if instances:
            conn.execute(insert(i), [asdict(x) for x in instances])


def update_group(store: Store, scope: Scope, group_id: str, values: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        result = conn.execute(update(g).where(g.c.id == group_id, g.c.app_id == scope.app_id,
                                              g.c.region == scope.region).values(**values, updated_at=sortable_now()))
        if result.rowcount != 1:
            raise GroupGone(group_id)


def delete_groups(store: Store, scope: Scope, group_ids: Sequence[str]) -> None:
    """The groups and their instances, unless one is associated (GroupInUse): all or nothing."""
    with store.engine.begin() as conn:
        conn.execute(update(g).where(g.c.id.in_(list(group_ids))).values(updated_at=sortable_now()))
        busy = sorted({gid for (gid,) in conn.execute(select(a.c.target_group_id).where(
            a.c.target_group_id.in_(list(group_ids))))})
        if busy:
            raise GroupInUse(busy)
        conn.execute(delete(i).where(i.c.target_group_id.in_(list(group_ids))))
        conn.execute(delete(g).where(g.c.id.in_(list(group_ids)), g.c.app_id == scope.app_id,
                                     g.c.region == scope.region))


def _touch_group(write: TaskWrite, group_id: str) -> None:
    """Lock the group's row for this transaction (and mark it updated), or GroupGone."""
    result = write.conn.execute(update(g).where(g.c.id == group_id).values(updated_at=sortable_now()))
    if result.rowcount != 1:
        raise GroupGone(group_id)


def change_instances(
    store: Store, scope: Scope, group_id: str, upserts: Sequence[TargetGroupInstance],
    removals: Sequence[TargetGroupInstance], task: Task, per_group_limit: int,
) -> None:
    """The group's instance changes as one task over every CLB it serves (``task.lb_ids``)."""
    with store.task_write(task) as write:
        _touch_group(write, group_id)
        if lb_ids_of_group(write.conn, group_id) != sorted(task.lb_ids):
            raise AssociationsChanged(group_id)
        for lb_id in sorted(task.lb_ids):
            write.take_busy(scope, lb_id)
        for instance in [*removals, *upserts]:
            write.delete(i, (i.c.target_group_id == group_id) & (i.c.ip == instance.ip) & (i.c.port == instance.port))
        write.insert(i, [asdict(x) for x in upserts])
        count = write.scalar(select(func.count()).select_from(i).where(i.c.target_group_id == group_id))
        if count > per_group_limit:
            raise QuotaReached(count)


def associate(store: Store, scope: Scope, associations: Sequence[TargetGroupAssociation], task: Task) -> None:
    """Bind groups to listeners or rules, one task over their CLBs; AlreadyBound if one took a group meanwhile."""
    with store.task_write(task) as write:
        for group_id in sorted({x.target_group_id for x in associations}):
            _touch_group(write, group_id)
        for lb_id in sorted(task.lb_ids):
            write.take_busy(scope, lb_id)
        write.insert(a, [asdict(x) for x in associations], conflict=AlreadyBound)


def disassociate(store: Store, scope: Scope, associations: Sequence[TargetGroupAssociation], task: Task) -> None:
    with store.task_write(task) as write:
        for lb_id in sorted(task.lb_ids):
            write.take_busy(scope, lb_id)
        for x in associations:
            write.delete(a, (a.c.listener_id == x.listener_id) & (a.c.location_id == x.location_id)
                         & (a.c.target_group_id == x.target_group_id))


