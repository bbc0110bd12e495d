"""How a task's write begins and how the task settles: the busy flag, before-images, rollback.

Every write that starts a task goes through one ``TaskWrite``: one transaction that takes the
busy flag of each CLB it touches (test-and-set: one running task per CLB), records the
before-image of every row it inserts, updates or deletes in ``task_changes``, and commits
with the task row. So each task knows exactly what it changed, whatever the action:
listeners, ports, rules, targets, certificates, CLB attributes.

When the task settles (``settle``):
- succeeded: listeners it left PENDING_CREATE/UPDATE become ACTIVE, PENDING_DELETE ones and
  CLBs being deleted go with everything below them; its before-images are dropped;
- failed: its changes are undone from the before-images, newest first (an inserted row is
  deleted, an updated row gets its old values back, a deleted row returns), so the store
  holds the last state that worked; the worker then applies that state to the engine again.
Either way the CLBs' busy flags are released and the task gets its Status in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from openclb.domain.models import ProvisioningState, Scope, Task, TaskStatus
from openclb.store import schema


class StoreConflict(Exception):
    """A write the database refused because of concurrent or existing state."""


class LoadBalancerBusy(StoreConflict):
    """Another task of this CLB is still running."""


class LoadBalancerGone(StoreConflict):
    """The CLB disappeared (or is being deleted) between check and write."""


class PortTaken(StoreConflict):
    """A port of the same class is already used on this CLB."""


class QuotaReached(StoreConflict):
    """A write would take a CLB or listener past its quota; ``existing`` is what it holds."""

    def __init__(self, existing: int) -> None:
        super().__init__(existing)
        self.existing = existing


_TABLES = {table.name: table for table in schema.metadata.sorted_tables}
# The column that names the listener a row belongs to: how a failure is traced to a task.
_LISTENER_COLUMN = {"listeners": "id", "listener_ports": "listener_id", "rules": "listener_id", "targets": "listener_id",
                    "target_group_associations": "listener_id"}


def task_values(task: Task) -> dict[str, Any]:
    values = asdict(task)
    values["lb_ids"] = list(task.lb_ids)
    values["status"] = int(task.status)
    return values


def _key(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    return {column.name: row[column.name] for column in table.primary_key.columns}


def _where_key(table: Table, key: dict[str, Any]) -> ColumnElement:
    return and_(*(table.c[name] == value for name, value in key.items()))


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON keeps it (tuples become lists; everything else already is plain)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in row.items()}


class TaskWrite:
    """The rows of one task's write, each change recorded with its before-image."""

    def __init__(self, conn: Connection, task: Task) -> None:
        self.conn = conn
        self.task = task
        self._seq = 0

    def take_busy(self, scope: Scope, lb_id: str) -> None:
        """Test-and-set the CLB's busy flag: the one guard against two tasks on one CLB."""
        lbs = schema.load_balancers
        result = self.conn.execute(
            update(lbs)
            .where(lbs.c.id == lb_id, lbs.c.app_id == scope.app_id, lbs.c.region == scope.region,
                   lbs.c.busy_task_id.is_(None), lbs.c.state != ProvisioningState.PENDING_DELETE)
            .values(busy_task_id=self.task.id)
        )
        if result.rowcount == 1:
            return
        state = self.conn.execute(
            select(lbs.c.state).where(lbs.c.id == lb_id, lbs.c.app_id == scope.app_id, lbs.c.region == scope.region)
        ).scalar()
        if state is None or state == ProvisioningState.PENDING_DELETE:
            raise LoadBalancerGone(lb_id)
        raise LoadBalancerBusy(lb_id)

    def _record(self, table: Table, change: str, row: dict[str, Any], before: dict[str, Any] | None) -> None:
        self._seq += 1
        column = _LISTENER_COLUMN.get(table.name)
        self.conn.execute(insert(schema.task_changes).values(
            task_id=self.task.id, seq=self._seq, table_name=table.name, change=change,
            row_key=_key(table, row), before=None if before is None else _plain(before),
            listener_id=row[column] if column else None,
        ))

    def insert(self, table: Table, rows: Sequence[dict[str, Any]], conflict: type[Exception] | None = None) -> None:
        """Insert rows; with ``conflict``, a unique-key clash raises it (and nothing of this call stays)."""
        if not rows:
            return
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(table), [_plain(row) for row in rows])
        except IntegrityError as exc:
            if conflict is None:
                raise
            raise conflict(str(exc.orig)) from exc
        for row in rows:
            self._record(table, "insert", row, None)

    def update(self, table: Table, where: ColumnElement, **values: Any) -> None:
        for before in self.conn.execute(select(table).where(where)).mappings().all():
            self._record(table, "update", dict(before), dict(before))
        self.conn.execute(update(table).where(where).values(**values))

    def delete(self, table: Table, where: ColumnElement) -> None:
        for before in self.conn.execute(select(table).where(where)).mappings().all():
            self._record(table, "delete", dict(before), dict(before))
        self.conn.execute(delete(table).where(where))

    def scalar(self, statement) -> Any:
        return self.conn.execute(statement).scalar_one()


@contextmanager
def task_write(engine: Engine, task: Task) -> Iterator[TaskWrite]:
    """One transaction: the caller's changes, then the task row; committed together or not at all."""
    with engine.begin() as conn:
        write = TaskWrite(conn, task)
        yield write
        conn.execute(insert(schema.tasks).values(**task_values(task)))


def changed_listener_ids(conn: Connection, task_id: str) -> set[str]:
    tc = schema.task_changes
    rows = conn.execute(select(tc.c.listener_id).where(tc.c.task_id == task_id, tc.c.listener_id.is_not(None)))
    return {listener_id for (listener_id,) in rows}


def _roll_back(conn: Connection, task_id: str) -> None:
    tc = schema.task_changes
    changes = conn.execute(select(tc).where(tc.c.task_id == task_id).order_by(tc.c.seq.desc())).mappings().all()
    for change in changes:
        table = _TABLES[change["table_name"]]
        where = _where_key(table, change["row_key"])
        if change["change"] == "insert":
            conn.execute(delete(table).where(where))
        elif change["change"] == "update":
            conn.execute(update(table).where(where).values(**change["before"]))
        else:
            conn.execute(insert(table).values(**change["before"]))


def _settle_listeners(conn: Connection, listener_ids: set[str]) -> None:
    """Listeners the task left pending: ACTIVE, or gone with their ports, rules and targets."""
    ls = schema.listeners
    if not listener_ids:
        return
    doomed = [listener_id for (listener_id,) in conn.execute(
        select(ls.c.id).where(ls.c.id.in_(listener_ids), ls.c.state == ProvisioningState.PENDING_DELETE))]
    for table in (schema.targets, schema.target_group_associations, schema.rules, schema.listener_ports):
        conn.execute(delete(table).where(table.c.listener_id.in_(doomed)))
    conn.execute(delete(ls).where(ls.c.id.in_(doomed)))
    conn.execute(update(ls).where(ls.c.id.in_(listener_ids), ls.c.state != ProvisioningState.ACTIVE)
                 .values(state=ProvisioningState.ACTIVE, pending_task_id=None))


def _settle_load_balancer(conn: Connection, lb_id: str, task_id: str, succeeded: bool) -> None:
    lbs = schema.load_balancers
    state = conn.execute(select(lbs.c.state).where(lbs.c.id == lb_id)).scalar()
    if state is None:
        return
    if state == ProvisioningState.PENDING_DELETE and succeeded:
        for table in (schema.targets, schema.target_group_associations, schema.rules, schema.listener_ports,
                      schema.listeners):
            conn.execute(delete(table).where(table.c.lb_id == lb_id))
        conn.execute(delete(lbs).where(lbs.c.id == lb_id))
        return
    conn.execute(update(lbs).where(lbs.c.id == lb_id, lbs.c.busy_task_id == task_id)
                 .values(busy_task_id=None, status=1, state=ProvisioningState.ACTIVE))


def settle(engine: Engine, task: Task, message: str | None, finished_at: str) -> TaskStatus:
    """Finish ``task``: keep its changes (no message) or undo them (a message says why it failed)."""
    with engine.begin() as conn:
        return settle_in(conn, task, message, finished_at)


def settle_in(conn: Connection, task: Task, message: str | None, finished_at: str) -> TaskStatus:
    """``settle`` inside the caller's transaction (the nodes of one store settle under a row lock)."""
    status = TaskStatus.FAILED if message else TaskStatus.SUCCEEDED
    tc = schema.task_changes
    if status is TaskStatus.FAILED:
        _roll_back(conn, task.id)
    else:
        _settle_listeners(conn, changed_listener_ids(conn, task.id))
    conn.execute(delete(tc).where(tc.c.task_id == task.id))
    for lb_id in task.lb_ids:
        _settle_load_balancer(conn, lb_id, task.id, status is TaskStatus.SUCCEEDED)
    conn.execute(update(schema.tasks).where(schema.tasks.c.id == task.id)
                 .values(status=int(status), message=message, finished_at=finished_at))
    return status
