"""The writes of forwarding-rule actions: upserts and removals of one CLB's rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import func, select

from openclb.domain.models import Certificate, Rule, Scope, Task
from openclb.resources.certificates.queries import insert_certificates
from openclb.store import schema
from openclb.store.store import Store
from openclb.store.transitions import QuotaReached


def change_rules(
    store: Store, scope: Scope, lb_id: str, upserts: Sequence[Rule], removals: Sequence[str], task: Task,
    certificates: Sequence[Certificate] = (), per_listener_limit: int = 50,
) -> None:
    """Write rule changes of one CLB with their task; removing a rule unbinds its targets and its target group."""
    r, t, a = schema.rules, schema.targets, schema.target_group_associations
    with store.task_write(task) as write:
        write.take_busy(scope, lb_id)
        insert_certificates(write, certificates)
        doomed = [*removals, *(rule.id for rule in upserts)]
        if doomed:
            write.delete(r, r.c.id.in_(doomed))
        if removals:
            write.delete(t, t.c.location_id.in_(list(removals)))
            write.delete(a, a.c.location_id.in_(list(removals)))
        write.insert(r, [asdict(rule) for rule in upserts])
        for listener_id in {rule.listener_id for rule in upserts}:
            count = write.scalar(select(func.count()).select_from(r).where(r.c.listener_id == listener_id))
            if count > per_listener_limit:
                raise QuotaReached(count)
