"""A PostgreSQL database of its own that a test can cut off and bring back.

``cut()`` sets ``ALLOW_CONNECTIONS false`` and terminates every session of that database (and
of no other), as a database outage does to its clients; ``restore()`` lets them in again. The
database is dropped by ``close()``.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from conftest import PG_URL


class OwnDatabase:
    def __init__(self) -> None:
        self.name = "openclb_outage_" + uuid.uuid4().hex[:8]
        self._admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {self.name}"))
        self.url = PG_URL.rsplit("/", 1)[0] + "/" + self.name

    def cut(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE {self.name} ALLOW_CONNECTIONS false"))
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": self.name})

    def restore(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE {self.name} ALLOW_CONNECTIONS true"))

    def close(self) -> None:
        self.restore()
        with self._admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"))
        self._admin.dispose()
