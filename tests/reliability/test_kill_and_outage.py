"""Kill -9 and database outages in the middle of a write storm lose nothing and lock nothing.

A real ``openclb serve`` takes signed CreateListener calls in a loop (``storm.WriteStorm``)
while it is killed with SIGKILL and started again on the same data dir, or while its
PostgreSQL database refuses every connection for a few seconds. Afterwards every write it
acknowledged is there (or its task failed and says why), no task is left running, and every
CLB takes the next write. The benchmark area ``durability`` runs the same with more rounds
and writes the figures to RESULTS.md.
"""

from __future__ import annotations

import random
import time

import pytest

from clb_support import create_clb_with_vip
from conftest import drop_pg_schema, pg_schema_url, sdk_client
from gateway_support import serve_on_own_port
from outage import OwnDatabase
from storm import Verdict, WriteStorm

STORM_FLAGS = ("--quota", "TOTAL_LISTENER_QUOTA=5000", "--rate-limit", "*=100000")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request):
    if request.param == "sqlite":
        yield ""
        return
    url, schema = pg_schema_url()
    yield url
    drop_pg_schema(schema)


def test_create_listener_kill_9_during_write_storm_no_acknowledged_write_lost(tmp_path, store_url):
    serve = serve_on_own_port(tmp_path, *STORM_FLAGS, store_url=store_url)
    serve.start()
    try:
        client = sdk_client(serve.url)
        lb_id, _ = create_clb_with_vip(client, "storm")
        storm = WriteStorm(sdk_client(serve.url), lb_id, 20000).start()
        rounds = random.Random(7)
        for _ in range(3):
            time.sleep(rounds.uniform(0.3, 0.8))
            serve.kill()
            serve.start()
        time.sleep(0.3)
        storm.stop()
        verdict = Verdict.of(client, [lb_id], storm.acknowledged)
    finally:
        serve.stop()
    assert verdict.acknowledged > 0
    assert (verdict.lost, verdict.stuck, verdict.locked) == (0, 0, 0), verdict


def test_create_listener_database_outage_during_write_storm_no_clb_locked(tmp_path):
    database = OwnDatabase()
    serve = serve_on_own_port(tmp_path, *STORM_FLAGS, store_url=database.url)
    serve.start()
    try:
        client = sdk_client(serve.url)
        lb_id, _ = create_clb_with_vip(client, "outage")
        storm = WriteStorm(sdk_client(serve.url), lb_id, 21000).start()
        time.sleep(0.5)
        database.cut()
        time.sleep(3)
        database.restore()
        time.sleep(1)
        storm.stop()
        verdict = Verdict.of(client, [lb_id], storm.acknowledged)
    finally:
        serve.stop()
        database.close()
    assert verdict.acknowledged > 0
    assert (verdict.lost, verdict.stuck, verdict.locked) == (0, 0, 0), verdict
