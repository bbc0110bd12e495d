"""ModifyLoadBalancerSla, ModifyLoadBalancersProject and DescribeLBListeners through the official CLB SDK:
the SlaType and ProjectId read back in DescribeLoadBalancers (and its filters), every documented refusal
leaving the CLBs as they were, and the listeners a real server's address is bound to."""

from __future__ import annotations

import socket

import pytest
from tencentcloud.clb.v20180317 import models

from clb_support import checked, create_clb, create_clb_with_vip, create_listener, create_rules, refused, register, write
from conftest import sdk_client
from services_support import typed_call

pytestmark = pytest.mark.postgres


def described(client, lb_id: str) -> dict:
    (lb,) = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"]
    return lb


@pytest.mark.parametrize("sla_type", ["clb.c2.medium", "clb.c4.xlarge"])
def test_modify_load_balancer_sla_lcu_type_reads_back(any_store_server, sla_type):
    client = sdk_client(any_store_server.url)
    first, second = create_clb(client, "a"), create_clb(client, "b")

    write(client, "ModifyLoadBalancerSla", {"LoadBalancerSla": [
        {"LoadBalancerId": first, "SlaType": sla_type}, {"LoadBalancerId": second, "SlaType": "clb.c3.medium"}]})

    assert (described(client, first)["SlaType"], described(client, second)["SlaType"]) == (sla_type, "clb.c3.medium")
    found = checked(client, "DescribeLoadBalancers", {"Filters": [{"Name": "sla-type", "Values": [sla_type]}]})
    assert [lb["LoadBalancerId"] for lb in found["LoadBalancerSet"]] == [first]


def test_modify_load_balancer_sla_typed_model_answers_with_task(server, client):
    lb_id = create_clb(client, "a")
    request = models.ModifyLoadBalancerSlaRequest()
    request._deserialize({"LoadBalancerSla": [{"LoadBalancerId": lb_id, "SlaType": "clb.c3.small"}], "Force": True})

    response = client.ModifyLoadBalancerSla(request)

    assert checked(client, "DescribeTaskStatus", {"TaskId": response.RequestId})["Status"] in (0, 2)
    assert response.DealName == ""


@pytest.mark.parametrize(("sla", "code"), [
    ([{"LoadBalancerId": "LB", "SlaType": "shared"}], "InvalidParameterValue"),
    ([{"LoadBalancerId": "LB", "SlaType": "clb.c9.huge"}], "InvalidParameterValue"),
    ([{"LoadBalancerId": "lb-00000000", "SlaType": "clb.c2.medium"}], "InvalidParameter.LBIdNotFound"),
    ([{"LoadBalancerId": "LB", "SlaType": "clb.c2.medium"}] * 2, "InvalidParameterValue.Duplicate"),
    ([], "InvalidParameterValue.Length"),
    ([{"LoadBalancerId": "LB", "SlaType": "clb.c2.medium"},
      {"LoadBalancerId": "lb-00000000", "SlaType": "clb.c2.medium"}], "InvalidParameter.LBIdNotFound"),
])
def test_modify_load_balancer_sla_refused_changes_nothing(server, client, sla, code):
    lb_id = create_clb(client, "a")
    params = {"LoadBalancerSla": [{**item, "LoadBalancerId": item["LoadBalancerId"].replace("LB", lb_id)}
                                  for item in sla]}

    refused(client, "ModifyLoadBalancerSla", params, code, lb_id)

    assert described(client, lb_id)["SlaType"] == "shared"


def test_modify_load_balancers_project_reads_back_and_filters(any_store_server):
    client = sdk_client(any_store_server.url)
    moved, kept = create_clb(client, "a"), create_clb(client, "b")

    write(client, "ModifyLoadBalancersProject", {"LoadBalancerIds": [moved], "ProjectId": 1001})

    assert (described(client, moved)["ProjectId"], described(client, kept)["ProjectId"]) == (1001, 0)
    found = checked(client, "DescribeLoadBalancers", {"ProjectId": 1001})
    assert [lb["LoadBalancerId"] for lb in found["LoadBalancerSet"]] == [moved]


@pytest.mark.parametrize(("ids", "code"), [
    (["lb-00000000"], "InvalidParameter.LBIdNotFound"),
    (["LB", "LB"], "InvalidParameterValue.Duplicate"),
    (["LB", "lb-00000000"], "InvalidParameter.LBIdNotFound"),
    ([f"lb-{i:08d}" for i in range(21)], "InvalidParameterValue.Length"),
    ([], "InvalidParameterValue.Length"),
])
def test_modify_load_balancers_project_refused_changes_nothing(server, client, ids, code):
    lb_id = create_clb(client, "a")

    refused(client, "ModifyLoadBalancersProject",
            {"LoadBalancerIds": [i.replace("LB", lb_id) for i in ids], "ProjectId": 7}, code, lb_id)

    assert described(client, lb_id)["ProjectId"] == 0


def test_describe_lb_listeners_finds_listeners_and_rules_of_a_backend_address(server, client, named_backends,
                                                                               http_backends):
    tcp_target, web = named_backends("tcp", end=b"\n"), http_backends.start("web")
    lb_id, vip = create_clb_with_vip(client)
    (tcp_id,) = create_listener(client, lb_id, "TCP", [9711])
    (http_id,) = create_listener(client, lb_id, "HTTP", [9712])
    (location_id,) = create_rules(client, lb_id, http_id, [{"Domain": "a.test", "Url": "/"}])
    register(client, lb_id, tcp_id, [tcp_target.port])
    register(client, lb_id, http_id, [web.port], location_id)
    vpc_id = described(client, lb_id)["VpcId"]
    with socket.create_connection((vip, 9711), timeout=5) as conn:
        assert conn.makefile("rb").readline().startswith(b"tcp")

    answer = typed_call(client, "DescribeLBListeners", Backends=[{"VpcId": vpc_id, "PrivateIp": "127.0.0.1"}])

    (lb,) = answer.LoadBalancers
    by_id = {item.ListenerId: item for item in lb.Listeners}
    assert (lb.LoadBalancerId, lb.Vip, set(by_id)) == (lb_id, vip, {tcp_id, http_id})
    assert [(t.PrivateIp, t.Port, t.Type) for t in by_id[tcp_id].Targets] == [("127.0.0.1", tcp_target.port, "eni")]
    (rule,) = by_id[http_id].Rules
    assert (rule.LocationId, rule.Domain, [t.Port for t in rule.Targets]) == (location_id, "a.test", [web.port])
    elsewhere = checked(client, "DescribeLBListeners", {"Backends": [{"VpcId": "vpc-other", "PrivateIp": "127.0.0.1"}]})
    assert elsewhere["LoadBalancers"] == []
