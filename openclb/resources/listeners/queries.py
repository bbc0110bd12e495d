"""The writes of listener actions: create (ports claimed by a unique key), change, delete."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict

from sqlalchemy import func, select

from openclb.domain.models import Certificate, Listener, ProvisioningState, Rule, Scope, Task
from openclb.resources.certificates.queries import insert_certificates
from openclb.store import schema
from openclb.store.store import Store
from openclb.store.transitions import PortTaken, QuotaReached


def add_listeners(
    store: Store, scope: Scope, lb_id: str, new: Sequence[Listener], task: Task, quota: int,
    certificates: Sequence[Certificate] = (), rules: Sequence[Rule] = (),
) -> None:
    """Insert listeners, their ports and uploaded certificates with the task; PortTaken on a clash."""
    ls = schema.listeners
    with store.task_write(task) as write:
        write.take_busy(scope, lb_id)
        insert_certificates(write, certificates)
        existing = write.scalar(select(func.count()).select_from(ls).where(
            ls.c.lb_id == lb_id, ls.c.state != ProvisioningState.PENDING_DELETE))
        if existing + len(new) > quota:
            raise QuotaReached(existing)
        write.insert(ls, [asdict(listener) for listener in new])
        write.insert(schema.listener_ports, [
            {"lb_id": lb_id, "port_class": str(l.port_class), "port": p, "listener_id": l.id}
            for l in new for p in l.ports
        ], conflict=PortTaken)
        write.insert(schema.rules, [asdict(rule) for rule in rules])


def change_listener(
    store: Store, scope: Scope, listener: Listener, name: str, settings: dict, task: Task,
    certificates: Sequence[Certificate] = (),
) -> None:
    ls = schema.listeners
    with store.task_write(task) as write:
        write.take_busy(scope, listener.lb_id)
        insert_certificates(write, certificates)
        write.update(ls, ls.c.id == listener.id, name=name, settings=settings,
                     state=ProvisioningState.PENDING_UPDATE, pending_task_id=task.id)


def mark_listeners_deleted(store: Store, scope: Scope, lb_id: str, listener_ids: Iterable[str], task: Task) -> None:
    ls = schema.listeners
    with store.task_write(task) as write:
        write.take_busy(scope, lb_id)
        write.update(ls, (ls.c.lb_id == lb_id) & ls.c.id.in_(list(listener_ids)),
                     state=ProvisioningState.PENDING_DELETE, pending_task_id=task.id)
