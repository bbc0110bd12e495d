"""Schema migrations: an ordered list, each applied once, recorded in ``schema_version``.

Migration 1 creates the whole schema of ``schema.py``. Later migrations append steps
(``ALTER TABLE`` and the like); an existing database is never recreated.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, insert, select

from openclb.store import schema


def _create_initial_schema(conn: Connection) -> None:
    schema.metadata.create_all(conn)


def _create_v1_nonces(conn: Connection) -> None:
    schema.v1_nonces.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[Connection], None]] = [_create_initial_schema, _create_v1_nonces]


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
