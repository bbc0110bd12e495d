"""The store of several nodes, without their network: migrations started together, state versions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import drop_pg_schema, pg_schema_url
from openclb.store import nodes
from openclb.store.migrations import MIGRATIONS
from openclb.store.store import Store


@pytest.fixture
def fresh_schema():
    url, schema = pg_schema_url()
    yield url
    drop_pg_schema(schema)


def test_store_opened_by_four_nodes_at_once_migrates_once(fresh_schema):
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: Store(fresh_schema), range(4)))
    try:
        with stores[0].engine.connect() as conn:
            versions = [v for (v,) in conn.exec_driver_sql("SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))
    finally:
        for store in stores:
            store.close()


def test_node_register_heartbeat_and_list_show_it_live_then_stale(fresh_schema):
    store = Store(fresh_schema)
    try:
        nodes.register(store.engine, "a", "http://10.0.0.1:9180")
        nodes.heartbeat(store.engine, "a", 7)
        (row,) = nodes.list_nodes(store.engine, timeout=5.0)
        assert (row.name, row.live, row.ready, row.applied_version) == ("a", True, False, 7)
        nodes.set_ready(store.engine, "a", True)
        assert nodes.list_nodes(store.engine, timeout=5.0)[0].ready
        assert not nodes.list_nodes(store.engine, timeout=0.0)[0].live
        assert nodes.answers(store.engine, "no-task", timeout=5.0).awaited == frozenset({"a"})
        assert nodes.answers(store.engine, "no-task", timeout=0.0).verdict == ""
    finally:
        store.close()
