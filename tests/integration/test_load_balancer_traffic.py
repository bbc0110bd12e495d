"""DescribeLoadBalancerTraffic through the official Python SDK, ranked by real byte counters.

Known amounts are echoed through TCP listeners of two CLBs (and one in another region): the
ranking follows the bytes the data plane sent to clients, on the embedded engine and on HAProxy,
whose counters reach ``stats()`` when a session ends (hence the wait).
"""

from __future__ import annotations

import socket

import pytest
from tencentcloud.clb.v20180317 import models

from admin_support import tcp_listener
from clb_support import checked, create_clb, refused, wait_for
from conftest import sdk_client

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def echo_through(vip: str, port: int, payload: bytes, greeting: bytes) -> None:
    """Send ``payload`` to an echoing target through the CLB and read all of it back."""
    with socket.create_connection((vip, port), timeout=5) as conn:
        expected = len(greeting) + len(payload)
        conn.sendall(payload)
        received = 0
        while received < expected:
            chunk = conn.recv(65536)
            assert chunk, "connection closed early"
            received += len(chunk)


def traffic(client, **params) -> list[dict]:
    return checked(client, "DescribeLoadBalancerTraffic", params)["LoadBalancerTraffic"]


def test_describe_load_balancer_traffic_ranks_by_real_bytes_sent(server, client, named_backends):
    big_backend, small_backend = named_backends("big"), named_backends("small")
    big_lb, big_vip, _ = tcp_listener(client, 9300, [big_backend])
    small_lb, small_vip, _ = tcp_listener(client, 9300, [small_backend])
    quiet_lb = create_clb(client, "quiet")
    assert traffic(client) == []

    echo_through(small_vip, 9300, b"s" * 50_000, b"small")
    echo_through(big_vip, 9300, b"b" * 2_000_000, b"big")

    wait_for(lambda: len(traffic(client)) == 2, 10)
    ranked = traffic(client)
    assert [row["LoadBalancerId"] for row in ranked] == [big_lb, small_lb]
    assert quiet_lb not in {row["LoadBalancerId"] for row in ranked}
    assert ranked[0]["OutBandwidth"] > ranked[1]["OutBandwidth"] > 0
    assert ranked[0]["Vip"] == big_vip and ranked[0]["Region"] == "ap-guangzhou"

    request = models.DescribeLoadBalancerTrafficRequest()
    request.LoadBalancerRegion = "ap-guangzhou"
    typed = client.DescribeLoadBalancerTraffic(request).LoadBalancerTraffic
    assert [row.LoadBalancerId for row in typed] == [big_lb, small_lb]
    assert traffic(client, LoadBalancerRegion="ap-shanghai") == []


def test_describe_load_balancer_traffic_unknown_region_raises_invalid_parameter(server, client):
    lb_id = create_clb(client)
    refused(client, "DescribeLoadBalancerTraffic", {"LoadBalancerRegion": "xx-nowhere"}, "InvalidParameter", lb_id=lb_id)




def test_describe_load_balancer_traffic_without_region_ranks_every_region(server, client, named_backends):
    here, abroad_backend = named_backends("here"), named_backends("abroad")
    abroad = sdk_client(server.url, region="ap-singapore")
    here_lb, here_vip, _ = tcp_listener(client, 9400, [here])
    abroad_lb, abroad_vip, _ = tcp_listener(abroad, 9400, [abroad_backend])
    echo_through(here_vip, 9400, b"h" * 10_000, b"here")
    echo_through(abroad_vip, 9400, b"a" * 500_000, b"abroad")
    wait_for(lambda: len(traffic(client)) == 2, 10)
    assert [(row["LoadBalancerId"], row["Region"]) for row in traffic(client)] == [
        (abroad_lb, "ap-singapore"), (here_lb, "ap-guangzhou")]
    assert [row["LoadBalancerId"] for row in traffic(client, LoadBalancerRegion="ap-guangzhou")] == [here_lb]
