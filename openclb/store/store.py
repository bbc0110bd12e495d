"""The store: every read and write of resources and tasks, each write one transaction.

Writes that start work (a new listener, a deletion) commit the changed rows in a PENDING_*
state *and* the task that finishes them in the same transaction, and take the CLB's busy
flag with a test-and-set, so an acknowledged write is durable (SQLite runs WAL with
synchronous=FULL) and two tasks never work on one CLB at once. The store checks no user
input; it raises the few conflicts only the database can see (``StoreConflict`` subclasses).
All methods are synchronous; the services run them off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, fields

from sqlalchemy import Connection, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

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


def _row_to(cls, row) -> object:
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in row._mapping.items() if k in names}
    if "lb_ids" in values:
        values["lb_ids"] = tuple(values["lb_ids"])
    if "domains" in values:
        values["domains"] = tuple(values["domains"])
    if "state" in values:
        values["state"] = ProvisioningState(values["state"])
    if cls is Task:
        values["status"] = TaskStatus(values["status"])
    return cls(**values)


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
        with self.engine.begin() as conn:
            migrate(conn)

    def close(self) -> None:
        self.engine.dispose()

    # Load balancers -----------------------------------------------------------------

    def used_vips(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(schema.load_balancers.c.vip)).scalars())

    def count_load_balancers(self, scope: Scope, lb_type: str) -> int:
        lbs = schema.load_balancers
        with self.engine.connect() as conn:
            query = select(func.count()).where(
                lbs.c.app_id == scope.app_id, lbs.c.region == scope.region, lbs.c.lb_type == lb_type
            )
            return conn.execute(query).scalar_one()

    def insert_load_balancers(self, load_balancers: Sequence[LoadBalancer], task: Task) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(schema.load_balancers), [asdict(lb) for lb in load_balancers])
                conn.execute(insert(schema.tasks).values(**_task_values(task)))
        except IntegrityError as exc:
            raise VipTaken(str(exc)) from exc

    def list_load_balancers(self, scope: Scope) -> list[LoadBalancer]:
        lbs = schema.load_balancers
        query = select(lbs).where(lbs.c.app_id == scope.app_id, lbs.c.region == scope.region).order_by(lbs.c.created_at, lbs.c.id)
        with self.engine.connect() as conn:
            return [_row_to(LoadBalancer, row) for row in conn.execute(query)]

    def get_load_balancer(self, scope: Scope, lb_id: str) -> LoadBalancer | None:
        with self.engine.connect() as conn:
            return _get_lb(conn, scope, lb_id)

    def get_load_balancer_any(self, lb_id: str) -> LoadBalancer | None:
        """One CLB by id, whatever its scope (the worker's view)."""
        lbs = schema.load_balancers
        with self.engine.connect() as conn:
            row = conn.execute(select(lbs).where(lbs.c.id == lb_id)).first()
        return _row_to(LoadBalancer, row) if row else None

    def all_load_balancers(self) -> list[LoadBalancer]:
        with self.engine.connect() as conn:
            return [_row_to(LoadBalancer, row) for row in conn.execute(select(schema.load_balancers))]

    def modify_load_balancer(self, scope: Scope, lb_id: str, changes: dict, task: Task) -> None:
        with self.engine.begin() as conn:
            _take_busy(conn, scope, lb_id, task.id)
            if changes:
                conn.execute(update(schema.load_balancers).where(schema.load_balancers.c.id == lb_id).values(**changes))
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    def mark_load_balancers_deleted(self, scope: Scope, lb_ids: Sequence[str], task: Task) -> None:
        with self.engine.begin() as conn:
            for lb_id in lb_ids:
                _take_busy(conn, scope, lb_id, task.id)
                conn.execute(
                    update(schema.load_balancers)
                    .where(schema.load_balancers.c.id == lb_id)
                    .values(state=ProvisioningState.PENDING_DELETE)
                )
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    # Listeners ----------------------------------------------------------------------

    def list_listeners(self, scope: Scope, lb_id: str, include_deleting: bool = False) -> list[Listener]:
        with self.engine.connect() as conn:
            return _listeners_of(conn, lb_id, scope, include_deleting)

    def listeners_of(self, lb_id: str) -> list[Listener]:
        """Every listener row of one CLB, whatever its state (the worker's view)."""
        with self.engine.connect() as conn:
            return _listeners_of(conn, lb_id, None, True)

    def add_listeners(
        self, scope: Scope, lb_id: str, new: Sequence[Listener], task: Task, quota: int,
        certificates: Sequence[Certificate] = (), rules: Sequence[Rule] = (),
    ) -> None:
        """Insert listeners, their ports and uploaded certificates with the task; PortTaken on a clash."""
        with self.engine.begin() as conn:
            _take_busy(conn, scope, lb_id, task.id)
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
            _take_busy(conn, scope, listener.lb_id, task.id)
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
            _take_busy(conn, scope, lb_id, task.id)
            conn.execute(
                update(schema.listeners)
                .where(schema.listeners.c.lb_id == lb_id, schema.listeners.c.id.in_(list(listener_ids)))
                .values(state=ProvisioningState.PENDING_DELETE, pending_task_id=task.id)
            )
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    # Rules --------------------------------------------------------------------------

    def rules_of(self, lb_id: str) -> list[Rule]:
        r = schema.rules
        with self.engine.connect() as conn:
            rows = conn.execute(select(r).where(r.c.lb_id == lb_id).order_by(r.c.created_at, r.c.id))
            return [_row_to(Rule, row) for row in rows]

    def change_rules(
        self, scope: Scope, lb_id: str, upserts: Sequence[Rule], removals: Sequence[str], task: Task,
        certificates: Sequence[Certificate] = (), per_listener_limit: int = 50,
    ) -> None:
        """Write rule changes of one CLB with their task; removing a rule unbinds its targets."""
        r, t = schema.rules, schema.targets
        with self.engine.begin() as conn:
            _take_busy(conn, scope, lb_id, task.id)
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
        ls, r = schema.listeners, schema.rules
        with self.engine.connect() as conn:
            listeners = [_row_to(Listener, row) for row in conn.execute(select(ls).where(ls.c.app_id == app_id))]
            rules = [_row_to(Rule, row) for row in conn.execute(select(r).where(r.c.app_id == app_id))]
        return [(l, [rule for rule in rules if rule.listener_id == l.id]) for l in listeners]

    def replace_certificate(
        self, app_id: int, listener_settings: dict[str, dict], rule_settings: dict[str, dict],
        lb_ids: Sequence[str], task: Task, certificates: Sequence[Certificate],
    ) -> None:
        """ReplaceCertForLoadBalancers: new certificate settings everywhere, one task over all CLBs."""
        ls, r, lbs = schema.listeners, schema.rules, schema.load_balancers
        with self.engine.begin() as conn:
            for lb_id in lb_ids:
                lb = conn.execute(select(lbs).where(lbs.c.id == lb_id)).first()
                _take_busy(conn, Scope(lb.app_id, lb.region), lb_id, task.id)
            _insert_certificates(conn, certificates)
            for listener_id, settings in listener_settings.items():
                conn.execute(update(ls).where(ls.c.id == listener_id, ls.c.app_id == app_id).values(settings=settings))
            for rule_id, settings in rule_settings.items():
                conn.execute(update(r).where(r.c.id == rule_id, r.c.app_id == app_id).values(settings=settings))
            conn.execute(insert(schema.tasks).values(**_task_values(task)))

    # Targets ------------------------------------------------------------------------

    def targets_of(self, lb_id: str) -> list[Target]:
        t = schema.targets
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.lb_id == lb_id).order_by(t.c.registered_at, t.c.ip, t.c.port))
            return [_row_to(Target, row) for row in rows]

    def change_targets(
        self, scope: Scope, lb_id: str, upserts: Sequence[Target], removals: Sequence[Target], task: Task,
        per_listener_limit: int,
    ) -> None:
        """Write target changes of one CLB with their task; QuotaReached past the per-listener limit."""
        t = schema.targets
        with self.engine.begin() as conn:
            _take_busy(conn, scope, lb_id, task.id)
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
        t = schema.tasks
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == task_id, t.c.app_id == scope.app_id)).first()
        return _row_to(Task, row) if row else None

    def running_tasks(self) -> list[Task]:
        t = schema.tasks
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.status == int(TaskStatus.RUNNING)).order_by(t.c.created_at))
            return [_row_to(Task, row) for row in rows]

    def finish_task(
        self, task: Task, failed_listener_ids: Iterable[str], message: str | None, finished_at: str
    ) -> None:
        """Settle every row the task touched: ACTIVE, rolled back or removed; free the CLBs."""
        failed = set(failed_listener_ids)
        status = TaskStatus.FAILED if failed or message else TaskStatus.SUCCEEDED
        ls, lbs = schema.listeners, schema.load_balancers
        with self.engine.begin() as conn:
            for listener in _listeners_of_task(conn, task.id):
                _settle_listener(conn, listener, listener.id in failed)
            for lb_id in task.lb_ids:
                lb = conn.execute(select(lbs).where(lbs.c.id == lb_id)).first()
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
            return {row.id: _row_to(Certificate, row) for row in conn.execute(select(c).where(c.c.id.in_(wanted)))}

    def get_certificate(self, app_id: int, cert_id: str) -> Certificate | None:
        c = schema.certificates
        with self.engine.connect() as conn:
            row = conn.execute(select(c).where(c.c.id == cert_id, c.c.app_id == app_id)).first()
        return _row_to(Certificate, row) if row else None


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


def _get_lb(conn: Connection, scope: Scope, lb_id: str) -> LoadBalancer | None:
    lbs = schema.load_balancers
    row = conn.execute(
        select(lbs).where(lbs.c.id == lb_id, lbs.c.app_id == scope.app_id, lbs.c.region == scope.region)
    ).first()
    return _row_to(LoadBalancer, row) if row else None


def _take_busy(conn: Connection, scope: Scope, lb_id: str, task_id: str) -> None:
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
    lb = _get_lb(conn, scope, lb_id)
    if lb is None or lb.state is ProvisioningState.PENDING_DELETE:
        raise LoadBalancerGone(lb_id)
    raise LoadBalancerBusy(lb_id)


def _listeners_of(conn: Connection, lb_id: str, scope: Scope | None, include_deleting: bool) -> list[Listener]:
    ls = schema.listeners
    query = select(ls).where(ls.c.lb_id == lb_id)
    if scope is not None:
        query = query.where(ls.c.app_id == scope.app_id, ls.c.region == scope.region)
    if not include_deleting:
        query = query.where(ls.c.state != ProvisioningState.PENDING_DELETE)
    return [_row_to(Listener, row) for row in conn.execute(query.order_by(ls.c.created_at, ls.c.port))]


def _listeners_of_task(conn: Connection, task_id: str) -> list[Listener]:
    ls = schema.listeners
    return [_row_to(Listener, row) for row in conn.execute(select(ls).where(ls.c.pending_task_id == task_id))]


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
