"""Schema migrations: an ordered list, each applied once, recorded in ``schema_version``.

Migration 1 creates the whole schema of ``schema.py`` (as it is now: later steps check
before they change). Later migrations append steps
(``ALTER TABLE`` and the like); an existing database is never recreated.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, insert, inspect, select, text

from openclb.store import schema


def _create_initial_schema(conn: Connection) -> None:
    schema.metadata.create_all(conn)


def _task_changes_replace_previous_settings(conn: Connection) -> None:
    """Rollback moves from ``listeners.previous_settings`` to per-task before-images."""
    schema.task_changes.create(conn, checkfirst=True)
    if "previous_settings" in {c["name"] for c in inspect(conn).get_columns("listeners")}:
        conn.execute(text("ALTER TABLE listeners DROP COLUMN previous_settings"))


def _create_v1_nonces(conn: Connection) -> None:
    schema.v1_nonces.create(conn, checkfirst=True)


def _create_store_meta(conn: Connection) -> None:
    """Where the master key's check value lives (clear private keys are sealed at start, not here)."""
    schema.store_meta.create(conn, checkfirst=True)


def _create_target_groups(conn: Connection) -> None:
    """Target groups, their instances and their associations with listeners and rules."""
    for table in (schema.target_groups, schema.target_group_instances, schema.target_group_associations):
        table.create(conn, checkfirst=True)


def _create_security_groups(conn: Connection) -> None:
    """Security groups (vpc API) with their policies, which the CLBs bound to them enforce."""
    schema.security_groups.create(conn, checkfirst=True)


def _create_account_objects(conn: Connection) -> None:
    """CLS log sets and topics (access logs)."""
    schema.account_objects.create(conn, checkfirst=True)


# Every change of a task row (a new task, a settled one) is announced on the channel
# ``openclb_<schema>`` with the next state version: how every node of a PostgreSQL store learns
# of a write (``reconcile/cluster.py``). A channel is per database, the schema keeps stores apart.
_TASK_NOTIFY = [
    "CREATE SEQUENCE IF NOT EXISTS openclb_state_version",
    """CREATE OR REPLACE FUNCTION openclb_task_changed() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('openclb_' || current_schema(), json_build_object(
    'task', NEW.id, 'status', NEW.status, 'version', nextval('openclb_state_version'))::text);
  RETURN NEW;
END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS openclb_task_changed ON tasks",
    "CREATE TRIGGER openclb_task_changed AFTER INSERT OR UPDATE OF status ON tasks "
    "FOR EACH ROW EXECUTE FUNCTION openclb_task_changed()",
]


def _create_nodes(conn: Connection) -> None:
    """Nodes and their answers per task; on PostgreSQL, the notification of every task change."""
    schema.nodes.create(conn, checkfirst=True)
    schema.task_applies.create(conn, checkfirst=True)
    if conn.dialect.name == "postgresql":
        for statement in _TASK_NOTIFY:
            conn.execute(text(statement))


# pg_advisory_xact_lock's key for migrations (any constant of our own: "oclb" in ASCII).
MIGRATION_LOCK = 0x6F636C62

MIGRATIONS: list[Callable[[Connection], None]] = [
    _create_initial_schema, _task_changes_replace_previous_settings, _create_v1_nonces, _create_store_meta,
    _create_target_groups, _create_security_groups, _create_account_objects, _create_nodes,
]


def migrate(conn: Connection) -> int:
    """Bring the database to the newest version; returns that version.

    On PostgreSQL the migration holds an advisory lock until its transaction ends: nodes that
    start together on a fresh database migrate one after the other, not into each other.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    schema.schema_version.create(conn, checkfirst=True)
    current = conn.execute(select(schema.schema_version.c.version).order_by(schema.schema_version.c.version.desc())).scalar()
    current = current or 0
    for version, step in enumerate(MIGRATIONS, start=1):
        if version > current:
            step(conn)
            conn.execute(insert(schema.schema_version).values(version=version))
    return len(MIGRATIONS)
