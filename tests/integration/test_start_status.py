"""SetLoadBalancerStartStatus: Stop closes the ports (connections refused), Start opens them again.

A stopped listener shows AttrFlags "Stop" in DescribeListeners, a stopped CLB AttributeFlags
"Stop" in DescribeLoadBalancers (Status stays 1, the only other documented value being 0,
creating).
"""

from __future__ import annotations

import pytest
from tencentcloud.clb.v20180317 import models

from admission_support import UdpEchoBackend, tcp_outcome, udp_ask
from backends import NamedBackend
from clb_support import checked, create_clb_with_vip, create_listener, listener, refused, register, task_status, write
from conftest import sdk_client

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def start_status(client, lb_id: str, operation: str, listener_ids: list[str] | None = None) -> None:
    params = {"LoadBalancerId": lb_id, "OperationType": operation}
    if listener_ids is not None:
        params["ListenerIds"] = listener_ids
    write(client, "SetLoadBalancerStartStatus", params)


def lb_view(client, lb_id: str) -> dict:
    return checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]


def test_set_load_balancer_start_status_stop_whole_clb_refuses_connections_start_serves_again(server):
    client = sdk_client(server.url)
    backend = NamedBackend("svc")
    try:
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = create_listener(client, lb_id, "TCP", [9600], HealthCheck={"HealthSwitch": 0})
        register(client, lb_id, listener_id, [backend.port])
        serving = tcp_outcome(vip, 9600)

        typed = models.SetLoadBalancerStartStatusRequest()
        typed.LoadBalancerId, typed.OperationType = lb_id, "Stop"
        assert task_status(client, client.SetLoadBalancerStartStatus(typed).RequestId) == 0
        stopped = tcp_outcome(vip, 9600)
        stopped_views = lb_view(client, lb_id), listener(client, lb_id, listener_id)
        checked(client, "DescribeTargetHealth", {"LoadBalancerIds": [lb_id]})

        start_status(client, lb_id, "Start")
        started = tcp_outcome(vip, 9600)
        started_views = lb_view(client, lb_id), listener(client, lb_id, listener_id)
    finally:
        backend.close()

    assert (serving, stopped, started) == (b"svc", "refused", b"svc")
    assert "Stop" in stopped_views[0]["AttributeFlags"] and stopped_views[0]["Status"] == 1
    assert "Stop" in stopped_views[1]["AttrFlags"]
    assert "Stop" not in started_views[0]["AttributeFlags"] and "Stop" not in started_views[1]["AttrFlags"]


def test_set_load_balancer_start_status_stop_one_listener_other_keeps_serving(server):
    client = sdk_client(server.url)
    backend = NamedBackend("two")
    try:
        lb_id, vip = create_clb_with_vip(client)
        first, second = create_listener(client, lb_id, "TCP", [9601, 9602], HealthCheck={"HealthSwitch": 0})
        register(client, lb_id, first, [backend.port])
        register(client, lb_id, second, [backend.port])
        start_status(client, lb_id, "Stop", [first])
        during = tcp_outcome(vip, 9601), tcp_outcome(vip, 9602)
        flags = listener(client, lb_id, first)["AttrFlags"], listener(client, lb_id, second)["AttrFlags"]
        lb_flags = lb_view(client, lb_id)["AttributeFlags"]
        start_status(client, lb_id, "Start", [first])
        after = tcp_outcome(vip, 9601)
    finally:
        backend.close()

    assert during == ("refused", b"two")
    assert "Stop" in flags[0] and "Stop" not in flags[1]
    assert "Stop" not in lb_flags
    assert after == b"two"


def test_set_load_balancer_start_status_stop_udp_listener_answers_nothing(server):
    client = sdk_client(server.url)
    backend = UdpEchoBackend("dgram")
    try:
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = create_listener(client, lb_id, "UDP", [9603], HealthCheck={"HealthSwitch": 0})
        register(client, lb_id, listener_id, [backend.port])
        before = udp_ask(vip, 9603, b"1")
        start_status(client, lb_id, "Stop")
        during = udp_ask(vip, 9603, b"2")
        start_status(client, lb_id, "Start")
        after = udp_ask(vip, 9603, b"3")
    finally:
        backend.close()

    assert (before, during, after) == (b"dgram:1", None, b"dgram:3")


def test_set_load_balancer_start_status_documented_refusals_change_nothing(server):
    client = sdk_client(server.url)
    lb_id, _ = create_clb_with_vip(client)
    create_listener(client, lb_id, "TCP", [9604], HealthCheck={"HealthSwitch": 0})

    refused(client, "SetLoadBalancerStartStatus", {"LoadBalancerId": lb_id, "OperationType": "Pause"},
            "InvalidParameterValue")
    refused(client, "SetLoadBalancerStartStatus", {"LoadBalancerId": lb_id, "OperationType": "Stop",
                                                   "ListenerIds": ["lbl-nothere"]},
            "InvalidParameter.ListenerIdNotFound")
    refused(client, "SetLoadBalancerStartStatus", {"LoadBalancerId": "lb-nothere", "OperationType": "Stop"},
            "InvalidParameter.LBIdNotFound", lb_id)
