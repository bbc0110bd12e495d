"""The rules of several nodes that need no network: when a task is due, what keepalived gets,
which settings a node may start with."""

from __future__ import annotations

import pytest

from openclb.config import Settings
from openclb.engine.keepalived import VrrpSettings, render
from openclb.reconcile.cluster import NodeConfig
from openclb.store.nodes import TaskAnswers

PG = "postgresql://postgres@127.0.0.1/test"


def test_task_answers_with_a_live_node_still_awaited_is_not_due():
    assert TaskAnswers({}, frozenset({"b"})).verdict is None


def test_task_answers_all_applied_succeeds():
    assert TaskAnswers({}, frozenset()).verdict == ""


def test_task_answers_one_refusal_fails_at_once_with_the_node_named():
    answers = TaskAnswers({"b": "Port 80 on 10.0.0.5 is already in use by another process"}, frozenset({"c"}))
    assert answers.verdict == "node b: Port 80 on 10.0.0.5 is already in use by another process"


def test_keepalived_config_holds_every_vip_on_the_interface():
    config = render(VrrpSettings("a", "eth1", 240, router_id=7), ["10.0.0.9", "10.0.0.5", "fd00::5"])
    assert "interface eth1" in config and "priority 240" in config and "virtual_router_id 7" in config
    assert "advert_int 0.3" in config and "vrrp_version 3" in config and "state BACKUP" in config
    first, rest = config.split("virtual_ipaddress_excluded")
    assert "10.0.0.5/32 dev eth1" in first
    assert "10.0.0.9/32 dev eth1" in rest and "fd00::5/128 dev eth1" in rest


def test_node_config_heartbeats_four_times_per_timeout_at_most_each_second():
    assert NodeConfig("a", "", 2.0).interval == 0.5
    assert NodeConfig("a", "", 10.0).interval == 1.0


@pytest.mark.parametrize(("changes", "message"), [
    ({"node_name": "a"}, "--node-name needs a PostgreSQL store"),
    ({"node_name": "a b", "store_url": PG}, "--node-name must be"),
    ({"node_name": "a", "store_url": PG, "node_timeout": 0.0}, "--node-timeout must be positive"),
    ({"ha": "vrrp"}, "--ha vrrp needs --node-name"),
    ({"node_name": "a", "store_url": PG, "ha": "vrrp"}, "--ha vrrp needs --vip-interface"),
    ({"node_name": "a", "store_url": PG, "ha": "vrrp", "vip_interface": "eth0", "engine": "haproxy"},
     "--ha vrrp needs --vip-interface IFACE and the embedded engine"),
    ({"node_name": "a", "store_url": PG, "vrrp_priority": 255}, "--vrrp-priority must be 1-254"),
])
def test_serve_settings_for_nodes_out_of_rule_are_refused(changes, message):
    with pytest.raises(ValueError, match=message.replace("-", "\\-")):
        Settings(**changes).check_nodes()


def test_serve_settings_single_node_and_two_node_vrrp_are_accepted():
    Settings().check_nodes()
    Settings(node_name="node-1", store_url=PG, ha="vrrp", vip_interface="eth0", vrrp_priority=200).check_nodes()


def test_haproxy_config_with_workers_runs_as_many_threads():
    from pathlib import Path

    from openclb.engine.haproxy.render import RuntimePaths, render

    paths = RuntimePaths(Path("/x"), Path("/x/stats.sock"))
    assert "    nbthread 2\n" in render([], paths, threads=2).text
    assert "nbthread" not in render([], paths).text


def test_worker_pool_sums_counters_and_keeps_the_rest():
    import asyncio

    from openclb.engine.embedded.workers import WorkerOptions, WorkerPool

    pool = WorkerPool(2, WorkerOptions())

    async def both(command, payload=None):
        return [{"lb": {"l1": {"total": 3, "active": 1, "state": "x"}}},
                {"lb": {"l1": {"total": 4, "active": 0, "state": "x"}, "l2": {"total": 1}}}]

    pool._everywhere = both
    assert asyncio.run(pool.stats()) == {"lb": {"l1": {"total": 7, "active": 1, "state": "x"}, "l2": {"total": 1}}}
