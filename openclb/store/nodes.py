"""The nodes of one PostgreSQL store: registration, heartbeats, answers per task, settling once.

Several ``openclb serve --node-name`` processes share one PostgreSQL database. Each row of
``nodes`` is one of them: its heartbeat is written with the database's clock (``now()``), so a
node counts as live while its last heartbeat is younger than the timeout by that one clock,
whatever the nodes' own clocks say. A node is ``ready`` once it has applied every CLB since it
(re)joined; only live, ready nodes are waited for.

A running task is applied by every node; each writes its answer in ``task_applies`` (None, or
the engine's message) and announces it on the store's channel. The task settles once: when a
node has refused it (Status 1 with that node's message), or when every live, ready node has
applied it (Status 0). Any node may be the one to settle it: ``settle_once`` locks the task
row and settles only a task still running, so the nodes may race for it and one wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from openclb.domain.models import Task, TaskKind, TaskStatus
from openclb.store import schema, transitions


@dataclass(frozen=True)
class NodeRow:
    """One node as ``openclb nodes list`` shows it."""

    name: str
    api_url: str
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age: float
    applied_version: int
    ready: bool
    live: bool


@dataclass(frozen=True)
class TaskAnswers:
    """Where a running task stands across the nodes: who has answered, who is still awaited."""

    failures: dict[str, str]
    awaited: frozenset[str]

    @property
    def verdict(self) -> str | None:
        """None while a live node is still awaited; "" when all applied; else the failure message."""
        if self.failures:
            return "; ".join(f"node {name}: {message}" for name, message in sorted(self.failures.items()))
        return None if self.awaited else ""


def channel(conn: Connection) -> str:
    """The notification channel of the store ``conn`` is connected to (one per schema)."""
    return "openclb_" + conn.execute(text("SELECT current_schema()")).scalar_one()


def _notify(conn: Connection, payload: dict) -> None:
    conn.execute(text("SELECT pg_notify('openclb_' || current_schema(), :payload)"),
                 {"payload": json.dumps(payload)})


def register(engine: Engine, name: str, api_url: str) -> None:
    """The node (re)joins: heartbeat now, not ready until it has applied every CLB."""
    n = schema.nodes
    with engine.begin() as conn:
        conn.execute(pg_insert(n).values(name=name, api_url=api_url, started_at=func.now(), heartbeat_at=func.now(),
                                         applied_version=0, ready=False)
                     .on_conflict_do_update(index_elements=[n.c.name], set_=dict(
                         api_url=api_url, started_at=func.now(), heartbeat_at=func.now(), ready=False)))


def heartbeat(engine: Engine, name: str, applied_version: int) -> None:
    n = schema.nodes
    with engine.begin() as conn:
        conn.execute(update(n).where(n.c.name == name)
                     .values(heartbeat_at=func.now(), applied_version=applied_version))


def set_api_url(engine: Engine, name: str, api_url: str) -> None:
    n = schema.nodes
    with engine.begin() as conn:
        conn.execute(update(n).where(n.c.name == name).values(api_url=api_url))


def set_ready(engine: Engine, name: str, ready: bool) -> None:
    n = schema.nodes
    with engine.begin() as conn:
        conn.execute(update(n).where(n.c.name == name).values(ready=ready, heartbeat_at=func.now()))


def current_version(engine: Engine) -> int:
    """The newest state version handed out (0 before the first task)."""
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM openclb_state_version")).scalar_one())


def _age():
    return func.extract("epoch", func.now() - schema.nodes.c.heartbeat_at)


def list_nodes(engine: Engine, timeout: float) -> list[NodeRow]:
    n = schema.nodes
    with engine.connect() as conn:
        rows = conn.execute(select(n.c.name, n.c.api_url, n.c.started_at, n.c.heartbeat_at, _age(),
                                   n.c.applied_version, n.c.ready).order_by(n.c.name)).all()
    return [NodeRow(name, url, started, beat, float(age), int(version), bool(ready), float(age) <= timeout)
            for name, url, started, beat, age, version, ready in rows]


def record_answer(engine: Engine, task_id: str, node_name: str, message: str | None) -> None:
    """This node's answer for a running task (applied: None; refused: the engine's message)."""
    a = schema.task_applies
    with engine.begin() as conn:
        conn.execute(pg_insert(a).values(task_id=task_id, node_name=node_name, message=message)
                     .on_conflict_do_update(index_elements=[a.c.task_id, a.c.node_name], set_=dict(message=message)))
        _notify(conn, {"answer": task_id, "node": node_name})


def ask_resync(engine: Engine, node_name: str) -> None:
    """Every node applies every CLB again: rows changed without a task (ResetState) are noticed."""
    with engine.begin() as conn:
        _notify(conn, {"resync": node_name})


def answers(engine: Engine, task_id: str, timeout: float) -> TaskAnswers:
    """The failures so far and the live, ready nodes that have not answered yet."""
    a, n = schema.task_applies, schema.nodes
    with engine.connect() as conn:
        given = dict(conn.execute(select(a.c.node_name, a.c.message).where(a.c.task_id == task_id)).all())
        live = {name for (name,) in conn.execute(
            select(n.c.name).where(n.c.ready.is_(True), _age() <= bindparam("timeout")), {"timeout": timeout})}
    failures = {name: message for name, message in given.items() if message is not None}
    return TaskAnswers(failures, frozenset(live - set(given)))


def task_by_id(engine: Engine, task_id: str) -> Task | None:
    t = schema.tasks
    with engine.connect() as conn:
        row = conn.execute(select(t.c.id, t.c.app_id, t.c.region, t.c.kind, t.c.lb_ids, t.c.status, t.c.created_at,
                                  t.c.message, t.c.finished_at).where(t.c.id == task_id)).mappings().first()
    return None if row is None else _task(row)


def _task(row) -> Task:
    fields = dict(row)
    fields["lb_ids"] = tuple(fields["lb_ids"])
    fields["status"] = TaskStatus(fields["status"])
    fields["kind"] = TaskKind(fields["kind"])
    return Task(**{k: v for k, v in fields.items() if k in Task.__dataclass_fields__})


def task_status(engine: Engine, task_id: str) -> TaskStatus | None:
    with engine.connect() as conn:
        status = conn.execute(select(schema.tasks.c.status).where(schema.tasks.c.id == task_id)).scalar()
    return None if status is None else TaskStatus(status)


def settle_once(engine: Engine, task: Task, message: str | None, finished_at: str) -> tuple[TaskStatus, bool]:
    """Settle ``task`` as ``transitions.settle`` does, unless another node already has.

    Its status, and whether this call settled it.
    """
    with engine.begin() as conn:
        status = conn.execute(select(schema.tasks.c.status).where(schema.tasks.c.id == task.id)
                              .with_for_update()).scalar()
        if status is None or TaskStatus(status) is not TaskStatus.RUNNING:
            return (TaskStatus(status) if status is not None else TaskStatus.FAILED), False
        outcome = transitions.settle_in(conn, task, message, finished_at)
        conn.execute(delete(schema.task_applies).where(schema.task_applies.c.task_id == task.id))
        return outcome, True
