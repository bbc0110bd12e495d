"""Nodes: VIP failover gap and write-to-every-node convergence, two nodes on one PostgreSQL.

The set-up of ``tests/integration/test_nodes_failover.py`` (``netns_support``): two
``openclb serve --node-name --ha vrrp`` processes in their own network namespaces on one
bridge, the client in a third, PostgreSQL reached through a relay. Needs root, ``ip netns``,
keepalived and the test PostgreSQL.

- **Failover gap**: a steady stream of new connections (one every 20 ms) to a VIP while the
  node holding it is killed (-9): the longest time without a successful connection. Two
  kinds: *orderly*, where only openclb dies and its keepalived, told by the kernel, gives the
  VIPs up at once; *hard*, where keepalived is killed (-9) first, as when the machine dies,
  and the peer takes over when the adverts stop (3 × 0.3 s). The killed node is started
  again each time and takes the VIPs back. 5 failovers of each kind (2 quick).
- **Convergence**: CreateListener / DeleteListener sent to node a, timed until node b reports
  the task at Status 0, which means every live node has applied it.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest

from benchmarks.harness import Bench, percentile
from benchmarks.report import Check, Section, Table, bound_check, fmt

REPO = Path(__file__).resolve().parent.parent
for folder in ("tests", "tests/integration"):
    if str(REPO / folder) not in sys.path:
        sys.path.insert(0, str(REPO / folder))

from clb_support import checked, create_clb_with_vip, task_status, wait_for, write  # noqa: E402
from conftest import sdk_client  # noqa: E402
from netns_support import (  # noqa: E402
    Cluster, ConnectionStream, GreetingBackend, Network, longest_gap, require_multi_node,
)

NODES = ("a", "b")
PORT = 8080
CONVERGENCE_PORT = 8090


def _kill_keepalived(cluster: Cluster, node: str) -> None:
    for name in ("vrrp.pid", "keepalived.pid"):
        try:
            os.kill(int((cluster.tmp_path / node / "keepalived" / name).read_text().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _failovers(cluster: Cluster, vip: str, rounds: int, hard: bool, progress) -> list[float]:
    gaps = []
    for _ in range(rounds):
        wait_for(lambda: cluster.network.holder(vip) == "a", 20)
        stream = ConnectionStream(cluster.network, vip, PORT, seconds=4.0)
        time.sleep(1.0)
        if hard:
            _kill_keepalived(cluster, "a")
        cluster.nodes["a"].kill()
        gap = longest_gap(stream.results())
        gaps.append(gap * 1000)
        progress(f"{'hard' if hard else 'orderly'} failover: {gap * 1000:.0f} ms without service")
        cluster.nodes["a"].start()
    return gaps


def _convergence(cluster: Cluster, lb_id: str, tries: int) -> list[float]:
    a, b = sdk_client(cluster.url("a")), sdk_client(cluster.url("b"))
    times = []
    for _ in range(tries):
        started = time.perf_counter()
        created = checked(a, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP",
                                                "Ports": [CONVERGENCE_PORT]})
        assert task_status(b, created["RequestId"]) == 0
        times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        deleted = checked(a, "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": created["ListenerIds"][0]})
        assert task_status(b, deleted["RequestId"]) == 0
        times.append((time.perf_counter() - started) * 1000)
    return times


def run_nodes(bench: Bench, progress) -> list[Section]:
    try:
        require_multi_node(keepalived=True)
    except pytest.fail.Exception as exc:
        raise RuntimeError(str(exc)) from None
    network = Network(NODES, vrrp=True).create()
    with tempfile.TemporaryDirectory(prefix="openclb-nodes-") as directory:
        cluster = Cluster(network, Path(directory), extra_args=(
            "--ha", "vrrp", "--vip-interface", "eth0", "--vrrp-router-id", str(network.router_id)))
        backend = GreetingBackend(network.host_ip, "t")
        try:
            cluster.start()
            client = sdk_client(cluster.url("a"))
            lb_id, vip = create_clb_with_vip(client, "bench-nodes")
            (listener_id,) = write(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP",
                                                              "Ports": [PORT]})["ListenerIds"]
            write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                              "Targets": [backend.target()]})
            convergence = _convergence(cluster, lb_id, bench.pick(10, 50))
            progress(f"write-to-every-node convergence p99 {percentile(convergence, 99):.0f} ms")
            rounds = bench.pick(2, 5)
            orderly = _failovers(cluster, vip, rounds, False, progress)
            hard = _failovers(cluster, vip, rounds, True, progress)
        finally:
            cluster.stop()
            backend.close()
            network.remove()
    rows = [[kind, str(len(gaps)), fmt(percentile(gaps, 50), 0), fmt(max(gaps), 0)]
            for kind, gaps in (("orderly (openclb killed -9)", orderly),
                               ("hard (keepalived, then openclb killed -9)", hard))]
    failover = Table("VIP failover: two nodes, VRRP through keepalived, new connections every 20 ms",
                     ["Kill", "Failovers", "Gap p50 ms", "Gap max ms"], rows)
    converge = Table("Write-to-every-node convergence: CreateListener/DeleteListener on node a until node b "
                     "reports Status 0", ["Writes", "p50 ms", "p99 ms", "max ms"],
                     [[str(len(convergence)), fmt(percentile(convergence, 50), 0),
                       fmt(percentile(convergence, 99), 0), fmt(max(convergence), 0)]])
    checks: list[Check] = [
        bound_check("Failover gap, orderly (max)", max(orderly), "<=", 3000, "ms", f"p50 {percentile(orderly, 50):.0f} ms", 0),
        bound_check("Failover gap, hard (max)", max(hard), "<=", 3000, "ms", f"p50 {percentile(hard, 50):.0f} ms", 0),
        bound_check("Write-to-every-node convergence p99", percentile(convergence, 99), "<=", 1000, "ms",
                    f"p50 {percentile(convergence, 50):.0f} ms", 0),
    ]
    return [Section("nodes", [failover, converge], checks)]
