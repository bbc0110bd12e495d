"""Stopping with a task still running: the worker lets go at once, the next start finishes it.

The task is held up where real ones are, in the store: a PostgreSQL trigger makes the
transaction that settles a task wait for an advisory lock this test holds. The worker's
close must not wait for it; the task stays running (Status 2) in the store, and a server
started on the same store afterwards resumes it to success.
"""

from __future__ import annotations

import random
import time

import pytest
import sqlalchemy as sa

from backends import accepts_tcp
from clb_support import checked, create_clb_with_vip, task_status
from conftest import PG_URL, drop_pg_schema, make_settings, pg_schema_url, sdk_client, start_server


class SettlingHeld:
    """While entered, every task that leaves Status 2 in ``schema`` waits in the store."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.key = random.randrange(1, 2**31)
        self.engine = sa.create_engine(PG_URL)
        self.holder = None

    def __enter__(self) -> SettlingHeld:
        with self.engine.begin() as conn:
            conn.execute(sa.text(
                f"CREATE FUNCTION {self.schema}.hold_settling() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN PERFORM pg_advisory_xact_lock({self.key}); RETURN NEW; END $$"))
            conn.execute(sa.text(
                f"CREATE TRIGGER hold_settling BEFORE UPDATE ON {self.schema}.tasks FOR EACH ROW "
                f"WHEN (OLD.status = 2 AND NEW.status <> 2) EXECUTE FUNCTION {self.schema}.hold_settling()"))
        self.holder = self.engine.connect()
        self.holder.execute(sa.text(f"SELECT pg_advisory_lock({self.key})"))
        return self

    def waiting_backends(self) -> list[int]:
        """Server processes of PostgreSQL blocked on our lock: the worker settling a task."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key"),
                {"key": self.key}).scalars())

    def abandon_waiting(self) -> None:
        """End the blocked settle as a crash would: its transaction rolls back."""
        with self.engine.connect() as conn:
            for pid in self.waiting_backends():
                conn.execute(sa.text("SELECT pg_cancel_backend(:pid)"), {"pid": pid})

    def __exit__(self, *_exc) -> None:
        self.holder.execute(sa.text(f"SELECT pg_advisory_unlock({self.key})"))
        self.holder.close()
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TRIGGER IF EXISTS hold_settling ON {self.schema}.tasks"))
            conn.execute(sa.text(f"DROP FUNCTION IF EXISTS {self.schema}.hold_settling()"))
        self.engine.dispose()


@pytest.fixture
def pg_store():
    url, schema = pg_schema_url()
    yield url, schema
    drop_pg_schema(schema)


def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(0.05)


def test_close_worker_with_task_running_returns_promptly_and_restart_resumes_it(tmp_path, pg_store):
    url, schema = pg_store
    settings = make_settings(tmp_path, url)
    first = start_server(settings)
    try:
        client = sdk_client(first.url)
        lb_id, vip = create_clb_with_vip(client)
        with SettlingHeld(schema) as held:
            task_id = checked(client, "CreateListener", {
                "LoadBalancerId": lb_id, "Ports": [8621], "Protocol": "TCP"})["RequestId"]
            wait_until(lambda: held.waiting_backends(), 10)
            assert checked(client, "DescribeTaskStatus", {"TaskId": task_id})["Status"] == 2

            started = time.monotonic()
            first.run(first.server.worker.close())
            assert time.monotonic() - started < 1
            held.abandon_waiting()
            wait_until(lambda: not held.waiting_backends(), 5)
        assert checked(client, "DescribeTaskStatus", {"TaskId": task_id})["Status"] == 2
    finally:
        first.stop()

    second = start_server(settings)
    try:
        client = sdk_client(second.url)
        assert task_status(client, task_id) == 0
        assert accepts_tcp(vip, 8621)
    finally:
        second.stop()
