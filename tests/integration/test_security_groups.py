"""Security groups enforced on CLBs: vpc's group and policy actions, clb's bindings, real clients.

Groups and policies through the official vpc SDK client (typed models and call_json), bindings
through the CLB client; traffic from two loopback sources: a policy admits 127.0.0.2 and what no
policy accepts (127.0.0.3) is dropped: a TCP connection is closed before any byte (or reset, on
HAProxy), a UDP datagram gets no answer. A CLB with no group admits everything.
"""

from __future__ import annotations

import http.client
import socket

import pytest
from tencentcloud.clb.v20180317 import models

from admission_support import UdpEchoBackend, tcp_outcome, udp_ask
from backends import NamedBackend
from clb_support import (
    checked, create_clb_with_vip, create_listener, create_rules, refused, register, task_status, write,
)
from conftest import sdk_client
from l7_support import request
from services_support import service_checked, service_client, service_refused, typed_call

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

ALLOWED, DROPPED = "127.0.0.2", "127.0.0.3"
REFUSED = ("closed", "reset")


def policy(cidr: str, action: str = "ACCEPT", protocol: str = "ALL", port: str = "all", **extra) -> dict:
    return {"Protocol": protocol, "Port": port, "CidrBlock": cidr, "Action": action, **extra}


def new_group(vpc, name: str = "web", ingress: list[dict] | None = None) -> str:
    created = typed_call(vpc, "CreateSecurityGroup", GroupName=name, GroupDescription="for tests")
    group_id = created.SecurityGroup.SecurityGroupId
    if ingress:
        service_checked(vpc, "CreateSecurityGroupPolicies", {
            "SecurityGroupId": group_id, "SecurityGroupPolicySet": {"Ingress": ingress}})
    return group_id


def bind(client, lb_id: str, groups: list[str]) -> None:
    write(client, "SetLoadBalancerSecurityGroups", {"LoadBalancerId": lb_id, "SecurityGroups": groups})


def ingress(vpc, group_id: str) -> dict:
    answer = service_checked(vpc, "DescribeSecurityGroupPolicies", {"SecurityGroupId": group_id})
    return answer["SecurityGroupPolicySet"]


@pytest.fixture
def tcp_clb(server):
    client = sdk_client(server.url)
    backend = NamedBackend("guarded")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [9700], HealthCheck={"HealthSwitch": 0})
    register(client, lb_id, listener_id, [backend.port])
    yield client, service_client(server.url, "vpc"), lb_id, vip
    backend.close()


def test_set_load_balancer_security_groups_policy_admits_one_source_drops_the_other(tcp_clb):
    client, vpc, lb_id, vip = tcp_clb
    open_before = tcp_outcome(vip, 9700, DROPPED)
    group_id = new_group(vpc, ingress=[policy(f"{ALLOWED}/32", protocol="TCP", port="9700")])
    bind(client, lb_id, [group_id])
    bound = (tcp_outcome(vip, 9700, ALLOWED), tcp_outcome(vip, 9700, DROPPED))
    shown = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]["SecureGroups"]
    bind(client, lb_id, [])
    unbound = tcp_outcome(vip, 9700, DROPPED)

    assert open_before == b"guarded"
    assert bound[0] == b"guarded" and bound[1] in REFUSED
    assert shown == [group_id]
    assert unbound == b"guarded"


def test_security_group_policy_changes_reach_the_data_plane_in_order(tcp_clb):
    client, vpc, lb_id, vip = tcp_clb
    group_id = new_group(vpc, ingress=[policy(f"{DROPPED}/32", "DROP"), policy("127.0.0.0/8")])
    bind(client, lb_id, [group_id])
    ordered = (tcp_outcome(vip, 9700, ALLOWED), tcp_outcome(vip, 9700, DROPPED))

    version = ingress(vpc, group_id)["Version"]
    service_checked(vpc, "ReplaceSecurityGroupPolicies", {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {
        "Version": version, "Ingress": [policy(f"{DROPPED}/32", PolicyIndex=0)]}})
    replaced = tcp_outcome(vip, 9700, DROPPED)

    service_checked(vpc, "DeleteSecurityGroupPolicies", {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {
        "Ingress": [{"PolicyIndex": 1}]}})
    only_dropped_source = (tcp_outcome(vip, 9700, ALLOWED), tcp_outcome(vip, 9700, DROPPED))

    typed_call(vpc, "ModifySecurityGroupPolicies", SecurityGroupId=group_id,
               SecurityGroupPolicySet={"Ingress": [policy("127.0.0.0/8", protocol="TCP", port="9000-9699")]})
    other_port = tcp_outcome(vip, 9700, ALLOWED)
    final = ingress(vpc, group_id)

    assert ordered[0] == b"guarded" and ordered[1] in REFUSED
    assert replaced == b"guarded"
    assert only_dropped_source[0] in REFUSED and only_dropped_source[1] == b"guarded"
    assert other_port in REFUSED
    assert int(final["Version"]) == int(version) + 3
    assert [(p["PolicyIndex"], p["Port"], p["CidrBlock"]) for p in final["Ingress"]] == [
        (0, "9000-9699", "127.0.0.0/8")]


def test_security_group_established_connection_kept_when_policy_drops_its_source(tcp_clb):
    client, vpc, lb_id, vip = tcp_clb
    group_id = new_group(vpc, ingress=[policy(f"{ALLOWED}/32")])
    bind(client, lb_id, [group_id])
    with socket.socket() as kept:
        kept.settimeout(2)
        kept.bind((ALLOWED, 0))
        kept.connect((vip, 9700))
        assert kept.recv(16) == b"guarded"
        typed_call(vpc, "ModifySecurityGroupPolicies", SecurityGroupId=group_id,
                   SecurityGroupPolicySet={"Ingress": [policy(f"{DROPPED}/32")]})
        new = tcp_outcome(vip, 9700, ALLOWED)
        kept.sendall(b"still")
        echoed = kept.recv(16)

    assert new in REFUSED
    assert echoed == b"still"


def test_set_security_group_for_loadbalancers_add_and_del_udp_flows(server):
    client, vpc = sdk_client(server.url), service_client(server.url, "vpc")
    backend = UdpEchoBackend("udp")
    try:
        lb_id, vip = create_clb_with_vip(client)
        other_id, _ = create_clb_with_vip(client, "other")
        (listener_id,) = create_listener(client, lb_id, "UDP", [9701], HealthCheck={"HealthSwitch": 0})
        register(client, lb_id, listener_id, [backend.port])
        group_id = new_group(vpc, ingress=[policy(f"{ALLOWED}/32", protocol="UDP", port="9701")])
        typed = models.SetSecurityGroupForLoadbalancersRequest()
        typed.SecurityGroup, typed.OperationType, typed.LoadBalancerIds = group_id, "ADD", [lb_id, other_id]
        assert task_status(client, client.SetSecurityGroupForLoadbalancers(typed).RequestId) == 0
        added = (udp_ask(vip, 9701, b"a", ALLOWED), udp_ask(vip, 9701, b"b", DROPPED))
        shown = [lb["SecureGroups"] for lb in checked(client, "DescribeLoadBalancers", {})["LoadBalancerSet"]]
        filtered = checked(client, "DescribeLoadBalancers", {"SecurityGroup": group_id})["TotalCount"]
        write(client, "SetSecurityGroupForLoadbalancers", {"SecurityGroup": group_id, "OperationType": "DEL",
                                                            "LoadBalancerIds": [lb_id]})
        removed = udp_ask(vip, 9701, b"c", DROPPED)
        filtered_after = checked(client, "DescribeLoadBalancers", {"SecurityGroup": group_id})["TotalCount"]
    finally:
        backend.close()

    assert added == (b"udp:a", None)
    assert shown == [[group_id], [group_id]]
    assert removed == b"udp:c"
    assert (filtered, filtered_after) == (2, 1)


def test_describe_security_groups_by_ids_and_filters(server):
    vpc = service_client(server.url, "vpc")
    first, second = new_group(vpc, "alpha"), new_group(vpc, "beta")

    every = service_checked(vpc, "DescribeSecurityGroups")
    by_id = typed_call(vpc, "DescribeSecurityGroups", SecurityGroupIds=[second])
    by_name = service_checked(vpc, "DescribeSecurityGroups", {
        "Filters": [{"Name": "security-group-name", "Values": ["alpha"]}]})
    paged = service_checked(vpc, "DescribeSecurityGroups", {"Offset": "1", "Limit": "1"})

    assert [g["SecurityGroupId"] for g in every["SecurityGroupSet"]] == [first, second]
    assert by_id.TotalCount == 1 and by_id.SecurityGroupSet[0].SecurityGroupName == "beta"
    assert [g["SecurityGroupId"] for g in by_name["SecurityGroupSet"]] == [first]
    assert paged["TotalCount"] == 2 and [g["SecurityGroupId"] for g in paged["SecurityGroupSet"]] == [second]


def test_security_group_documented_refusals_change_nothing(tcp_clb):
    client, vpc, lb_id, _ = tcp_clb
    group_id = new_group(vpc, ingress=[policy(f"{ALLOWED}/32")])
    bind(client, lb_id, [group_id])
    groups_before, policies_before = service_checked(vpc, "DescribeSecurityGroups"), ingress(vpc, group_id)
    on = {"SecurityGroupId": group_id}

    service_refused(vpc, "DeleteSecurityGroup", on, "ResourceInUse")
    service_refused(vpc, "DeleteSecurityGroup", {"SecurityGroupId": "sg-nothere1"}, "InvalidSecurityGroupID.NotFound")
    service_refused(vpc, "DeleteSecurityGroup", {"SecurityGroupId": "group-1"}, "InvalidSecurityGroupID.Malformed")
    service_refused(vpc, "CreateSecurityGroup", {"GroupName": "x" * 61, "GroupDescription": "d"},
                    "InvalidParameterValue.TooLong")
    service_refused(vpc, "DescribeSecurityGroups", {"SecurityGroupIds": [group_id], "Filters": [
        {"Name": "security-group-name", "Values": ["web"]}]}, "InvalidParameter.Coexist")
    for bad, code in (
        (policy(f"{ALLOWED}/32"), "UnsupportedOperation.DuplicatePolicy"),
        (policy("10.0.0.0/8", port="80"), "InvalidParameterValue"),
        (policy("10.0.0.0/33"), "InvalidParameterValue"),
        (policy("10.0.0.0/8", action="MAYBE"), "InvalidParameterValue"),
        ({"Protocol": "TCP", "Port": "80", "Action": "ACCEPT",
          "AddressTemplate": {"AddressId": "ipm-12345678", "AddressGroupId": ""}}, "UnsupportedOperation"),
    ):
        service_refused(vpc, "CreateSecurityGroupPolicies", {**on, "SecurityGroupPolicySet": {"Ingress": [bad]}}, code)
    service_refused(vpc, "CreateSecurityGroupPolicies", {**on, "SecurityGroupPolicySet": {
        "Version": "99", "Ingress": [policy("10.0.0.0/8")]}}, "UnsupportedOperation.VersionMismatch")
    service_refused(vpc, "ReplaceSecurityGroupPolicies", {**on, "SecurityGroupPolicySet": {
        "Ingress": [policy("10.0.0.0/8", PolicyIndex=5)]}}, "InvalidParameterValue.Range")
    refused(client, "SetLoadBalancerSecurityGroups", {"LoadBalancerId": lb_id, "SecurityGroups": ["sg-nothere1"]},
            "InvalidParameterValue")
    refused(client, "SetSecurityGroupForLoadbalancers", {"SecurityGroup": group_id, "OperationType": "MOVE",
                                                         "LoadBalancerIds": [lb_id]}, "InvalidParameterValue", lb_id)
    refused(client, "SetSecurityGroupForLoadbalancers", {"SecurityGroup": group_id, "OperationType": "ADD",
                                                         "LoadBalancerIds": ["lb-nothere"]},
            "InvalidParameter.LBIdNotFound", lb_id)

    groups_after = service_checked(vpc, "DescribeSecurityGroups")
    groups_before.pop("RequestId"), groups_after.pop("RequestId")
    assert groups_after == groups_before
    assert ingress(vpc, group_id) == policies_before


def test_set_load_balancer_security_groups_http_request_from_dropped_source_gets_no_answer(server, http_backends):
    client, vpc = sdk_client(server.url), service_client(server.url, "vpc")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [9702])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "c.example.com", "Url": "/"}])
    register(client, lb_id, listener_id, [http_backends.start("web").port], location_id)
    bind(client, lb_id, [new_group(vpc, ingress=[policy(f"{ALLOWED}/32", protocol="TCP", port="9702")])])

    admitted = request(vip, 9702, "/", host="c.example.com", source_ip=ALLOWED).status
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        request(vip, 9702, "/", host="c.example.com", source_ip=DROPPED)

    assert admitted == 200


def test_security_group_policy_actions_typed_models_round_trip_and_delete_unbound_group(server):
    vpc = service_client(server.url, "vpc")
    group_id = new_group(vpc, "typed")
    typed_call(vpc, "CreateSecurityGroupPolicies", SecurityGroupId=group_id, SecurityGroupPolicySet={
        "Ingress": [policy("10.0.0.0/8", protocol="TCP", port="80,443")],
        "Egress": [policy("0.0.0.0/0")]})
    created = typed_call(vpc, "DescribeSecurityGroupPolicies", SecurityGroupId=group_id).SecurityGroupPolicySet
    typed_call(vpc, "ReplaceSecurityGroupPolicies", SecurityGroupId=group_id, SecurityGroupPolicySet={
        "Ingress": [policy("10.0.0.0/16", "DROP", PolicyIndex=0)]})
    typed_call(vpc, "DeleteSecurityGroupPolicies", SecurityGroupId=group_id, SecurityGroupPolicySet={
        "Egress": [policy("0.0.0.0/0")]})
    final = typed_call(vpc, "DescribeSecurityGroupPolicies", SecurityGroupId=group_id).SecurityGroupPolicySet
    typed_call(vpc, "DeleteSecurityGroup", SecurityGroupId=group_id)
    left = typed_call(vpc, "DescribeSecurityGroups").TotalCount

    assert created.Version == "1"
    assert [(p.Protocol, p.Port, p.CidrBlock, p.Action) for p in created.Ingress] == [
        ("TCP", "80,443", "10.0.0.0/8", "ACCEPT")]
    assert [(p.CidrBlock, p.Action) for p in created.Egress] == [("0.0.0.0/0", "ACCEPT")]
    assert final.Version == "3"
    assert [(p.PolicyIndex, p.CidrBlock, p.Action) for p in final.Ingress] == [(0, "10.0.0.0/16", "DROP")]
    assert final.Egress == []
    assert left == 0


def test_set_load_balancer_security_groups_typed_model_binds_and_describe_shows(tcp_clb):
    client, vpc, lb_id, _ = tcp_clb
    first, second = new_group(vpc, "one"), new_group(vpc, "two")
    typed = models.SetLoadBalancerSecurityGroupsRequest()
    typed.LoadBalancerId, typed.SecurityGroups = lb_id, [second, first, second]

    assert task_status(client, client.SetLoadBalancerSecurityGroups(typed).RequestId) == 0
    described = client.DescribeLoadBalancers(models.DescribeLoadBalancersRequest()).LoadBalancerSet[0]
    assert described.SecureGroups == [second, first]
