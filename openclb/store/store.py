"""The store: every read and write of resources and tasks, each write one transaction.

Writes that start work (a new listener, a deletion) commit the changed rows in a PENDING_*
state *and* the task that finishes them in the same transaction, and take the CLB's busy
flag with a test-and-set, so an acknowledged write is durable (SQLite runs WAL with
synchronous=FULL) and two tasks never work on one CLB at once. The store checks no user
input; it raises the few conflicts only the database can see (``StoreConflict`` subclasses).
All methods are synchronous; the services run them off the event loop.

Reads use statements compiled once per store and run on the DBAPI cursor (``_Query``);
writes go through SQLAlchemy Core, where statement building costs little next to a commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import (
    Connection, Table, bindparam, create_engine, delete, event, func, insert, select, update,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from openclb.domain.models import (
    Certificate, Listener, LoadBalancer, ProvisioningState, Rule, Scope, Target, Task, TaskStatus,
)
from openclb.store import schema
from openclb.store.migrations import migrate


class StoreConflict(Exception):
    """A write the database refused because of concurrent or existing state."""


class LoadBalancerBusy(StoreConflict):
    """Another task of this CLB is still running."""


class PortTaken(StoreConflict):
    """A port of the same class is already used on this CLB."""


class VipTaken(StoreConflict):
    """Another CLB was given the same VIP at the same moment."""


class LoadBalancerGone(StoreConflict):
    """The CLB disappeared (or is being deleted) between check and write."""


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; everything else is passed through."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


# Domain types of the columns the database keeps as plain values (enums, JSON lists).
_DOMAIN_TYPES: dict[type, dict[str, Callable[[Any], Any]]] = {
    LoadBalancer: {"state": ProvisioningState},
    Listener: {"state": ProvisioningState},
    Rule: {"domains": tuple},
    Task: {"lb_ids": tuple, "status": TaskStatus},
}


def _columns(table: Table, cls: type) -> list:
    """The columns of ``table`` behind ``cls``'s fields, in field order: rows map by position."""
    return [table.c[f.name] for f in fields(cls)]


def _composed(first: Callable[[Any], Any] | None, then: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """``then(first(value))``, skipping whichever is missing (None when both are)."""
    if first is None:
        return then
    if then is None:
        return first
    return lambda value: then(first(value))


class _Query:
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


class _Reads:
    """Every read the store makes, compiled for one dialect at store construction."""

    def __init__(self, dialect: Dialect) -> None:
        lbs, ls, r, t, c, tasks = (
            schema.load_balancers, schema.listeners, schema.rules, schema.targets, schema.certificates, schema.tasks
        )
        lb_id, app_id, region = bindparam("lb_id"), bindparam("app_id"), bindparam("region")

        def query(statement: Select, cls: type | None = None) -> _Query:
            return _Query(dialect, statement, cls)

        lb_select = select(*_columns(lbs, LoadBalancer))
        self.lb_in_scope = query(lb_select.where(lbs.c.id == lb_id, lbs.c.app_id == app_id, lbs.c.region == region),
                                 LoadBalancer)
        self.lb_by_id = query(lb_select.where(lbs.c.id == lb_id), LoadBalancer)
        self.lbs_in_scope = query(lb_select.where(lbs.c.app_id == app_id, lbs.c.region == region)
                                  .order_by(lbs.c.created_at, lbs.c.id), LoadBalancer)
        self.all_lbs = query(lb_select, LoadBalancer)
        self.vips = query(select(lbs.c.vip))
        self.lb_count = query(select(func.count()).select_from(lbs).where(
            lbs.c.app_id == app_id, lbs.c.region == region, lbs.c.lb_type == bindparam("lb_type")))

        listener_select = select(*_columns(ls, Listener))
        listener_order = (ls.c.created_at, ls.c.port)
        in_scope = listener_select.where(ls.c.lb_id == lb_id, ls.c.app_id == app_id, ls.c.region == region)
        self.live_listeners_in_scope = query(
            in_scope.where(ls.c.state != bindparam("deleting")).order_by(*listener_order), Listener)
        self.listeners_in_scope = query(in_scope.order_by(*listener_order), Listener)
        self.listeners_of = query(listener_select.where(ls.c.lb_id == lb_id).order_by(*listener_order), Listener)
        self.listeners_of_task = query(listener_select.where(ls.c.pending_task_id == bindparam("task_id")), Listener)
        self.listeners_of_account = query(listener_select.where(ls.c.app_id == app_id), Listener)

        rule_select = select(*_columns(r, Rule))
        self.rules_of = query(rule_select.where(r.c.lb_id == lb_id).order_by(r.c.created_at, r.c.id), Rule)
        self.rules_of_account = query(rule_select.where(r.c.app_id == app_id), Rule)

        self.targets_of = query(select(*_columns(t, Target)).where(t.c.lb_id == lb_id)
                                .order_by(t.c.registered_at, t.c.ip, t.c.port), Target)

        task_select = select(*_columns(tasks, Task))
        self.task_in_account = query(task_select.where(tasks.c.id == bindparam("task_id"), tasks.c.app_id == app_id),
                                     Task)
        self.tasks_with_status = query(task_select.where(tasks.c.status == bindparam("status"))
                                       .order_by(tasks.c.created_at), Task)

        self.certificate_in_account = query(select(*_columns(c, Certificate)).where(
            c.c.id == bindparam("cert_id"), c.c.app_id == app_id), Certificate)


def _task_values(task: Task) -> dict:
    values = asdict(task)
    values["lb_ids"] = list(task.lb_ids)
    values["status"] = int(task.status)
    return values


class Store:
    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine: Engine = create_engine(self.url, future=True, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # A file database runs WAL, where readers never wait for the writer: short reads may
        # run on the caller's thread (the event loop). In-memory SQLite is one database per
        # thread, so it never qualifies; PostgreSQL reads are network round trips.
        self.inline_reads = self.is_sqlite and self.engine.url.database not in (None, "", ":memory:")
        with self.engine.begin() as conn:
            migrate(conn)
        self._reads = _Reads(self.engine.dialect)

    def close(self) -> None:
        self.engine.dispose()

    def _reading(self) -> closing:
        """A pooled DBAPI connection for reads, returned (rolled back) to the pool on exit."""
        return closing(self.engine.raw_connection())

    def _take_busy(self, conn: Connection, scope: Scope, lb_id: str, task_id: str) -> None:
        """Test-and-set the CLB's busy flag: the one guard against two tasks on one CLB."""
        lbs = schema.load_balancers
        result = conn.execute(
            update(lbs)
            .where(
                lbs.c.id == lb_id,
                lbs.c.app_id == scope.app_id,
                lbs.c.region == scope.region,
                lbs.c.busy_task_id.is_(None),
                lbs.c.state != ProvisioningState.PENDING_DELETE,
            )
            .values(busy_task_id=task_id)
        )
        if result.rowcount == 1:
            return
        lb = self._reads.lb_in_scope.first(conn.connection, lb_id=lb_id, app_id=scope.app_id, region=scope.region)
        if lb is None or lb.state is ProvisioningState.PENDING_DELETE:
            raise LoadBalancerGone(lb_id)
        raise LoadBalancerBusy(lb_id)

    # Load balancers -----------------------------------------------------------------

    def used_vips(self) -> set[str]:
        with self._reading() as db:
            return {vip for (vip,) in self._reads.vips.rows(db)}

    def count_load_balancers(self, scope: Scope, lb_type: str) -> int:
        with self._reading() as db:
            return self._reads.lb_count.rows(db, app_id=scope.app_id, region=scope.region, lb_type=lb_type)[0][0]

    def insert_load_balancers(self, load_balancers: Sequence[LoadBalancer], task: Task) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(schema.load_balancers), [asdict(lb) for lb in load_balancers])
                conn.execute(insert(schema.tasks).values(**_task_values(task)))
        except IntegrityError as exc:
            raise VipTaken(str(exc)) from exc

    def list_load_balancers(self, scope: Scope) -> list[LoadBalancer]:
        with self._reading() as db:
            return self._reads.lbs_in_scope.all(db, app_id=scope.app_id, region=scope.region)

    def get_load_balancer(self, scope: Scope, lb_id: str) -> LoadBalancer | None:
        with self._reading() as db:
            return self._reads.lb_in_scope.first(db, lb_id=lb_id, app_id=scope.app_id, region=scope.region)

    def get_load_balancer_any(self, lb_id: str) -> LoadBalancer | None:
        """One CLB by id, whatever its scope (the worker's view)."""
        with self._reading() as db:
            return self._reads.lb_by_id.first(db, lb_id=lb_id)

    def all_load_balancers(self) -> list[LoadBalancer]:
        with self._reading() as db:
            return self._reads.all_lbs.all(db)

    def modify_load_balancer(self, scope: Scope, lb_id: str, changes: dict, task: Task) -> None:
        with self.engine.begin() as conn:
            self._take_busy(conn, scope, lb_id, task.id)
            if changes:
                conn.execute(update(schema.load_balancers).where(schema.load_balancers.c.id == lb_id).values(**changes))
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    def mark_load_balancers_deleted(self, scope: Scope, lb_ids: Sequence[str], task: Task) -> None:
        with self.engine.begin() as conn:
            for lb_id in lb_ids:
                self._take_busy(conn, scope, lb_id, task.id)
                conn.execute(
                    update(schema.load_balancers)
                    .where(schema.load_balancers.c.id == lb_id)
                    .values(state=ProvisioningState.PENDING_DELETE)
                )
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    # Listeners ----------------------------------------------------------------------

    def list_listeners(self, scope: Scope, lb_id: str, include_deleting: bool = False) -> list[Listener]:
        with self._reading() as db:
            return self._listeners_in_scope(db, scope, lb_id, include_deleting)

    def load_balancer_listeners(
        self, scope: Scope, lb_id: str
    ) -> tuple[LoadBalancer | None, list[Listener], list[Rule]]:
        """A CLB of the scope with its live listeners and all its rules, on one connection.

        DescribeListeners needs all three: one call is one trip to the store's thread instead
        of three. No CLB gives ``(None, [], [])``.
        """
        with self._reading() as db:
            lb = self._reads.lb_in_scope.first(db, lb_id=lb_id, app_id=scope.app_id, region=scope.region)
            if lb is None:
                return None, [], []
            return lb, self._listeners_in_scope(db, scope, lb_id, False), self._reads.rules_of.all(db, lb_id=lb_id)

    def listeners_of(self, lb_id: str) -> list[Listener]:
        """Every listener row of one CLB, whatever its state (the worker's view)."""
        with self._reading() as db:
            return self._reads.listeners_of.all(db, lb_id=lb_id)

    def _listeners_in_scope(self, db, scope: Scope, lb_id: str, include_deleting: bool) -> list[Listener]:
        if include_deleting:
            return self._reads.listeners_in_scope.all(db, lb_id=lb_id, app_id=scope.app_id, region=scope.region)
        return self._reads.live_listeners_in_scope.all(
            db, lb_id=lb_id, app_id=scope.app_id, region=scope.region, deleting=ProvisioningState.PENDING_DELETE.value
        )

    def add_listeners(
        self, scope: Scope, lb_id: str, new: Sequence[Listener], task: Task, quota: int,
        certificates: Sequence[Certificate] = (), rules: Sequence[Rule] = (),
    ) -> None:
        """Insert listeners, their ports and uploaded certificates with the task; PortTaken on a clash."""
        with self.engine.begin() as conn:
            self._take_busy(conn, scope, lb_id, task.id)
            _insert_certificates(conn, certificates)
            existing = conn.execute(
                select(func.count()).select_from(schema.listeners).where(
                    schema.listeners.c.lb_id == lb_id,
                    schema.listeners.c.state != ProvisioningState.PENDING_DELETE,
                )
            ).scalar_one()
            if existing + len(new) > quota:
                raise QuotaReached(existing)
            conn.execute(insert(schema.listeners), [asdict(listener) for listener in new])
            port_rows = [
                {"lb_id": lb_id, "port_class": str(l.port_class), "port": p, "listener_id": l.id}
                for l in new
                for p in l.ports
            ]
            try:
                with conn.begin_nested():
                    conn.execute(insert(schema.listener_ports), port_rows)
            except IntegrityError as exc:
                raise PortTaken(str(exc.orig)) from exc
            if rules:
                conn.execute(insert(schema.rules), [{**asdict(rule), "domains": list(rule.domains)} for rule in rules])
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    def change_listener(
        self, scope: Scope, listener: Listener, name: str, settings: dict, task: Task,
        certificates: Sequence[Certificate] = (),
    ) -> None:
        with self.engine.begin() as conn:
            self._take_busy(conn, scope, listener.lb_id, task.id)
            _insert_certificates(conn, certificates)
            conn.execute(
                update(schema.listeners)
                .where(schema.listeners.c.id == listener.id)
                .values(
                    name=name,
                    settings=settings,
                    previous_settings=listener.settings,
                    state=ProvisioningState.PENDING_UPDATE,
                    pending_task_id=task.id,
                )
            )
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    def mark_listeners_deleted(self, scope: Scope, lb_id: str, listener_ids: Iterable[str], task: Task) -> None:
        with self.engine.begin() as conn:
            self._take_busy(conn, scope, lb_id, task.id)
            conn.execute(
                update(schema.listeners)
                .where(schema.listeners.c.lb_id == lb_id, schema.listeners.c.id.in_(list(listener_ids)))
                .values(state=ProvisioningState.PENDING_DELETE, pending_task_id=task.id)
            )
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    # Rules --------------------------------------------------------------------------

    def rules_of(self, lb_id: str) -> list[Rule]:
        with self._reading() as db:
            return self._reads.rules_of.all(db, lb_id=lb_id)

    def change_rules(
        self, scope: Scope, lb_id: str, upserts: Sequence[Rule], removals: Sequence[str], task: Task,
        certificates: Sequence[Certificate] = (), per_listener_limit: int = 50,
    ) -> None:
        """Write rule changes of one CLB with their task; removing a rule unbinds its targets."""
        r, t = schema.rules, schema.targets
        with self.engine.begin() as conn:
            self._take_busy(conn, scope, lb_id, task.id)
            _insert_certificates(conn, certificates)
            doomed = [*removals, *(rule.id for rule in upserts)]
            if doomed:
                conn.execute(delete(r).where(r.c.id.in_(doomed)))
            if removals:
                conn.execute(delete(t).where(t.c.location_id.in_(list(removals))))
            if upserts:
                conn.execute(insert(r), [{**asdict(rule), "domains": list(rule.domains)} for rule in upserts])
            for listener_id in {rule.listener_id for rule in upserts}:
                count = conn.execute(select(func.count()).select_from(r).where(r.c.listener_id == listener_id)).scalar_one()
                if count > per_listener_limit:
                    raise QuotaReached(count)
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    def certificate_users(self, app_id: int) -> list[tuple[Listener, list[Rule]]]:
        """Every listener of the account with its rules: where certificates are used."""
        with self._reading() as db:
            listeners = self._reads.listeners_of_account.all(db, app_id=app_id)
            rules = self._reads.rules_of_account.all(db, app_id=app_id)
        return [(l, [rule for rule in rules if rule.listener_id == l.id]) for l in listeners]

    def replace_certificate(
        self, app_id: int, listener_settings: dict[str, dict], rule_settings: dict[str, dict],
        lb_ids: Sequence[str], task: Task, certificates: Sequence[Certificate],
    ) -> None:
        """ReplaceCertForLoadBalancers: new certificate settings everywhere, one task over all CLBs."""
        ls, r = schema.listeners, schema.rules
        with self.engine.begin() as conn:
            for lb_id in lb_ids:
                lb = self._reads.lb_by_id.first(conn.connection, lb_id=lb_id)
                self._take_busy(conn, Scope(lb.app_id, lb.region), lb_id, task.id)
            _insert_certificates(conn, certificates)
            for listener_id, settings in listener_settings.items():
                conn.execute(update(ls).where(ls.c.id == listener_id, ls.c.app_id == app_id).values(settings=settings))
            for rule_id, settings in rule_settings.items():
                conn.execute(update(r).where(r.c.id == rule_id, r.c.app_id == app_id).values(settings=settings))
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    # Targets ------------------------------------------------------------------------

    def targets_of(self, lb_id: str) -> list[Target]:
        with self._reading() as db:
            return self._reads.targets_of.all(db, lb_id=lb_id)

    def change_targets(
        self, scope: Scope, lb_id: str, upserts: Sequence[Target], removals: Sequence[Target], task: Task,
        per_listener_limit: int,
    ) -> None:
        """Write target changes of one CLB with their task; QuotaReached past the per-listener limit."""
        t = schema.targets
        with self.engine.begin() as conn:
            self._take_busy(conn, scope, lb_id, task.id)
            for target in [*removals, *upserts]:
                conn.execute(delete(t).where(
                    t.c.listener_id == target.listener_id, t.c.location_id == target.location_id,
                    t.c.ip == target.ip, t.c.port == target.port,
                ))
            if upserts:
                conn.execute(insert(t), [asdict(target) for target in upserts])
            for listener_id in {target.listener_id for target in upserts}:
                count = conn.execute(
                    select(func.count()).select_from(t).where(t.c.listener_id == listener_id)
                ).scalar_one()
                if count > per_listener_limit:
                    raise QuotaReached(count)
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    # Tasks --------------------------------------------------------------------------

    def insert_task(self, task: Task) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    def get_task(self, scope: Scope, task_id: str) -> Task | None:
        with self._reading() as db:
            return self._reads.task_in_account.first(db, task_id=task_id, app_id=scope.app_id)

    def running_tasks(self) -> list[Task]:
        with self._reading() as db:
            return self._reads.tasks_with_status.all(db, status=int(TaskStatus.RUNNING))

    def finish_task(
        self, task: Task, failed_listener_ids: Iterable[str], message: str | None, finished_at: str
    ) -> None:
        """Settle every row the task touched: ACTIVE, rolled back or removed; free the CLBs."""
        failed = set(failed_listener_ids)
        status = TaskStatus.FAILED if failed or message else TaskStatus.SUCCEEDED
        ls, lbs = schema.listeners, schema.load_balancers
        with self.engine.begin() as conn:
            for listener in self._reads.listeners_of_task.all(conn.connection, task_id=task.id):
                _settle_listener(conn, listener, listener.id in failed)
            for lb_id in task.lb_ids:
                lb = self._reads.lb_by_id.first(conn.connection, lb_id=lb_id)
                if lb is None:
                    continue
                if lb.state == ProvisioningState.PENDING_DELETE and status is TaskStatus.SUCCEEDED:
                    conn.execute(delete(schema.targets).where(schema.targets.c.lb_id == lb_id))
                    conn.execute(delete(schema.rules).where(schema.rules.c.lb_id == lb_id))
                    conn.execute(delete(schema.listener_ports).where(schema.listener_ports.c.lb_id == lb_id))
                    conn.execute(delete(ls).where(ls.c.lb_id == lb_id))
                    conn.execute(delete(lbs).where(lbs.c.id == lb_id))
                    continue
                conn.execute(
                    update(lbs)
                    .where(lbs.c.id == lb_id, lbs.c.busy_task_id == task.id)
                    .values(busy_task_id=None, status=1, state=ProvisioningState.ACTIVE)
                )
            conn.execute(
                update(schema.tasks)
                .where(schema.tasks.c.id == task.id)
                .values(status=int(status), message=message, finished_at=finished_at)
            )

    # Certificates -------------------------------------------------------------------

    def certificates_by_id(self, cert_ids: Iterable[str]) -> dict[str, Certificate]:
        """Certificates by id, whatever the account (the worker's view, to load TLS contexts)."""
        c = schema.certificates
        wanted = sorted(set(cert_ids))
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(*_columns(c, Certificate)).where(c.c.id.in_(wanted)))
            return {certificate.id: certificate for certificate in (Certificate(*row) for row in rows)}

    def get_certificate(self, app_id: int, cert_id: str) -> Certificate | None:
        with self._reading() as db:
            return self._reads.certificate_in_account.first(db, cert_id=cert_id, app_id=app_id)


class QuotaReached(StoreConflict):
    """The CLB already holds as many listeners as its quota allows."""

    def __init__(self, existing: int) -> None:
        super().__init__(existing)
        self.existing = existing


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _insert_certificates(conn: Connection, certificates: Sequence[Certificate]) -> None:
    if certificates:
        conn.execute(insert(schema.certificates), [asdict(c) for c in certificates])


def _settle_listener(conn: Connection, listener: Listener, failed: bool) -> None:
    ls = schema.listeners
    remove = (listener.state is ProvisioningState.PENDING_DELETE and not failed) or (
        listener.state is ProvisioningState.PENDING_CREATE and failed
    )
    if remove:
        conn.execute(delete(schema.targets).where(schema.targets.c.listener_id == listener.id))
        conn.execute(delete(schema.rules).where(schema.rules.c.listener_id == listener.id))
        conn.execute(delete(schema.listener_ports).where(schema.listener_ports.c.listener_id == listener.id))
        conn.execute(delete(ls).where(ls.c.id == listener.id))
        return
    values: dict = {"state": ProvisioningState.ACTIVE, "pending_task_id": None, "previous_settings": None}
    if failed and listener.state is ProvisioningState.PENDING_UPDATE and listener.previous_settings is not None:
        values["settings"] = listener.previous_settings
    conn.execute(update(ls).where(ls.c.id == listener.id).values(**values))
