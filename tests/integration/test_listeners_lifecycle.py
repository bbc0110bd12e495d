"""CreateListener end to end: the documented examples, tasks, live ports, concurrency, tenancy.

Everything goes through the official Python SDK (typed models and call_json) against a real
server, and every "listening" claim is checked by connecting to the CLB's VIP.
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from tencentcloud.clb.v20180317 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from backends import accepts_tcp
from clb_support import create_clb_with_vip as create_clb, task_status
from conftest import sdk_client

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def test_create_listener_documented_two_tcp_listeners_are_bound(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id, vip = create_clb(client)
    request = models.CreateListenerRequest()
    request.from_json_string(json.dumps(
        {"LoadBalancerId": lb_id, "Ports": [7569, 7570], "Protocol": "TCP", "ListenerNames": ["lis0", "lis1"]}
    ))
    response = client.CreateListener(request)

    assert len(response.ListenerIds) == 2
    assert all(i.startswith("lbl-") and len(i) == 12 for i in response.ListenerIds)
    assert task_status(client, response.RequestId) == 0
    listeners = client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})["Response"]["Listeners"]
    assert {l["ListenerName"]: l["Port"] for l in listeners} == {"lis0": 7569, "lis1": 7570}
    assert {l["ListenerId"] for l in listeners} == set(response.ListenerIds)
    assert accepts_tcp(vip, 7569) and accepts_tcp(vip, 7570)


def test_create_listener_documented_health_check_reads_back_unchanged(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id, _ = create_clb(client)
    health = {"HealthSwitch": 1, "TimeOut": 5, "IntervalTime": 7, "HealthNum": 4, "UnHealthNum": 4}
    response = client.call_json(
        "CreateListener", {"LoadBalancerId": lb_id, "Ports": [7571], "Protocol": "TCP", "HealthCheck": health}
    )["Response"]
    assert task_status(client, response["RequestId"]) == 0

    request = models.DescribeListenersRequest()
    request.LoadBalancerId = lb_id
    request.ListenerIds = response["ListenerIds"]
    (listener,) = client.DescribeListeners(request).Listeners
    read_back = {k: getattr(listener.HealthCheck, k) for k in health}
    assert read_back == health
    assert listener.HealthCheck.CheckType == "TCP"
    assert listener.SniSwitch == 0 and listener.Protocol == "TCP"


def test_create_listener_udp_listener_binds_datagram_socket(server, client):
    lb_id, vip = create_clb(client)
    response = client.call_json("CreateListener", {"LoadBalancerId": lb_id, "Ports": [5353], "Protocol": "UDP"})
    assert task_status(client, response["Response"]["RequestId"]) == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        with pytest.raises(OSError):
            probe.bind((vip, 5353))
    (listener,) = client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})["Response"]["Listeners"]
    assert listener["HealthCheck"]["CheckType"] == "PING"
    assert listener["IdleConnectTimeout"] == 300


def test_create_listener_port_held_by_other_process_fails_task_and_leaves_nothing(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id, vip = create_clb(client)
    with socket.socket() as squatter:
        squatter.bind((vip, 7600))
        squatter.listen()
        response = client.call_json(
            "CreateListener", {"LoadBalancerId": lb_id, "Ports": [7599, 7600], "Protocol": "TCP"}
        )["Response"]
        request = models.DescribeTaskStatusRequest()
        request.TaskId = response["RequestId"]
        assert task_status(client, response["RequestId"]) == 1
        status = client.DescribeTaskStatus(request)
        assert "7600" in status.Message and "in use" in status.Message
    described = client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})["Response"]
    assert described["Listeners"] == [] and described["TotalCount"] == 0
    assert not accepts_tcp(vip, 7599)


def test_delete_listener_closes_port_before_task_succeeds(server, client):
    lb_id, vip = create_clb(client)
    created = client.call_json("CreateListener", {"LoadBalancerId": lb_id, "Ports": [7601], "Protocol": "TCP"})
    (listener_id,) = created["Response"]["ListenerIds"]
    assert accepts_tcp(vip, 7601)
    request = models.DeleteListenerRequest()
    request.LoadBalancerId = lb_id
    request.ListenerId = listener_id
    response = client.DeleteListener(request)
    assert task_status(client, response.RequestId) == 0
    assert not accepts_tcp(vip, 7601)
    assert client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})["Response"]["TotalCount"] == 0


def test_create_listener_ten_concurrent_calls_for_one_port_create_exactly_one(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id, vip = create_clb(client)

    def attempt(index: int) -> str:
        own_client = sdk_client(any_store_server.url)
        try:
            own_client.call_json("CreateListener", {
                "LoadBalancerId": lb_id, "Ports": [7700], "Protocol": "TCP", "ListenerNames": [f"c{index}"]})
            return "ok"
        except TencentCloudSDKException as exc:
            return exc.code

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(attempt, range(10)))

    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) <= {"ok", "InvalidParameter.PortCheckFailed", "FailedOperation.ResourceInOperating"}
    listeners = client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})["Response"]["Listeners"]
    assert [l["Port"] for l in listeners] == [7700]
    assert accepts_tcp(vip, 7700)


def test_create_listener_two_clbs_same_port_each_on_own_vip(server, client):
    first_id, first_vip = create_clb(client, "one")
    second_id, second_vip = create_clb(client, "two")
    assert first_vip != second_vip
    for lb_id in (first_id, second_id):
        response = client.call_json("CreateListener", {"LoadBalancerId": lb_id, "Ports": [7800], "Protocol": "TCP"})
        assert task_status(client, response["Response"]["RequestId"]) == 0
    assert accepts_tcp(first_vip, 7800) and accepts_tcp(second_vip, 7800)


def test_describe_load_balancers_other_account_sees_nothing(server_factory, tmp_path):
    from openclb.api.accounts import add_account

    data_dir = tmp_path / "tenancy"
    other = add_account(data_dir / "data" / "accounts.json", "AKIDotheraccount0000000000000000", "otherkey")
    running = server_factory(data_dir=data_dir / "data")
    mine = sdk_client(running.url)
    theirs = sdk_client(running.url, secret_id=other.secret_id, secret_key="otherkey")
    lb_id, _ = create_clb(mine)

    assert mine.call_json("DescribeLoadBalancers", {})["Response"]["TotalCount"] == 1
    assert theirs.call_json("DescribeLoadBalancers", {})["Response"]["TotalCount"] == 0
    with pytest.raises(TencentCloudSDKException) as refused:
        theirs.call_json("DescribeListeners", {"LoadBalancerId": lb_id})
    assert refused.value.code == "InvalidParameter.LBIdNotFound"
    assert "LoadBalancer not exist" in refused.value.message
