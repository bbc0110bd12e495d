"""The store: the reads every layer shares, and the plumbing of writes.

Writes that start work go through ``task_write`` (``transitions.py``): the changed rows in a
PENDING_* state, their before-images and the task that finishes them commit in one
transaction, under the CLB's busy flag, so an acknowledged write is durable (SQLite runs WAL
with synchronous=FULL), two tasks never work on one CLB at once, and a task the engine
refuses can be undone exactly. Each resource's own writes live in its package
(``resources/<name>/queries.py``); the store checks no user input and raises only the
conflicts the database sees (``StoreConflict`` subclasses). All methods are synchronous; the
services run them off the event loop (or inline for short SQLite reads, ``inline_reads``).

What the store holds stays between it and its owner: a SQLite database file (and its -wal and
-shm files) is readable by its owner only, deleted content is overwritten (secure_delete),
and an error of the database never carries the values of a statement (SQLAlchemy's
parameters are hidden, PostgreSQL's DETAIL, which quotes row values, is dropped), so a
logged store error shows no stored value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import create_engine, event, insert, select, text, update
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DBAPIError, IntegrityError

from openclb.domain.models import (
    Certificate, Listener, LoadBalancer, ProvisioningState, Rule, Scope, Target, Task, TaskStatus,
)
from openclb.store import schema, transitions
from openclb.store.migrations import migrate
from openclb.store.query import Reads, columns
from openclb.store.transitions import LoadBalancerBusy, LoadBalancerGone, StoreConflict, task_values


class VipTaken(StoreConflict):
    """Another CLB was given the same VIP at the same moment."""


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; everything else is passed through."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Store:
    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine: Engine = create_engine(
            self.url, future=True, pool_pre_ping=not self.is_sqlite, hide_parameters=True
        )
        event.listen(self.engine, "handle_error", _without_row_values)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # A file database runs WAL, where readers never wait for the writer: short reads may
        # run on the caller's thread (the event loop). In-memory SQLite is one database per
        # thread, so it never qualifies; PostgreSQL reads are network round trips.
        self.inline_reads = self.is_sqlite and self.engine.url.database not in (None, "", ":memory:")
        # What a store call raises when the database cannot be reached: SQLAlchemy's wrapper, and
        # the driver's own errors from reads that run on the DBAPI cursor (``query.Query``).
        dbapi = self.engine.dialect.dbapi
        self.unavailable_errors: tuple[type[BaseException], ...] = (
            sa_exc.OperationalError, sa_exc.InterfaceError, dbapi.OperationalError, dbapi.InterfaceError)
        self.database_file = Path(self.engine.url.database) if self.inline_reads else None
        if self.database_file is not None:
            _create_owner_only(self.database_file)
        with self.engine.begin() as conn:
            migrate(conn)
        if self.database_file is not None:
            _owner_only(self.database_file)
        self._reads = Reads(self.engine.dialect)

    def close(self) -> None:
        self.engine.dispose()

    def _reading(self) -> closing:
        """A pooled DBAPI connection for reads, returned (rolled back) to the pool on exit."""
        return closing(self.engine.raw_connection())

    def task_write(self, task: Task):
        """The one transaction of a write that starts ``task`` (see ``transitions.TaskWrite``)."""
        return transitions.task_write(self.engine, task)

    def settle_task(self, task: Task, message: str | None, finished_at: str) -> TaskStatus:
        """Keep the task's changes or, with a failure ``message``, roll them back; free its CLBs."""
        return transitions.settle(self.engine, task, message, finished_at)

    def changed_listener_ids(self, task_id: str) -> set[str]:
        """The listeners whose rows (or ports, rules, targets) ``task_id``'s write changed."""
        with self.engine.connect() as conn:
            return transitions.changed_listener_ids(conn, task_id)

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
                conn.execute(insert(schema.tasks).values(**task_values(task)))
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

    def rules_of(self, lb_id: str) -> list[Rule]:
        with self._reading() as db:
            return self._reads.rules_of.all(db, lb_id=lb_id)

    def certificate_users(self, app_id: int) -> list[tuple[Listener, list[Rule]]]:
        """Every listener of the account with its rules: where certificates are used."""
        with self._reading() as db:
            listeners = self._reads.listeners_of_account.all(db, app_id=app_id)
            rules = self._reads.rules_of_account.all(db, app_id=app_id)
        return [(l, [rule for rule in rules if rule.listener_id == l.id]) for l in listeners]

    def targets_of(self, lb_id: str) -> list[Target]:
        with self._reading() as db:
            return self._reads.targets_of.all(db, lb_id=lb_id)

    def insert_task(self, task: Task) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(schema.tasks).values(**task_values(task)))

    def get_task(self, scope: Scope, task_id: str) -> Task | None:
        with self._reading() as db:
            return self._reads.task_in_account.first(db, task_id=task_id, app_id=scope.app_id)

    def running_tasks(self) -> list[Task]:
        with self._reading() as db:
            return self._reads.tasks_with_status.all(db, status=int(TaskStatus.RUNNING))

    def certificates_by_id(self, cert_ids: Iterable[str]) -> dict[str, Certificate]:
        """Certificates by id, whatever the account (the worker's view, to load TLS contexts)."""
        c = schema.certificates
        wanted = sorted(set(cert_ids))
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(*columns(c, Certificate)).where(c.c.id.in_(wanted)))
            return {certificate.id: certificate for certificate in (Certificate(*row) for row in rows)}

    def get_certificate(self, app_id: int, cert_id: str) -> Certificate | None:
        with self._reading() as db:
            return self._reads.certificate_in_account.first(db, cert_id=cert_id, app_id=app_id)

    def private_keys(self) -> dict[str, str]:
        """Every stored private key (as stored) by certificate id."""
        c = schema.certificates
        with self.engine.connect() as conn:
            return dict(conn.execute(select(c.c.id, c.c.key_pem).where(c.c.key_pem.is_not(None))).all())

    def replace_private_keys(self, changes: dict[str, tuple[str, str]]) -> None:
        """Stored keys ``{id: (old, new)}`` replaced in one transaction (a row no longer ``old`` is left).

        On SQLite the write-ahead log is then checkpointed and emptied, so the old values
        survive in neither the log nor (secure_delete) the database file.
        """
        c = schema.certificates
        with self.engine.begin() as conn:
            for cert_id, (old, new) in changes.items():
                conn.execute(update(c).where(c.c.id == cert_id, c.c.key_pem == old).values(key_pem=new))
        if self.database_file is not None:
            with self.engine.connect() as conn:
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

    def get_meta(self, name: str) -> str | None:
        m = schema.store_meta
        with self.engine.connect() as conn:
            return conn.execute(select(m.c.value).where(m.c.name == name)).scalar()

    def put_meta_once(self, name: str, value: str) -> str:
        """Store ``value`` under ``name`` unless a value is there already; returns the stored one."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(schema.store_meta).values(name=name, value=value))
        except IntegrityError:
            pass
        stored = self.get_meta(name)
        return value if stored is None else stored


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def _create_owner_only(path: Path) -> None:
    """The database file exists, mode 0600, before SQLite opens it (its -wal and -shm take that mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    _owner_only(path)


def _owner_only(path: Path) -> None:
    """The database file and its companions, made 0600 where an older version left them wider."""
    for suffix in SQLITE_SUFFIXES:
        companion = path.with_name(path.name + suffix)
        try:
            if companion.stat().st_mode & 0o077:
                os.chmod(companion, 0o600)
        except FileNotFoundError:
            continue


def _without_row_values(context: ExceptionContext) -> DBAPIError | None:
    """A PostgreSQL error keeps its primary message only: its DETAIL quotes the failing row.

    ("Failing row contains (...)", "Key (...)=(...)"): the replacement has the same class, so
    callers catch it as before, and hides the statement's parameters.
    """
    original = context.original_exception
    diag = getattr(original, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary or str(original) == primary or context.sqlalchemy_exception is None:
        return None
    original.args = (primary,)
    return DBAPIError.instance(
        context.statement, None, original, context.dialect.loaded_dbapi.Error, hide_parameters=True,
        dialect=context.dialect, connection_invalidated=context.is_disconnect,
    )


__all__ = ["LoadBalancerBusy", "LoadBalancerGone", "Store", "StoreConflict", "VipTaken"]
