"""The one write of billing: new prepaid terms of several CLBs, with the renewal's task."""

from __future__ import annotations

from typing import Any

from openclb.domain.models import Scope, Task
from openclb.store import schema
from openclb.store.store import Store


def renew_terms(store: Store, scope: Scope, settings_by_lb: dict[str, dict[str, Any]], task: Task) -> None:
    lbs = schema.load_balancers
    with store.task_write(task) as write:
        for lb_id, settings in settings_by_lb.items():
            write.take_busy(scope, lb_id)
            write.update(lbs, lbs.c.id == lb_id, settings=settings)
