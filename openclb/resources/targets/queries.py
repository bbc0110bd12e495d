"""The writes of target actions: one CLB's targets replaced or removed, within the per-listener quota."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import func, select

from openclb.domain.models import Scope, Target, Task
from openclb.store import schema
from openclb.store.store import Store
from openclb.store.transitions import QuotaReached


def change_targets(
    store: Store, scope: Scope, lb_id: str, upserts: Sequence[Target], removals: Sequence[Target], task: Task,
    per_listener_limit: int,
) -> None:
    """Write target changes of one CLB with their task; QuotaReached past the per-listener limit."""
    t = schema.targets
    with store.task_write(task) as write:
        write.take_busy(scope, lb_id)
        for target in [*removals, *upserts]:
            write.delete(t, (t.c.listener_id == target.listener_id) & (t.c.location_id == target.location_id)
                         & (t.c.ip == target.ip) & (t.c.port == target.port))
        write.insert(t, [asdict(target) for target in upserts])
        for listener_id in {target.listener_id for target in upserts}:
            count = write.scalar(select(func.count()).select_from(t).where(t.c.listener_id == listener_id))
            if count > per_listener_limit:
                raise QuotaReached(count)
