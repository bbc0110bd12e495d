"""The writes of CLB actions: attribute changes and deletion, each one task's write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openclb.domain.models import ProvisioningState, Scope, Task
from openclb.store import schema
from openclb.store.store import Store


def modify_load_balancer(store: Store, scope: Scope, lb_id: str, changes: dict[str, Any], task: Task) -> None:
    lbs = schema.load_balancers
    with store.task_write(task) as write:
        write.take_busy(scope, lb_id)
        if changes:
            write.update(lbs, lbs.c.id == lb_id, **changes)


def mark_load_balancers_deleted(store: Store, scope: Scope, lb_ids: Sequence[str], task: Task) -> None:
    lbs = schema.load_balancers
    with store.task_write(task) as write:
        for lb_id in lb_ids:
            write.take_busy(scope, lb_id)
            write.update(lbs, lbs.c.id == lb_id, state=ProvisioningState.PENDING_DELETE)


def modify_load_balancers(store: Store, scope: Scope, changes: dict[str, dict[str, Any]], task: Task) -> None:
    """Column changes to several CLBs in one task (ModifyLoadBalancerSla, ModifyLoadBalancersProject)."""
    lbs = schema.load_balancers
    with store.task_write(task) as write:
        for lb_id, values in changes.items():
            write.take_busy(scope, lb_id)
            write.update(lbs, lbs.c.id == lb_id, **values)


def set_stopped(store: Store, scope: Scope, lb_id: str, lb_settings: dict[str, Any] | None,
                listener_settings: dict[str, dict[str, Any]], task: Task) -> None:
    """SetLoadBalancerStartStatus: the CLB's settings (whole-CLB calls) and its listeners' settings."""
    lbs, ls = schema.load_balancers, schema.listeners
    with store.task_write(task) as write:
        write.take_busy(scope, lb_id)
        if lb_settings is not None:
            write.update(lbs, lbs.c.id == lb_id, settings=lb_settings)
        for listener_id, stored in listener_settings.items():
            write.update(ls, ls.c.id == listener_id, settings=stored,
                         state=ProvisioningState.PENDING_UPDATE, pending_task_id=task.id)
