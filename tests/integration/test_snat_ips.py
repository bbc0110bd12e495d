"""SNAT IPs through the official SDK, checked by targets reading the peer address they see.

A SnatPro CLB's connections to its targets leave from its SNAT IPs (loopback addresses here),
so a target sees a SNAT address as the client; deleting them gives the host's own address back.
"""

from __future__ import annotations

import socket

import pytest
from tencentcloud.clb.v20180317 import models

from backends import TcpBackend
from clb_support import (
    checked, create_clb_with_vip, create_listener, create_rules, listener_with_targets, refused, register, task_status, write,
)
from l7_support import request

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

SNAT_A, SNAT_B = "127.0.0.5", "127.0.0.6"
PORT = 8095


class PeerBackend(TcpBackend):
    """Answers every connection with the address it sees the connection come from."""

    def talk(self, conn: socket.socket) -> None:
        conn.sendall(conn.getpeername()[0].encode())


def seen_peer(vip: str, port: int) -> str:
    with socket.create_connection((vip, port), timeout=3) as conn:
        return conn.recv(64).decode()


def snat_ips(client, lb_id: str) -> list[dict]:
    return checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]["SnatIps"]


def test_create_load_balancer_snat_ips_tcp_target_sees_snat_address_and_delete_restores(server, client):
    backend = PeerBackend()
    lb_id, vip, _ = listener_with_targets(client, "TCP", PORT, [{"EniIp": "127.0.0.1", "Port": backend.port}])
    assert seen_peer(vip, PORT) == "127.0.0.1"
    request_model = models.CreateLoadBalancerSnatIpsRequest()
    snat = models.SnatIp()
    snat.SubnetId, snat.Ip = "subnet-12345678", SNAT_A
    request_model.LoadBalancerId, request_model.SnatIps = lb_id, [snat]
    assert task_status(client, client.CreateLoadBalancerSnatIps(request_model).RequestId) == 0
    described = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]
    assert described["SnatPro"] is True and described["SnatIps"] == [{"SubnetId": "subnet-12345678", "Ip": SNAT_A}]
    assert {seen_peer(vip, PORT) for _ in range(3)} == {SNAT_A}

    delete_model = models.DeleteLoadBalancerSnatIpsRequest()
    delete_model.LoadBalancerId, delete_model.Ips = lb_id, [SNAT_A]
    assert task_status(client, client.DeleteLoadBalancerSnatIps(delete_model).RequestId) == 0
    assert snat_ips(client, lb_id) == [] and seen_peer(vip, PORT) == "127.0.0.1"
    backend.close()


def test_create_load_balancer_snat_pro_with_snat_ips_http_target_sees_snat_address(server, client, http_backends):
    backend = http_backends.start("snat")
    lb_id, vip = create_clb_with_vip(client, SnatPro=True, SnatIps=[{"SubnetId": "subnet-1", "Ip": SNAT_B}])
    (listener_id,) = create_listener(client, lb_id, "HTTP", [PORT])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "snat.test", "Url": "/"}])
    register(client, lb_id, listener_id, [backend.port], location_id)
    assert request(vip, PORT, "/", host="snat.test").status == 200
    assert {peer[0] for peer in backend.peers} == {SNAT_B}


def test_create_load_balancer_snat_ips_udp_flow_leaves_from_snat_address(server, client):
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    echo.settimeout(3)
    lb_id, vip, _ = listener_with_targets(client, "UDP", PORT, [{"EniIp": "127.0.0.1", "Port": echo.getsockname()[1]}])
    write(client, "CreateLoadBalancerSnatIps", {"LoadBalancerId": lb_id, "SnatIps": [{"SubnetId": "s", "Ip": SNAT_A}]})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"who", (vip, PORT))
        _, peer = echo.recvfrom(64)
    echo.close()
    assert peer[0] == SNAT_A


def test_create_load_balancer_snat_ips_without_ip_allocates_number_of_addresses(server, client):
    lb_id, vip = create_clb_with_vip(client)
    write(client, "CreateLoadBalancerSnatIps", {"LoadBalancerId": lb_id, "SnatIps": [{"SubnetId": "subnet-1"}],
                                                "Number": 2})
    allocated = snat_ips(client, lb_id)
    assert len(allocated) == 2 and vip not in {s["Ip"] for s in allocated}
    assert {s["SubnetId"] for s in allocated} == {"subnet-1"}


def test_create_load_balancer_snat_ips_refusals_change_nothing(server, client):
    lb_id, _ = create_clb_with_vip(client)
    write(client, "CreateLoadBalancerSnatIps", {"LoadBalancerId": lb_id, "SnatIps": [{"SubnetId": "s", "Ip": SNAT_A}]})
    cases = [
        ({"LoadBalancerId": "lb-00000000", "SnatIps": [{"SubnetId": "s", "Ip": SNAT_B}]}, "InvalidParameter.LBIdNotFound"),
        ({"LoadBalancerId": lb_id, "SnatIps": [{"SubnetId": "s", "Ip": "not-an-ip"}]}, "InvalidParameter.FormatError"),
        ({"LoadBalancerId": lb_id, "SnatIps": [{"SubnetId": "s", "Ip": "192.0.2.77"}]}, "InvalidParameterValue"),
        ({"LoadBalancerId": lb_id, "SnatIps": [{"SubnetId": "s", "Ip": SNAT_A}]}, "InvalidParameterValue"),
        ({"LoadBalancerId": lb_id, "SnatIps": [{"SubnetId": "s", "Ip": SNAT_B}], "Number": 2}, "InvalidParameter"),
        ({"LoadBalancerId": lb_id, "SnatIps": [{"SubnetId": "s"}], "Number": 10}, "LimitExceeded"),
    ]
    for params, code in cases:
        refused(client, "CreateLoadBalancerSnatIps", params, code, lb_id=lb_id)
    refused(client, "DeleteLoadBalancerSnatIps", {"LoadBalancerId": lb_id, "Ips": [SNAT_B]}, "InvalidParameterValue")
    refused(client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "SnatIps": [{"SubnetId": "s", "Ip": SNAT_B}]},
            "InvalidParameter", lb_id=lb_id)
    assert snat_ips(client, lb_id) == [{"SubnetId": "s", "Ip": SNAT_A}]
