"""Reads compiled once per store: fixed-shape SELECTs run straight on the DBAPI cursor.

For a ten-row read SQLAlchemy Core spends several times longer than the database (statement
and cache key, execution context, per-row result processing, a dict per row). ``Query``
works the SQL text, the parameter order and each column's decoder out once per dialect and
builds domain objects by column position; ``Reads`` holds every read the store makes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select

from openclb.domain.models import Certificate, Listener, LoadBalancer, ProvisioningState, Rule, Target, Task, TaskStatus
from openclb.store import schema


# Domain types of the columns the database keeps as plain values (enums, JSON lists).
_DOMAIN_TYPES: dict[type, dict[str, Callable[[Any], Any]]] = {
    LoadBalancer: {"state": ProvisioningState},
    Listener: {"state": ProvisioningState},
    Rule: {"domains": tuple},
    Task: {"lb_ids": tuple, "status": TaskStatus},
}


def columns(table: Table, cls: type) -> list:
    """The columns of ``table`` behind ``cls``'s fields, in field order: rows map by position."""
    return [table.c[f.name] for f in fields(cls)]


def _composed(first: Callable[[Any], Any] | None, then: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """``then(first(value))``, skipping whichever is missing (None when both are)."""
    if first is None:
        return then
    if then is None:
        return first
    return lambda value: then(first(value))


class Query:
    """One fixed-shape SELECT, compiled once for the store's dialect and run on the DBAPI cursor.

    For a ten-row read SQLAlchemy Core spends several times longer than the database:
    building the statement and its cache key, the execution context, per-row result
    processing, then a dict per row. Here the SQL text, the parameter order and each column's
    decoder (SQLAlchemy's own result processor for the dialect, then the domain type) are
    worked out once, and rows become domain objects by column position. Parameters are named
    ``bindparam``s given as plain values; expanding IN lists do not qualify.
    """

    def __init__(self, dialect: Dialect, statement: Select, cls: type | None = None) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self._order = tuple(compiled.positiontup) if dialect.positional else None
        self._cls = cls
        domain = _DOMAIN_TYPES.get(cls, {})
        decoders = []
        for index, column in enumerate(statement.selected_columns):
            decode = _composed(column.type.dialect_impl(dialect).result_processor(dialect, None),
                               domain.get(column.name))
            if decode is not None:
                decoders.append((index, decode))
        self._decoders = tuple(decoders)

    def rows(self, connection, **params: Any) -> list[tuple]:
        """Raw rows, undecoded; ``connection`` is a DBAPI connection (pooled, or a Connection's)."""
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql, params if self._order is None else [params[name] for name in self._order])
            return cursor.fetchall()
        finally:
            cursor.close()

    def all(self, connection, **params: Any) -> list:
        return [self._build(row) for row in self.rows(connection, **params)]

    def first(self, connection, **params: Any):
        rows = self.rows(connection, **params)
        return self._build(rows[0]) if rows else None

    def _build(self, row):
        if self._decoders:
            row = list(row)
            for index, decode in self._decoders:
                row[index] = decode(row[index])
        return self._cls(*row)


class Reads:
    """Every read the store makes, compiled for one dialect at store construction."""

    def __init__(self, dialect: Dialect) -> None:
        lbs, ls, r, t, c, tasks = (
            schema.load_balancers, schema.listeners, schema.rules, schema.targets, schema.certificates, schema.tasks
        )
        lb_id, app_id, region = bindparam("lb_id"), bindparam("app_id"), bindparam("region")

        def query(statement: Select, cls: type | None = None) -> Query:
            return Query(dialect, statement, cls)

        lb_select = select(*columns(lbs, LoadBalancer))
        self.lb_in_scope = query(lb_select.where(lbs.c.id == lb_id, lbs.c.app_id == app_id, lbs.c.region == region),
                                 LoadBalancer)
        self.lb_by_id = query(lb_select.where(lbs.c.id == lb_id), LoadBalancer)
        self.lbs_in_scope = query(lb_select.where(lbs.c.app_id == app_id, lbs.c.region == region)
                                  .order_by(lbs.c.created_at, lbs.c.id), LoadBalancer)
        self.all_lbs = query(lb_select, LoadBalancer)
        self.vips = query(select(lbs.c.vip))
        self.lb_count = query(select(func.count()).select_from(lbs).where(
            lbs.c.app_id == app_id, lbs.c.region == region, lbs.c.lb_type == bindparam("lb_type")))

        listener_select = select(*columns(ls, Listener))
        listener_order = (ls.c.created_at, ls.c.port)
        in_scope = listener_select.where(ls.c.lb_id == lb_id, ls.c.app_id == app_id, ls.c.region == region)
        self.live_listeners_in_scope = query(
            in_scope.where(ls.c.state != bindparam("deleting")).order_by(*listener_order), Listener)
        self.listeners_in_scope = query(in_scope.order_by(*listener_order), Listener)
        self.listeners_of = query(listener_select.where(ls.c.lb_id == lb_id).order_by(*listener_order), Listener)
        self.listeners_of_account = query(listener_select.where(ls.c.app_id == app_id), Listener)

        rule_select = select(*columns(r, Rule))
        self.rules_of = query(rule_select.where(r.c.lb_id == lb_id).order_by(r.c.created_at, r.c.id), Rule)
        self.rules_of_account = query(rule_select.where(r.c.app_id == app_id), Rule)

        self.targets_of = query(select(*columns(t, Target)).where(t.c.lb_id == lb_id)
                                .order_by(t.c.registered_at, t.c.ip, t.c.port), Target)

        task_select = select(*columns(tasks, Task))
        self.task_in_account = query(task_select.where(tasks.c.id == bindparam("task_id"), tasks.c.app_id == app_id),
                                     Task)
        self.tasks_with_status = query(task_select.where(tasks.c.status == bindparam("status"))
                                       .order_by(tasks.c.created_at), Task)

        self.certificate_in_account = query(select(*columns(c, Certificate)).where(
            c.c.id == bindparam("cert_id"), c.c.app_id == app_id), Certificate)
