"""The store side of state snapshots: an account's rows read at once, written at once, removed at once.

``read_account`` reads every live row of an account in one transaction (REPEATABLE READ on
PostgreSQL; a SQLite read transaction sees one snapshot), so a document never holds a rule
whose listener was deleted meanwhile. ``write_state`` inserts a document's rows in one
transaction, either with the ImportState task (``TaskWrite``: every row's insertion is
recorded, so a task the engine refuses removes them all again) or, for an offline import
into a stopped server's store, directly and ACTIVE. Ids and VIPs already used on the server
(by any account) are ``StateConflict`` before anything is written. ``delete_state`` removes an
account's rows (or every account's) with their tasks in one transaction.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from openclb.domain.models import (
    AccountObject, Certificate, Listener, LoadBalancer, ProvisioningState, Rule, Target, Task,
)
from openclb.domain.security_groups import SecurityGroup
from openclb.domain.target_groups import TargetGroup, TargetGroupAssociation, TargetGroupInstance
from openclb.resources.state.document import AccountState
from openclb.store import schema
from openclb.store.query import columns
from openclb.store.store import Store
from openclb.store.transitions import StoreConflict, TaskWrite

_TYPES = {"state": ProvisioningState, "domains": tuple}


class StateConflict(StoreConflict):
    """Ids, VIPs or ports of the document clash with what the server holds (the message says which)."""


def _rows(conn: Connection, table, cls: type, where) -> list[Any]:
    found = []
    for row in conn.execute(select(*columns(table, cls)).where(where)):
        values = {f.name: value for f, value in zip(fields(cls), row)}
        found.append(cls(**{k: _TYPES[k](v) if k in _TYPES else v for k, v in values.items()}))
    return found


def read_account(store: Store, app_id: int) -> AccountState:
    """Every live row of the account: CLBs and listeners being deleted are left out."""
    lbs_t, ls_t, r_t, t_t, c_t = (schema.load_balancers, schema.listeners, schema.rules, schema.targets,
                                  schema.certificates)
    g_t, i_t, a_t = schema.target_groups, schema.target_group_instances, schema.target_group_associations
    deleting = ProvisioningState.PENDING_DELETE
    with store.engine.connect() as conn:
        if not store.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            lbs = [lb for lb in _rows(conn, lbs_t, LoadBalancer, lbs_t.c.app_id == app_id) if lb.state is not deleting]
            live = {lb.id for lb in lbs}
            listeners = [l for l in _rows(conn, ls_t, Listener, ls_t.c.app_id == app_id)
                         if l.lb_id in live and l.state is not deleting]
            kept = {l.id for l in listeners}
            rules = [r for r in _rows(conn, r_t, Rule, r_t.c.app_id == app_id) if r.listener_id in kept]
            targets = [t for t in _rows(conn, t_t, Target, t_t.c.lb_id.in_(sorted(live))) if t.listener_id in kept]
            certificates = _rows(conn, c_t, Certificate, c_t.c.app_id == app_id)
            groups = _rows(conn, g_t, TargetGroup, g_t.c.app_id == app_id)
            group_ids = sorted(g.id for g in groups)
            instances = _rows(conn, i_t, TargetGroupInstance, i_t.c.target_group_id.in_(group_ids))
            rule_ids = {r.id for r in rules}
            associations = [x for x in _rows(conn, a_t, TargetGroupAssociation, a_t.c.target_group_id.in_(group_ids))
                            if x.listener_id in kept and (not x.location_id or x.location_id in rule_ids)]
            security = [SecurityGroup(**dict(row)) for row in conn.execute(
                select(schema.security_groups).where(schema.security_groups.c.app_id == app_id)).mappings()]
            objects = _rows(conn, schema.account_objects, AccountObject, schema.account_objects.c.app_id == app_id)
    return AccountState(tuple(lbs), tuple(listeners), tuple(rules), tuple(targets), tuple(certificates),
                        tuple(groups), tuple(instances), tuple(associations), tuple(security), tuple(objects))


def load_balancer_ids(store: Store, app_id: int | None) -> list[str]:
    lbs = schema.load_balancers
    query = select(lbs.c.id).order_by(lbs.c.id)
    if app_id is not None:
        query = query.where(lbs.c.app_id == app_id)
    with store.engine.connect() as conn:
        return [lb_id for (lb_id,) in conn.execute(query)]


def holds_anything(store: Store, app_id: int) -> bool:
    lbs, certs = schema.load_balancers, schema.certificates
    with store.engine.connect() as conn:
        return any(conn.execute(select(table.c.id).where(table.c.app_id == app_id).limit(1)).first()
                   for table in (lbs, certs, schema.target_groups, schema.security_groups, schema.account_objects))


def delete_state(store: Store, app_id: int | None) -> None:
    """Every row of the account (every account's with None), its tasks included, in one transaction."""
    lbs, tasks = schema.load_balancers, schema.tasks
    with store.engine.begin() as conn:
        if app_id is None:
            for table in (schema.task_changes, tasks, schema.targets, schema.target_group_associations,
                          schema.target_group_instances, schema.target_groups, schema.rules, schema.listener_ports,
                          schema.listeners, lbs, schema.certificates, schema.security_groups, schema.account_objects):
                conn.execute(delete(table))
            return
        mine = select(lbs.c.id).where(lbs.c.app_id == app_id).scalar_subquery()
        their_tasks = select(tasks.c.id).where(tasks.c.app_id == app_id).scalar_subquery()
        conn.execute(delete(schema.task_changes).where(schema.task_changes.c.task_id.in_(their_tasks)))
        conn.execute(delete(tasks).where(tasks.c.app_id == app_id))
        groups, associations = schema.target_groups, schema.target_group_associations
        their_groups = select(groups.c.id).where(groups.c.app_id == app_id).scalar_subquery()
        conn.execute(delete(associations).where(associations.c.lb_id.in_(mine)
                                                | associations.c.target_group_id.in_(their_groups)))
        conn.execute(delete(schema.target_group_instances).where(
            schema.target_group_instances.c.target_group_id.in_(their_groups)))
        for table in (schema.targets, schema.listener_ports):
            conn.execute(delete(table).where(table.c.lb_id.in_(mine)))
        for table in (schema.rules, schema.listeners, lbs, schema.certificates, groups, schema.security_groups,
                      schema.account_objects):
            conn.execute(delete(table).where(table.c.app_id == app_id))


class _DirectWrite:
    """``TaskWrite``'s insert without a task: an offline import into a stopped server's store."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, table, rows, conflict: type[Exception] | None = None) -> None:
        if not rows:
            return
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(table), rows)
        except IntegrityError as exc:
            if conflict is None:
                raise
            raise conflict(str(exc.orig)) from exc


def import_with_task(store: Store, state: AccountState, task: Task) -> None:
    """The document's rows, pending, with the ImportState task that will make them serve."""
    with store.task_write(task) as write:
        _write_rows(write, state)


def import_directly(store: Store, state: AccountState) -> None:
    """The document's rows, ACTIVE, in one transaction: the next start of the server serves them."""
    with store.engine.begin() as conn:
        _write_rows(_DirectWrite(conn), state)


def _write_rows(write: TaskWrite | _DirectWrite, state: AccountState) -> None:
    _check_free(write.conn, state)
    write.insert(schema.security_groups, [asdict(g) for g in state.security_groups], conflict=_taken)
    write.insert(schema.certificates, [asdict(c) for c in state.certificates], conflict=_taken)
    write.insert(schema.load_balancers, [asdict(lb) for lb in state.load_balancers], conflict=_taken)
    write.insert(schema.listeners, [asdict(l) for l in state.listeners], conflict=_taken)
    write.insert(schema.listener_ports, [
        {"lb_id": l.lb_id, "port_class": str(l.port_class), "port": p, "listener_id": l.id}
        for l in state.listeners for p in l.ports
    ], conflict=_port_clash)
    write.insert(schema.rules, [{**asdict(r), "domains": list(r.domains)} for r in state.rules], conflict=_taken)
    write.insert(schema.targets, [asdict(t) for t in state.targets], conflict=_taken)
    write.insert(schema.target_groups, [asdict(g) for g in state.target_groups], conflict=_taken)
    write.insert(schema.target_group_instances, [asdict(i) for i in state.target_group_instances], conflict=_taken)
    write.insert(schema.target_group_associations, [asdict(a) for a in state.target_group_associations],
                 conflict=_taken)
    write.insert(schema.account_objects, [asdict(o) for o in state.account_objects], conflict=_taken)


def _port_clash(_detail: str) -> StateConflict:
    return StateConflict("Two listeners of one load balancer of the state use the same port.")


def _taken(_detail: str) -> StateConflict:
    return StateConflict("An id or VIP of the state was taken on this server meanwhile.")


def _check_free(conn: Connection, state: AccountState) -> None:
    """No id or VIP of the document is used on this server yet, by any account."""
    wanted = (
        (schema.load_balancers.c.id, [lb.id for lb in state.load_balancers], "load balancer id"),
        (schema.load_balancers.c.vip, [lb.vip for lb in state.load_balancers], "VIP"),
        (schema.listeners.c.id, [l.id for l in state.listeners], "listener id"),
        (schema.rules.c.id, [r.id for r in state.rules], "LocationId"),
        (schema.certificates.c.id, [c.id for c in state.certificates], "certificate id"),
        (schema.target_groups.c.id, [g.id for g in state.target_groups], "target group id"),
        (schema.security_groups.c.id, [g.id for g in state.security_groups], "security group id"),
    )
    for column, values, what in wanted:
        if not values:
            continue
        taken = conn.execute(select(column).where(column.in_(values)).limit(1)).scalar()
        if taken is not None:
            raise StateConflict(f"The {what} {taken} of the state is already in use on this server.")
