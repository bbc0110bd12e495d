"""Reads and writes of CLB tags: the ``tags`` member of a CLB row's settings (and of a target group's).

A tag write is not a task (the tag service answers at once and changes nothing of the data
plane), so it must not race a task on the same CLB: a task that fails restores its CLB row from
the before-image it took, which would undo a tag change made meanwhile. A tag write therefore
changes a CLB only while no task holds it (``busy_task_id`` is NULL, in the same UPDATE), and
``TagsBusy`` tells the caller to wait for the task. The row is read FOR UPDATE (PostgreSQL; SQLite
has one writer), so two tag writes on one CLB apply one after the other and neither is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select, update

from openclb.domain.models import LoadBalancer, ProvisioningState
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.store import schema
from openclb.store.store import Store

TagEdit = Callable[[str, dict[str, str]], dict[str, str]]


class TagsBusy(Exception):
    """A task holds the CLB; its tags can change once the task has settled."""


def account_load_balancers(store: Store, app_id: int) -> list[LoadBalancer]:
    """Every CLB of the account in every region, oldest first, without those being deleted."""
    lbs = schema.load_balancers
    statement = (select(lbs).where(lbs.c.app_id == app_id, lbs.c.state != ProvisioningState.PENDING_DELETE)
                 .order_by(lbs.c.created_at, lbs.c.id))
    with store.engine.connect() as conn:
        return [LoadBalancer(**row) for row in conn.execute(statement).mappings()]


def rewrite_tags(store: Store, app_id: int, targets: Sequence[tuple[str, str]], edit: TagEdit) -> list[int]:
    """Replace the tags of each (region, CLB id) by ``edit(lb_id, current)``, all in one transaction.

    Returns the positions in ``targets`` of the CLBs that do not exist (or are being deleted); an
    error raised by ``edit`` leaves every CLB as it was.
    """
    lbs = schema.load_balancers
    missing = []
    with store.engine.begin() as conn:
        for position, (region, lb_id) in enumerate(targets):
            where = (lbs.c.id == lb_id, lbs.c.app_id == app_id, lbs.c.region == region)
            row = conn.execute(select(lbs.c.settings, lbs.c.state).where(*where).with_for_update()).first()
            if row is None or row.state == ProvisioningState.PENDING_DELETE:
                missing.append(position)
                continue
            settings = LoadBalancerSettings.from_stored(row.settings)
            tags = edit(lb_id, settings.tag_map())
            stored = settings.merged({"tags": [{"tag_key": k, "tag_value": v} for k, v in tags.items()]}).to_stored()
            changed = conn.execute(update(lbs).where(*where, lbs.c.busy_task_id.is_(None)).values(settings=stored))
            if changed.rowcount != 1:
                raise TagsBusy(lb_id)
    return missing


def rewrite_group_tags(store: Store, app_id: int, region: str, group_id: str, edit: TagEdit) -> bool:
    """Replace a target group's tags (its settings' ``tags``, which DescribeTargetGroupList shows) by
    ``edit(group_id, current)``; False when the group does not exist. The row is locked for the
    write, so two tag writes on one group apply one after the other."""
    groups = schema.target_groups
    where = (groups.c.id == group_id, groups.c.app_id == app_id, groups.c.region == region)
    with store.engine.begin() as conn:
        row = conn.execute(select(groups.c.settings).where(*where).with_for_update()).first()
        if row is None:
            return False
        current = {t["tag_key"]: t["tag_value"] for t in row.settings.get("tags") or ()}
        tags = [{"tag_key": k, "tag_value": v} for k, v in edit(group_id, current).items()]
        stored = {**row.settings, "tags": tags}
        if not tags:
            stored.pop("tags")
        conn.execute(update(groups).where(*where).values(settings=stored))
    return True
