"""IPv6 CLBs: AddressIPVersion IPV6 gives a VIP from the IPv6 pool (``::1`` by default, the one IPv6
loopback address Linux has), and listeners serve real traffic on it."""

from __future__ import annotations

import socket

import pytest

from clb_support import checked, create_clb, create_listener, refused, write

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def free_v6_port() -> int:
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        return probe.getsockname()[1]


def test_create_load_balancer_ipv6_vip_from_pool_and_tcp_listener_serves_on_it(server, client, named_backends):
    backend = named_backends("over-v6")
    lb_id = create_clb(client, AddressIPVersion="IPV6")
    described = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]
    assert (described["LoadBalancerVips"], described["AddressIPv6"]) == (["::1"], "::1")
    assert (described["AddressIPVersion"], described["IPv6Mode"]) == ("ipv6", "IPv6Nat64")
    port = free_v6_port()
    (listener_id,) = create_listener(client, lb_id, "TCP", [port], HealthCheck={"HealthSwitch": 0})
    write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                      "Targets": [{"EniIp": "127.0.0.1", "Port": backend.port}]})
    with socket.create_connection(("::1", port), timeout=3) as conn:
        assert conn.recv(16) == b"over-v6"


def test_create_load_balancer_ipv6_pool_exhausted_or_internal_refused_nothing_changes(server, client):
    create_clb(client, AddressIPVersion="ipv6")
    refused(client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "AddressIPVersion": "IPV6"},
            "ResourceInsufficient", lb_id=None)
    refused(client, "CreateLoadBalancer", {"LoadBalancerType": "INTERNAL", "AddressIPVersion": "IPV6",
                                           "VpcId": "vpc-1", "SubnetId": "subnet-1"}, "InvalidParameterValue",
            lb_id=None)
    refused(client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "AddressIPVersion": "IPV5"},
            "InvalidParameterValue", lb_id=None)
