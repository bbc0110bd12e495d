"""Reads of target groups that every layer shares: one CLB's associations with their groups' instances.

The worker's snapshot (``reconcile/snapshot.py``) needs, for one CLB, which of its listeners
and rules forward to a target group and that group's instances, read on one connection so
the two agree. The target-group actions' own reads and writes live in their resource package.
"""

from __future__ import annotations

from sqlalchemy import select

from openclb.domain.target_groups import TargetGroupAssociation, TargetGroupInstance
from openclb.store import schema
from openclb.store.query import columns
from openclb.store.store import Store


def group_targets_of(store: Store, lb_id: str) -> tuple[tuple[TargetGroupAssociation, ...], tuple[TargetGroupInstance, ...]]:
    """The associations of one CLB's listeners and rules, and the instances of the groups they name."""
    a, i = schema.target_group_associations, schema.target_group_instances
    with store.engine.connect() as conn:
        associations = tuple(TargetGroupAssociation(*row) for row in conn.execute(
            select(*columns(a, TargetGroupAssociation)).where(a.c.lb_id == lb_id)
            .order_by(a.c.listener_id, a.c.location_id)))
        group_ids = sorted({association.target_group_id for association in associations})
        if not group_ids:
            return associations, ()
        instances = tuple(TargetGroupInstance(*row) for row in conn.execute(
            select(*columns(i, TargetGroupInstance)).where(i.c.target_group_id.in_(group_ids))
            .order_by(i.c.target_group_id, i.c.registered_at, i.c.ip, i.c.port)))
    return associations, instances



def bound_groups_of(store: Store, lb_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(listener id, rule id or "") → (group id, group name) of every association of one CLB."""
    a, g = schema.target_group_associations, schema.target_groups
    with store.engine.connect() as conn:
        rows = conn.execute(select(a.c.listener_id, a.c.location_id, g.c.id, g.c.name)
                            .join(g, g.c.id == a.c.target_group_id).where(a.c.lb_id == lb_id))
        return {(listener_id, location_id): (group_id, name) for listener_id, location_id, group_id, name in rows}
