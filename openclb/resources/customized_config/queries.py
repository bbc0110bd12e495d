"""The store side of customized configurations: account objects of kind ``customized_config``.

A configuration's own changes (add, rename, delete an unbound one) are written at once. What
reaches a CLB (binding, unbinding, changing a bound configuration's content) is one task over
every CLB it touches: each CLB's settings carry the content they serve, and the configuration
its binding list, in one transaction, so a task the engine refuses undoes both.
"""

from __future__ import annotations

from sqlalchemy import delete, update

from openclb.domain.models import AccountObject, Scope, Task
from openclb.store import schema
from openclb.store.store import Store

KIND = "customized_config"


def update_config(store: Store, item: AccountObject) -> None:
    table = schema.account_objects
    with store.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == item.id).values(name=item.name, settings=item.settings))


def delete_configs(store: Store, scope: Scope, config_ids: list[str]) -> None:
    table = schema.account_objects
    with store.engine.begin() as conn:
        conn.execute(delete(table).where(table.c.id.in_(config_ids), table.c.app_id == scope.app_id,
                                         table.c.kind == KIND))


def write_bound(store: Store, scope: Scope, item: AccountObject, lb_settings: dict[str, dict], task: Task,
                rule_settings: dict[str, tuple[str, dict]] | None = None) -> None:
    """The configuration as it now is, and the new settings of every CLB (``lb_settings``) or
    rule (``rule_settings``: rule id → (its CLB, settings)) it (un)binds or changes."""
    lbs, rules, objects = schema.load_balancers, schema.rules, schema.account_objects
    rule_settings = rule_settings or {}
    with store.task_write(task) as write:
        for lb_id in dict.fromkeys([*lb_settings, *(lb_id for lb_id, _ in rule_settings.values())]):
            write.take_busy(scope, lb_id)
        for lb_id, settings in lb_settings.items():
            write.update(lbs, lbs.c.id == lb_id, settings=settings)
        for rule_id, (_, settings) in rule_settings.items():
            write.update(rules, rules.c.id == rule_id, settings=settings)
        write.update(objects, objects.c.id == item.id, name=item.name, settings=item.settings)
