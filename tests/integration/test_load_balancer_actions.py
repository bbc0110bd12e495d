"""CLB instance actions through the official Python SDK: modify, delete, describe, detail, tasks.

ModifyLoadBalancerAttributes (name, DeleteProtect), DeleteLoadBalancer (task 0, CLB gone, its
listener ports closed), DeleteLoadBalancerListeners (no ids = all), DescribeLoadBalancers and
DescribeLoadBalancersDetail filters, concurrent CreateLoadBalancer calls (distinct VIPs).
Refusals are checked for their exact code and for leaving DescribeLoadBalancers /
DescribeListeners unchanged; every response is checked against the spec and parsed into the
SDK's typed models.
"""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from tencentcloud.clb.v20180317 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from backends import accepts_tcp, port_free
from clb_support import checked, create_clb, create_listener, listeners, refused, task_status, write
from conftest import sdk_client
from openclb.api import accounts

pytestmark = pytest.mark.postgres


def describe_one(client, lb_id: str) -> dict | None:
    found = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})
    assert found["TotalCount"] == len(found["LoadBalancerSet"])
    return found["LoadBalancerSet"][0] if found["LoadBalancerSet"] else None


# ModifyLoadBalancerAttributes ---------------------------------------------------------------


def test_modify_load_balancer_attributes_delete_protect_blocks_delete_until_off(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client, "before")
    create_listener(client, lb_id, "TCP", [7080])
    write(client, "ModifyLoadBalancerAttributes", {"LoadBalancerId": lb_id, "LoadBalancerName": "after"})
    assert describe_one(client, lb_id)["LoadBalancerName"] == "after"

    write(client, "ModifyLoadBalancerAttributes", {"LoadBalancerId": lb_id, "DeleteProtect": True})
    assert "DeleteProtect" in describe_one(client, lb_id)["AttributeFlags"]
    message = refused(client, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]}, "FailedOperation", lb_id=lb_id)
    assert "protect" in message.lower()

    request = models.ModifyLoadBalancerAttributesRequest()
    request.LoadBalancerId = lb_id
    request.DeleteProtect = False
    assert task_status(client, client.ModifyLoadBalancerAttributes(request).RequestId) == 0
    assert "DeleteProtect" not in describe_one(client, lb_id)["AttributeFlags"]
    write(client, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]})
    assert describe_one(client, lb_id) is None


def test_modify_load_balancer_attributes_nothing_to_change_task_succeeds(server, client):
    lb_id = create_clb(client, "same")
    before = describe_one(client, lb_id)
    write(client, "ModifyLoadBalancerAttributes", {"LoadBalancerId": lb_id})
    assert describe_one(client, lb_id) == before


@pytest.mark.parametrize("name, code", [
    ("n" * 81, "InvalidParameterValue.Length"),
    ("", "InvalidParameterValue.Length"),
    ("clb\U0001F680", "InvalidParameterValue"),
])
def test_modify_load_balancer_attributes_invalid_name_refused_unchanged(server, client, name, code):
    lb_id = create_clb(client, "kept")
    refused(client, "ModifyLoadBalancerAttributes", {"LoadBalancerId": lb_id, "LoadBalancerName": name}, code)
    assert describe_one(client, lb_id)["LoadBalancerName"] == "kept"


@pytest.mark.parametrize("action, params", [
    ("ModifyLoadBalancerAttributes", {"LoadBalancerId": "lb-00000000", "LoadBalancerName": "x"}),
    ("DeleteLoadBalancer", {"LoadBalancerIds": ["lb-00000000"]}),
])
def test_load_balancer_action_unknown_clb_refused_lb_id_not_found(server, client, action, params):
    lb_id = create_clb(client)
    message = refused(client, action, params, "InvalidParameter.LBIdNotFound", lb_id=lb_id)
    assert "LoadBalancer not exist" in message


# DeleteLoadBalancer -----------------------------------------------------------------------------


def test_delete_load_balancer_removes_clb_and_closes_its_ports(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    other_id = create_clb(client, "other")
    vip = describe_one(client, lb_id)["LoadBalancerVips"][0]
    create_listener(client, lb_id, "TCP", [7081])
    create_listener(client, lb_id, "UDP", [7081])
    create_listener(client, lb_id, "TCP", [7090], EndPort=7092)
    assert accepts_tcp(vip, 7081) and accepts_tcp(vip, 7091) and not port_free(vip, 7081, (socket.SOCK_DGRAM,))

    request = models.DeleteLoadBalancerRequest()
    request.LoadBalancerIds = [lb_id]
    assert task_status(client, client.DeleteLoadBalancer(request).RequestId) == 0

    assert describe_one(client, lb_id) is None
    assert [lb["LoadBalancerId"] for lb in checked(client, "DescribeLoadBalancers", {})["LoadBalancerSet"]] == [other_id]
    assert not accepts_tcp(vip, 7081) and not accepts_tcp(vip, 7091) and port_free(vip, 7081, (socket.SOCK_DGRAM,))
    with pytest.raises(TencentCloudSDKException) as gone:
        client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})
    assert gone.value.code == "InvalidParameter.LBIdNotFound"
    refused(client, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]}, "InvalidParameter.LBIdNotFound",
            lb_id=other_id)
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [7081]},
            "InvalidParameter.LBIdNotFound", lb_id=other_id)


def test_delete_load_balancer_one_unknown_id_deletes_none(server, client):
    lb_id = create_clb(client)
    create_listener(client, lb_id, "TCP", [7082])
    refused(client, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id, "lb-00000000"]},
            "InvalidParameter.LBIdNotFound", lb_id=lb_id)
    assert describe_one(client, lb_id)["Status"] == 1


def test_delete_load_balancer_two_at_once_both_gone(server, client):
    first, second, kept = create_clb(client, "a"), create_clb(client, "b"), create_clb(client, "c")
    create_listener(client, first, "TCP", [7083])
    write(client, "DeleteLoadBalancer", {"LoadBalancerIds": [first, second]})
    remaining = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [first, second, kept]})
    assert [lb["LoadBalancerId"] for lb in remaining["LoadBalancerSet"]] == [kept]
    assert remaining["TotalCount"] == 1


# DeleteLoadBalancerListeners ---------------------------------------------------------------------


def test_delete_load_balancer_listeners_without_ids_deletes_all(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    vip = describe_one(client, lb_id)["LoadBalancerVips"][0]
    create_listener(client, lb_id, "TCP", [7101, 7102])
    create_listener(client, lb_id, "UDP", [7101])
    write(client, "DeleteLoadBalancerListeners", {"LoadBalancerId": lb_id})
    assert listeners(client, lb_id) == []
    assert not accepts_tcp(vip, 7101) and port_free(vip, 7101, (socket.SOCK_DGRAM,))
    assert describe_one(client, lb_id)["Status"] == 1


def test_delete_load_balancer_listeners_given_ids_deletes_only_those(server, client):
    lb_id = create_clb(client)
    first, second, third = create_listener(client, lb_id, "TCP", [7111, 7112, 7113])
    request = models.DeleteLoadBalancerListenersRequest()
    request.LoadBalancerId = lb_id
    request.ListenerIds = [first, third]
    assert task_status(client, client.DeleteLoadBalancerListeners(request).RequestId) == 0
    assert [l["ListenerId"] for l in listeners(client, lb_id)] == [second]
    refused(client, "DeleteLoadBalancerListeners", {"LoadBalancerId": lb_id, "ListenerIds": [second, first]},
            "InvalidParameter")
    too_many = [f"lbl-{i:08d}" for i in range(21)]
    refused(client, "DeleteLoadBalancerListeners", {"LoadBalancerId": lb_id, "ListenerIds": too_many},
            "InvalidParameterValue.Length")


# DescribeLoadBalancers ------------------------------------------------------------------------------


@pytest.fixture
def three_clbs(server, client):
    prod = create_clb(client, "web-prod", Tags=[{"TagKey": "env", "TagValue": "prod"}])
    dev = create_clb(client, "web-dev", Tags=[{"TagKey": "env", "TagValue": "dev"}, {"TagKey": "team", "TagValue": "a"}])
    internal = write(client, "CreateLoadBalancer", {
        "LoadBalancerType": "INTERNAL", "LoadBalancerName": "db-internal", "VpcId": "vpc-12345678",
        "SubnetId": "subnet-12345678"})["LoadBalancerIds"][0]
    return {"prod": prod, "dev": dev, "internal": internal}


def _ids(client, params: dict) -> set[str]:
    found = checked(client, "DescribeLoadBalancers", params)
    assert found["TotalCount"] == len(found["LoadBalancerSet"])
    return {lb["LoadBalancerId"] for lb in found["LoadBalancerSet"]}


def test_describe_load_balancers_filters_select_matching(three_clbs, client):
    prod, dev, internal = three_clbs["prod"], three_clbs["dev"], three_clbs["internal"]
    vip = describe_one(client, dev)["LoadBalancerVips"][0]
    assert _ids(client, {}) == {prod, dev, internal}
    assert _ids(client, {"LoadBalancerIds": [prod, internal]}) == {prod, internal}
    assert _ids(client, {"LoadBalancerIds": ["lb-00000000"]}) == set()
    assert _ids(client, {"LoadBalancerName": "web"}) == {prod, dev}
    assert _ids(client, {"LoadBalancerName": "-prod"}) == {prod}
    assert _ids(client, {"LoadBalancerVips": [vip]}) == {dev}
    assert _ids(client, {"LoadBalancerType": "INTERNAL"}) == {internal}
    assert _ids(client, {"LoadBalancerType": "OPEN", "LoadBalancerName": "dev"}) == {dev}
    assert _ids(client, {"Filters": [{"Name": "tag:env", "Values": ["prod"]}]}) == {prod}
    assert _ids(client, {"Filters": [{"Name": "tag:env", "Values": ["prod", "dev"]}]}) == {prod, dev}
    assert _ids(client, {"Filters": [{"Name": "tag-key", "Values": ["team"]}]}) == {dev}
    assert _ids(client, {"Filters": [{"Name": "tag:env", "Values": ["staging"]}]}) == set()


def test_describe_load_balancers_offset_limit_pages_without_overlap(three_clbs, client):
    request = models.DescribeLoadBalancersRequest()
    request.Limit = 2
    first = client.DescribeLoadBalancers(request)
    request.Offset = 2
    second = client.DescribeLoadBalancers(request)
    assert (first.TotalCount, second.TotalCount) == (3, 3)
    assert (len(first.LoadBalancerSet), len(second.LoadBalancerSet)) == (2, 1)
    paged = [lb.LoadBalancerId for lb in first.LoadBalancerSet + second.LoadBalancerSet]
    assert sorted(paged) == sorted(three_clbs.values())
    assert first.LoadBalancerSet[0].TargetRegionInfo.Region == "ap-guangzhou"
    request.Offset = 3
    assert client.DescribeLoadBalancers(request).LoadBalancerSet == []


@pytest.mark.parametrize("params, code", [
    ({"Filters": [{"Name": "no-such-filter", "Values": ["x"]}]}, "InvalidParameterValue.InvalidFilter"),
    ({"Limit": 101}, "InvalidParameterValue.Range"),
    ({"LoadBalancerIds": [f"lb-{i:08d}" for i in range(21)]}, "InvalidParameterValue.Length"),
    ({"OrderBy": "Vip"}, "InvalidParameterValue"),
])
def test_describe_load_balancers_invalid_query_refused(server, client, params, code):
    create_clb(client)
    refused(client, "DescribeLoadBalancers", params, code)


# DescribeLoadBalancersDetail ---------------------------------------------------------------------


def test_describe_load_balancers_detail_rows_per_listener_filters_and_fields(three_clbs, client):
    prod, dev, internal = three_clbs["prod"], three_clbs["dev"], three_clbs["internal"]
    tcp_id, udp_id = create_listener(client, prod, "TCP", [7201]) + create_listener(client, prod, "UDP", [7201])
    rows = checked(client, "DescribeLoadBalancersDetail", {})["LoadBalancerDetailSet"]
    assert len(rows) == 4
    by_lb = {}
    for row in rows:
        by_lb.setdefault(row["LoadBalancerId"], []).append(row)
    assert {r["ListenerId"] for r in by_lb[prod]} == {tcp_id, udp_id}
    assert {(r["Protocol"], r["Port"]) for r in by_lb[prod]} == {("TCP", 7201), ("UDP", 7201)}
    assert by_lb[dev][0]["ListenerId"] is None and by_lb[dev][0]["LoadBalancerName"] == "web-dev"
    assert (by_lb[internal][0]["LoadBalancerType"], by_lb[prod][0]["LoadBalancerType"]) == ("Private", "Public")

    def detail_ids(filters: list[dict]) -> list[str]:
        found = checked(client, "DescribeLoadBalancersDetail", {"Filters": filters})
        assert found["TotalCount"] == len(found["LoadBalancerDetailSet"])
        return sorted(r["LoadBalancerId"] for r in found["LoadBalancerDetailSet"])

    vip = describe_one(client, dev)["LoadBalancerVips"][0]
    assert detail_ids([{"Name": "loadbalancer-id", "Values": [dev]}]) == [dev]
    assert detail_ids([{"Name": "vip", "Values": [vip]}]) == [dev]
    assert detail_ids([{"Name": "network", "Values": ["Private"]}]) == [internal]
    assert detail_ids([{"Name": "tag:env", "Values": ["prod"]}]) == [prod, prod]
    assert detail_ids([{"Name": "fuzzy-search", "Values": ["web-d"]}]) == [dev]
    assert detail_ids([{"Name": "network", "Values": ["Public"]}, {"Name": "tag-key", "Values": ["team"]}]) == [dev]

    narrowed = checked(client, "DescribeLoadBalancersDetail", {
        "Fields": ["Address", "Protocol"], "Filters": [{"Name": "loadbalancer-id", "Values": [prod]}]})
    (row, _) = narrowed["LoadBalancerDetailSet"]
    assert row["LoadBalancerId"] == prod and row["LoadBalancerName"] == "web-prod" and row["Protocol"] in ("TCP", "UDP")
    assert row["Address"] == describe_one(client, prod)["LoadBalancerVips"][0]
    assert row["Port"] is None and row["VpcId"] is None

    write(client, "RegisterTargets", {"LoadBalancerId": prod, "ListenerId": tcp_id,
                                      "Targets": [{"EniIp": "127.0.0.9", "Port": 9999, "Weight": 30}]})
    (target_row,) = [r for r in checked(client, "DescribeLoadBalancersDetail", {})["LoadBalancerDetailSet"]
                     if r["ListenerId"] == tcp_id]
    assert (target_row["TargetAddress"], target_row["TargetPort"], target_row["TargetWeight"]) == ("127.0.0.9", 9999, 30)
    assert detail_ids([{"Name": "target-ip", "Values": ["127.0.0.9"]}]) == [prod, prod]

    paged = checked(client, "DescribeLoadBalancersDetail", {"Limit": 3, "Offset": 2})
    assert paged["TotalCount"] == 4 and len(paged["LoadBalancerDetailSet"]) == 2
    refused(client, "DescribeLoadBalancersDetail", {"Filters": [{"Name": "bogus", "Values": ["1"]}]},
            "InvalidParameterValue.InvalidFilter")


# DescribeTaskStatus ---------------------------------------------------------------------------------


def test_describe_task_status_unknown_task_refused_invalid_parameter(server, client):
    with pytest.raises(TencentCloudSDKException) as unknown:
        client.call_json("DescribeTaskStatus", {"TaskId": "00000000-0000-0000-0000-000000000000"})
    assert unknown.value.code == "InvalidParameter"


def test_describe_task_status_create_load_balancer_reports_new_ids(server, client):
    request = models.CreateLoadBalancerRequest()
    request.LoadBalancerType = "OPEN"
    request.Number = 2
    created = client.CreateLoadBalancer(request)
    assert task_status(client, created.RequestId) == 0
    status = checked(client, "DescribeTaskStatus", {"TaskId": created.RequestId})
    assert sorted(status["LoadBalancerIds"]) == sorted(created.LoadBalancerIds)
    assert _ids(client, {}) == set(created.LoadBalancerIds)


# CreateLoadBalancer -----------------------------------------------------------------------------


def test_create_load_balancer_concurrent_calls_all_succeed_with_distinct_vips(any_store_server):
    """Twenty SDK clients create a CLB each at the same moment: none loses a race for a VIP."""
    callers = 20
    start = threading.Barrier(callers)

    def create(index: int) -> tuple[str, str]:
        caller = sdk_client(any_store_server.url)
        request = models.CreateLoadBalancerRequest()
        request.LoadBalancerType = "OPEN"
        request.LoadBalancerName = f"concurrent-{index}"
        start.wait(10)
        response = caller.CreateLoadBalancer(request)
        return response.LoadBalancerIds[0], response.RequestId

    with ThreadPoolExecutor(max_workers=callers) as pool:
        created = list(pool.map(create, range(callers)))

    client = sdk_client(any_store_server.url)
    assert [task_status(client, task_id) for _, task_id in created] == [0] * callers
    found = checked(client, "DescribeLoadBalancers", {"Limit": 100})["LoadBalancerSet"]
    vips = {lb["LoadBalancerId"]: lb["LoadBalancerVips"][0] for lb in found}
    assert sorted(vips) == sorted(lb_id for lb_id, _ in created)
    assert len(set(vips.values())) == callers


def test_create_load_balancer_vip_taken_by_other_account_same_answer_as_unusable(server_factory, tmp_path):
    """Another account's VIP, an address outside the pool and a malformed one answer alike."""
    data_dir = tmp_path / "vip-oracle"
    tenant = accounts.add_account(data_dir / "accounts.json", "AKIDvipOracle0000000000000000000", "vipOracleKey")
    server = server_factory(data_dir=data_dir)
    other = sdk_client(server.url, secret_id=tenant.secret_id, secret_key="vipOracleKey")
    owner = sdk_client(server.url)
    taken = owner.call_json("CreateLoadBalancer", {"LoadBalancerType": "OPEN"})["Response"]
    vip = owner.call_json("DescribeLoadBalancers", {"LoadBalancerIds": taken["LoadBalancerIds"]})[
        "Response"]["LoadBalancerSet"][0]["LoadBalancerVips"][0]
    answers = set()
    for wanted in (vip, "10.255.255.1", "not-an-ip"):
        try:
            other.call_json("CreateLoadBalancer", {"LoadBalancerType": "OPEN", "Vip": wanted})
        except TencentCloudSDKException as exc:
            answers.add((exc.code, exc.message.replace(wanted, "VIP")))
    assert answers == {("InvalidParameterValue", "The Vip VIP is not a free address of this load balancer pool.")}
