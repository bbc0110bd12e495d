"""Two openclb nodes on one PostgreSQL store, each in its own network namespace.

Every node serves the API and the data plane of every CLB: a write sent to one node is
applied by both before its task reaches Status 0; a node that refuses it fails the task with
its message and both serve the state from before; a node without heartbeats stops counting,
and when it returns it reconciles fully before it counts again. The namespaces, the bridge,
the relay to PostgreSQL and the schema are created and removed by the fixture.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from clb_support import checked, create_clb_with_vip, listeners, task_status, wait_for, write
from conftest import SECRET_ID, SECRET_KEY, sdk_client
from netns_support import GreetingBackend, Network, probe, require_multi_node, run_cluster
from openclb.cli import main as openclb_main
from openclb.client import Client

NODES = ("a", "b")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_multi_node()
    yield from run_cluster(Network(NODES).create(), tmp_path_factory.mktemp("nodes"))


@pytest.fixture(scope="module")
def backend(cluster):
    started = GreetingBackend(cluster.network.host_ip, "target-1")
    yield started
    started.close()


def clients(cluster):
    return {name: sdk_client(cluster.url(name)) for name in NODES}


def through(cluster, node: str, vip: str, port: int) -> str:
    cluster.network.route_vips_through(node)
    return probe(cluster.network, vip, port)


def nodes_listed(cluster, capsys) -> dict[str, list[str]]:
    """``openclb nodes list`` by node name: its columns."""
    capsys.readouterr()
    assert openclb_main(["nodes", "list", "--store", cluster.local_store_url, "--node-timeout", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("store state version ")
    return {line.split()[0]: line.split() for line in lines[2:]}


def test_create_listener_on_node_a_serves_through_node_b_too(cluster, backend, capsys):
    api = clients(cluster)
    lb_id, vip = create_clb_with_vip(api["a"], "two-nodes")
    response = checked(api["a"], "CreateListener",
                       {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [8080], "ListenerNames": ["l"]})
    assert task_status(api["b"], response["RequestId"]) == 0
    (listener_id,) = response["ListenerIds"]
    write(api["b"], "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                        "Targets": [backend.target()]})
    assert through(cluster, "a", vip, 8080) == "target-1"
    assert through(cluster, "b", vip, 8080) == "target-1"
    listed = nodes_listed(cluster, capsys)
    assert set(listed) == set(NODES) and all(row[1] == "live" for row in listed.values())


def test_node_list_shows_every_node_caught_up_with_the_store_version(cluster, capsys):
    api = clients(cluster)
    create_clb_with_vip(api["b"], "version")

    def caught_up() -> bool:
        capsys.readouterr()
        openclb_main(["nodes", "list", "--store", cluster.local_store_url])
        lines = capsys.readouterr().out.splitlines()
        version = lines[0].split()[-1]
        return all(line.split()[5] == version for line in lines[2:])

    wait_for(caught_up, 5)


def test_create_listener_refused_by_node_b_fails_with_its_message_and_changes_nothing(cluster):
    api = clients(cluster)
    lb_id, vip = create_clb_with_vip(api["a"], "refused")
    holder = subprocess.Popen(
        ["ip", "netns", "exec", cluster.network.namespace("b"), sys.executable, "-c",
         "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 8443)); s.listen(); "
         "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        response = checked(api["a"], "CreateListener",
                           {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [8443], "ListenerNames": ["l"]})
        assert task_status(api["a"], response["RequestId"]) == 1
        described = checked(api["a"], "DescribeTaskStatus", {"TaskId": response["RequestId"]})
        assert "node b" in described["Message"] and "already in use" in described["Message"]
        assert listeners(api["a"], lb_id) == [] and listeners(api["b"], lb_id) == []
        assert through(cluster, "a", vip, 8443).startswith("ERR")
    finally:
        holder.kill()
        holder.wait()


def test_create_listener_with_node_b_down_settles_and_node_b_catches_up_on_return(cluster, backend, capsys):
    api = clients(cluster)
    lb_id, vip = create_clb_with_vip(api["a"], "catch-up")
    cluster.nodes["b"].kill()
    try:
        started = time.monotonic()
        response = checked(api["a"], "CreateListener",
                           {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [9090], "ListenerNames": ["l"]})
        assert task_status(api["a"], response["RequestId"]) == 0
        # Waited for node b at most until its heartbeat went stale (node timeout 2 s, heartbeats 0.5 s).
        assert time.monotonic() - started < cluster.node_timeout + 2.5
        write(api["a"], "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": response["ListenerIds"][0],
                                            "Targets": [backend.target()]})
        assert nodes_listed(cluster, capsys)["b"][1] == "stale"
    finally:
        cluster.nodes["b"].start()
    wait_for(lambda: nodes_listed(cluster, capsys)["b"][1:3] == ["live", "yes"], 10)
    assert through(cluster, "b", vip, 9090) == "target-1"
    response = checked(api["b"], "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": response["ListenerIds"][0]})
    assert task_status(api["b"], response["RequestId"]) == 0
    assert through(cluster, "a", vip, 9090).startswith("ERR")
    assert through(cluster, "b", vip, 9090).startswith("ERR")


def test_serve_node_name_with_sqlite_store_is_refused(tmp_path):
    result = subprocess.run([sys.executable, "-m", "openclb", "serve", "--data-dir", str(tmp_path), "--node-name", "a"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--node-name needs a PostgreSQL store" in result.stderr


def test_reset_state_on_node_a_closes_the_listeners_on_node_b_too(cluster, backend):
    api = clients(cluster)
    lb_id, vip = create_clb_with_vip(api["a"], "reset")
    (listener_id,) = write(api["a"], "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP",
                                                        "Ports": [7070]})["ListenerIds"]
    write(api["a"], "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                        "Targets": [backend.target()]})
    assert through(cluster, "b", vip, 7070) == "target-1"
    removed = Client(cluster.url("a"), SECRET_ID, SECRET_KEY).call("ResetState", {})["LoadBalancerIds"]
    assert lb_id in removed
    wait_for(lambda: through(cluster, "b", vip, 7070).startswith("ERR"), 5)
    assert through(cluster, "a", vip, 7070).startswith("ERR")
    assert checked(api["b"], "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["TotalCount"] == 0
