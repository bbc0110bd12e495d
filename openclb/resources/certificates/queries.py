"""The writes of certificate actions: uploads stored with the write that uses them, replacement; and the
SSL service's uploads, list and deletion, which touch no CLB."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import delete, insert, select

from openclb.domain.models import Certificate, Scope, Task
from openclb.store import schema
from openclb.store.query import columns
from openclb.store.store import Store
from openclb.store.transitions import TaskWrite


def insert_certificates(write: TaskWrite, certificates: Sequence[Certificate]) -> None:
    write.insert(schema.certificates, [asdict(c) for c in certificates])


def replace_certificate(
    store: Store, app_id: int, listener_settings: dict[str, dict], rule_settings: dict[str, dict],
    lb_scopes: dict[str, Scope], task: Task, certificates: Sequence[Certificate],
) -> None:
    """ReplaceCertForLoadBalancers: new certificate settings everywhere, one task over all CLBs."""
    ls, r = schema.listeners, schema.rules
    with store.task_write(task) as write:
        for lb_id, scope in lb_scopes.items():
            write.take_busy(scope, lb_id)
        insert_certificates(write, certificates)
        for listener_id, settings in listener_settings.items():
            write.update(ls, (ls.c.id == listener_id) & (ls.c.app_id == app_id), settings=settings)
        for rule_id, settings in rule_settings.items():
            write.update(r, (r.c.id == rule_id) & (r.c.app_id == app_id), settings=settings)


def add_certificate(store: Store, certificate: Certificate) -> None:
    """An SSL-service upload: no CLB changes, so no task; the row is usable at once as a CertId."""
    with store.engine.begin() as conn:
        conn.execute(insert(schema.certificates).values(**asdict(certificate)))


def account_certificates(store: Store, app_id: int) -> list[Certificate]:
    """Every certificate of the account, newest first."""
    c = schema.certificates
    statement = select(*columns(c, Certificate)).where(c.c.app_id == app_id).order_by(c.c.created_at.desc(), c.c.id)
    with store.engine.connect() as conn:
        return [Certificate(*row) for row in conn.execute(statement)]


def remove_certificate(store: Store, app_id: int, cert_id: str) -> bool:
    c = schema.certificates
    with store.engine.begin() as conn:
        return conn.execute(delete(c).where(c.c.id == cert_id, c.c.app_id == app_id)).rowcount == 1
