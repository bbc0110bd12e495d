"""VIP failover between two nodes (``--ha vrrp``): keepalived moves the VIPs, the sockets are there.

Two nodes on one PostgreSQL store, each in its own network namespace on one bridge, the
client in a third. The VIPs are addresses of the bridge's subnet; node a (first by name:
the higher priority) holds them. Both nodes bind every listener in advance, so when node a
is killed (-9) under a steady stream of new connections, node b takes the VIPs and serves at
once: the longest time without a successful connection is measured and must stay within 3 s.
Writes through node b keep working, nothing acknowledged is lost, no task stays running, and
node a, started again, catches up and takes the VIPs back.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from clb_support import checked, create_clb_with_vip, listeners, task_status, wait_for, write
from conftest import sdk_client
from netns_support import ConnectionStream, GreetingBackend, Network, longest_gap, probe, require_multi_node, run_cluster

NODES = ("a", "b")
MAX_GAP_SECONDS = 3.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_multi_node(keepalived=True)
    network = Network(NODES, vrrp=True).create()
    yield from run_cluster(network, tmp_path_factory.mktemp("failover"), (
        "--ha", "vrrp", "--vip-interface", "eth0", "--vrrp-router-id", str(network.router_id)))


@pytest.fixture(scope="module")
def backend(cluster):
    started = GreetingBackend(cluster.network.host_ip, "target-1")
    yield started
    started.close()


def listener_on(client, lb_id: str, port: int, backend: GreetingBackend) -> tuple[str, list[str]]:
    """A TCP listener serving ``backend``: its id and the task ids of the writes."""
    created = checked(client, "CreateListener",
                      {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [port], "ListenerNames": [f"p{port}"]})
    assert task_status(client, created["RequestId"]) == 0
    (listener_id,) = created["ListenerIds"]
    registered = write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                   "Targets": [backend.target()]})
    return listener_id, [created["RequestId"], registered["RequestId"]]


def test_kill_active_node_moves_vip_within_3s_and_writes_through_survivor_work(cluster, backend, capsys):
    api = {name: sdk_client(cluster.url(name)) for name in NODES}
    network = cluster.network
    lb_id, vip = create_clb_with_vip(api["a"], "failover")
    first, tasks = listener_on(api["a"], lb_id, 8080, backend)
    wait_for(lambda: network.holder(vip) == "a", 10)
    assert probe(network, vip, 8080) == "target-1"

    # Node b's data plane serves the listener created through node a: kill node a under load.
    stream = ConnectionStream(network, vip, 8080, seconds=6.0)
    time.sleep(1.5)
    cluster.nodes["a"].kill()
    results = stream.results()
    gap = longest_gap(results)
    print(f"failover gap {gap:.3f}s over {len(results)} connections")
    assert gap <= MAX_GAP_SECONDS
    assert results[-1][1], "the stream ended without service"
    assert network.holder(vip) == "b"

    # Writes through the survivor keep working and reach its data plane.
    second, more = listener_on(api["b"], lb_id, 8081, backend)
    tasks += more
    assert probe(network, vip, 8081) == "target-1"

    # Node a returns, catches up with what it missed, and takes the VIP back.
    cluster.nodes["a"].start()
    wait_for(lambda: network.holder(vip) == "a", 15)
    wait_for(lambda: probe(network, vip, 8081) == "target-1", 5)
    assert {item["ListenerId"] for item in listeners(api["a"], lb_id)} == {first, second}
    assert all(checked(api["a"], "DescribeTaskStatus", {"TaskId": task_id})["Status"] == 0 for task_id in tasks)
    engine = sa.create_engine(cluster.local_store_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM tasks WHERE status = 2")).scalar() == 0
    engine.dispose()
