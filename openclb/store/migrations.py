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


MIGRATIONS: list[Callable[[Connection], None]] = [
    _create_initial_schema, _task_changes_replace_previous_settings, _create_v1_nonces, _create_store_meta,
    _create_target_groups, _create_security_groups, _create_account_objects,
]


def migrate(conn: Connection) -> int:
    """Bring the database to the newest version; returns that version."""
    schema.schema_version.create(conn, checkfirst=True)
    current = conn.execute(select(schema.schema_version.c.version).order_by(schema.schema_version.c.version.desc())).scalar()
    current = current or 0
    for version, step in enumerate(MIGRATIONS, start=1):
        if version > current:
            step(conn)
            conn.execute(insert(schema.schema_version).values(version=version))
    return len(MIGRATIONS)
