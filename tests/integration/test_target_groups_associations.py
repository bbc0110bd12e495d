"""AssociateTargetGroups / DisassociateTargetGroups through the official SDK: HTTP traffic, refusals, clean-up.

Layer 7 binds a group to a rule (TargetType TARGETGROUP, LocationId required): HTTP requests
matching the rule reach the group's instances, and 503 once it is unbound, as a rule without
targets answers. Every documented refusal is asserted with its code and with nothing changed;
deleting a listener, a rule or a CLB drops its associations.
"""

from __future__ import annotations

import pytest

from admin_support import admin, admin_client
from clb_support import (
    checked, create_clb, create_clb_with_vip, create_listener, create_rules, snapshot, task_status, write,
)
from conftest import make_settings, sdk_client, start_server
from l7_support import request
from target_group_support import (
    associate, create_group, group, groups_state, refused_tg, register_instances, typed_call, typed_write,
)

pytestmark = pytest.mark.postgres

GROUP_RULE = {"Domain": "tg.test", "Url": "/app", "TargetType": "TARGETGROUP"}


def _rule(client, lb_id: str, port: int, rule: dict) -> tuple[str, str]:
    (listener_id,) = create_listener(client, lb_id, "HTTP", [port])
    (location_id,) = create_rules(client, lb_id, listener_id, [rule])
    return listener_id, location_id


def test_associate_target_groups_http_rule_reaches_group_instances_then_503(server, client, http_backends):
    one, two = http_backends.start("one"), http_backends.start("two")
    group_id = create_group(client, "l7", Port=one.port)
    register_instances(client, group_id, [one.port, two.port])
    lb_id, vip = create_clb_with_vip(client)
    listener_id, location_id = _rule(client, lb_id, 8301, GROUP_RULE)
    typed_write(client, "AssociateTargetGroups", {"Associations": [
        {"TargetGroupId": group_id, "LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": location_id}]})
    seen = {request(vip, 8301, "/app", host="tg.test").json()["name"] for _ in range(10)}
    assert seen == {"one", "two"}
    (item,) = group(client, group_id)["AssociatedRule"]
    assert (item["LocationId"], item["Domain"], item["Url"], item["Protocol"], item["Port"]) == (
        location_id, "tg.test", "/app", "HTTP", 8301)
    (described,) = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})["Listeners"]
    assert described["Rules"][0]["TargetGroup"] == {"TargetGroupId": group_id, "TargetGroupName": "l7", "Weight": 0}
    typed_write(client, "DisassociateTargetGroups", {"Associations": [
        {"TargetGroupId": group_id, "LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": location_id}]})
    assert request(vip, 8301, "/app", host="tg.test").status == 503


@pytest.fixture(scope="module")
def bound(tmp_path_factory):
    """A group bound to a TCP listener, a free TARGETGROUP listener, a NODE listener, and an HTTP rule."""
    running = start_server(make_settings(tmp_path_factory.mktemp("tga")))
    client = sdk_client(running.url)
    group_id = create_group(client, "bound", Port=80, TargetGroupInstances=[{"BindIP": "127.0.0.1"}])
    lb_id = create_clb(client)
    taken, free = create_listener(client, lb_id, "TCP", [8401, 8402], TargetType="TARGETGROUP")
    (node,) = create_listener(client, lb_id, "TCP", [8403])
    listener_id, location_id = _rule(client, lb_id, 8404, GROUP_RULE)
    associate(client, group_id, lb_id, taken)
    yield client, group_id, lb_id, {"taken": taken, "free": free, "node": node, "http": listener_id,
                                    "rule": location_id}
    running.stop()


def _item(group_id: str, lb_id: str, listener_id: str, **extra) -> dict:
    return {"Associations": [{"TargetGroupId": group_id, "LoadBalancerId": lb_id, "ListenerId": listener_id, **extra}]}


def test_associate_target_groups_node_listener_refused(bound):
    client, group_id, lb_id, ls = bound
    refused_tg(client, "AssociateTargetGroups", _item(group_id, lb_id, ls["node"]), "FailedOperation", lb_id)


def test_associate_target_groups_listener_already_bound_refused(bound):
    client, _, lb_id, ls = bound
    other = create_group(client, "other", Port=80)
    refused_tg(client, "AssociateTargetGroups", _item(other, lb_id, ls["taken"]), "FailedOperation", lb_id)
    checked(client, "DeleteTargetGroups", {"TargetGroupIds": [other]})


def test_associate_target_groups_same_listener_twice_in_one_call_refused(bound):
    client, group_id, lb_id, ls = bound
    item = {"TargetGroupId": group_id, "LoadBalancerId": lb_id, "ListenerId": ls["free"]}
    refused_tg(client, "AssociateTargetGroups", {"Associations": [item, item]}, "FailedOperation", lb_id)


def test_associate_target_groups_other_vpc_refused(bound):
    client, _, lb_id, ls = bound
    elsewhere = create_group(client, "elsewhere", Port=80, VpcId="vpc-else0001")
    message = refused_tg(client, "AssociateTargetGroups", _item(elsewhere, lb_id, ls["free"]),
                         "InvalidParameterValue", lb_id)
    assert "vpc-else0001" in message
    checked(client, "DeleteTargetGroups", {"TargetGroupIds": [elsewhere]})


@pytest.mark.parametrize("change, code", [
    ({"LoadBalancerId": "lb-00000000"}, "InvalidParameter.LBIdNotFound"),
    ({"ListenerId": "lbl-00000000"}, "InvalidParameter.ListenerIdNotFound"),
    ({"TargetGroupId": "lbtg-00000000"}, "InvalidParameter"),
    ({"ListenerId": ""}, "MissingParameter"),
    ({"Weight": 101}, "InvalidParameterValue"),
])
def test_associate_target_groups_unknown_or_invalid_refused(bound, change, code):
    client, group_id, lb_id, ls = bound
    item = {"TargetGroupId": group_id, "LoadBalancerId": lb_id, "ListenerId": ls["free"], **change}
    refused_tg(client, "AssociateTargetGroups", {"Associations": [item]}, code, lb_id)


def test_associate_target_groups_layer7_needs_location_id(bound):
    client, group_id, lb_id, ls = bound
    refused_tg(client, "AssociateTargetGroups", _item(group_id, lb_id, ls["http"]), "InvalidParameter", lb_id)
    refused_tg(client, "AssociateTargetGroups", _item(group_id, lb_id, ls["http"], LocationId="loc-00000000"),
               "InvalidParameter.LocationNotFound", lb_id)


def test_register_targets_on_target_group_listener_or_rule_refused(bound):
    client, _, lb_id, ls = bound
    target = [{"EniIp": "127.0.0.1", "Port": 9000}]
    refused_tg(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": ls["free"], "Targets": target},
               "FailedOperation", lb_id)
    refused_tg(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": ls["http"],
                                           "LocationId": ls["rule"], "Targets": target}, "FailedOperation", lb_id)


def test_batch_register_targets_target_group_listener_reported_failed_and_nothing_changed(bound):
    client, _, lb_id, ls = bound
    before = groups_state(client), snapshot(client, lb_id)
    answer = checked(client, "BatchRegisterTargets", {"LoadBalancerId": lb_id, "Targets": [
        {"ListenerId": ls["free"], "EniIp": "127.0.0.1", "Port": 9000}]})
    assert answer["FailListenerIdSet"] == [ls["free"]]
    assert (groups_state(client), snapshot(client, lb_id)) == before


def test_modify_listener_target_type_of_bound_or_populated_listener_refused(bound):
    client, _, lb_id, ls = bound
    refused_tg(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": ls["taken"], "TargetType": "NODE"},
               "FailedOperation", lb_id)
    write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": ls["node"],
                                      "Targets": [{"EniIp": "127.0.0.1", "Port": 9000}]})
    refused_tg(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": ls["node"],
                                          "TargetType": "TARGETGROUP"}, "FailedOperation", lb_id)
    write(client, "DeregisterTargets", {"LoadBalancerId": lb_id, "ListenerId": ls["node"],
                                        "Targets": [{"EniIp": "127.0.0.1", "Port": 9000}]})


def test_delete_target_groups_associated_refused(bound):
    client, group_id, lb_id, _ = bound
    message = refused_tg(client, "DeleteTargetGroups", {"TargetGroupIds": [group_id]}, "FailedOperation", lb_id)
    assert group_id in message


def test_disassociate_target_groups_not_associated_refused(bound):
    client, group_id, lb_id, ls = bound
    refused_tg(client, "DisassociateTargetGroups", _item(group_id, lb_id, ls["free"]), "InvalidParameter", lb_id)


def test_delete_listener_rule_and_clb_drop_their_associations(server, client):
    group_id = create_group(client, "gone", Port=80)
    lb_id = create_clb(client)
    tcp_a, tcp_b = create_listener(client, lb_id, "TCP", [8501, 8502], TargetType="TARGETGROUP")
    listener_id, location_id = _rule(client, lb_id, 8503, GROUP_RULE)
    for listener, location in ((tcp_a, None), (tcp_b, None), (listener_id, location_id)):
        associate(client, group_id, lb_id, listener, location)
    assert group(client, group_id)["AssociatedRuleCount"] == 3
    write(client, "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": tcp_a})
    write(client, "DeleteRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationIds": [location_id]})
    assert [item["ListenerId"] for item in group(client, group_id)["AssociatedRule"]] == [tcp_b]
    write(client, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]})
    assert group(client, group_id)["AssociatedRule"] == []
    typed_call(client, "DeleteTargetGroups", {"TargetGroupIds": [group_id]})


def test_register_target_group_instances_one_served_clb_busy_refused_then_done(server_factory):
    """A change of a group's instances takes the busy flag of every CLB the group serves."""
    server = server_factory(fault_injection=True)
    client = sdk_client(server.url)
    group_id = create_group(client, "busy", Port=80)
    lb_a, lb_b = create_clb(client), create_clb(client)
    for lb_id, port in ((lb_a, 8701), (lb_b, 8702)):
        (listener_id,) = create_listener(client, lb_id, "TCP", [port], TargetType="TARGETGROUP")
        associate(client, group_id, lb_id, listener_id)
    admin(admin_client(server.url), "InjectFault", {"Kind": "TaskDelay", "Action": "CreateListener", "Seconds": 3,
                                                    "Count": 1})
    held = checked(client, "CreateListener", {"LoadBalancerId": lb_b, "Protocol": "TCP", "Ports": [8703]})
    refused_tg(client, "RegisterTargetGroupInstances", {
        "TargetGroupId": group_id, "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 9000}]},
        "FailedOperation.ResourceInOperating", lb_a)
    assert task_status(client, held["RequestId"]) == 0
    register_instances(client, group_id, [9000])
    assert group(client, group_id)["RegisteredInstancesCount"] == 1


def test_target_group_attachment_provider_sequence(server, client):
    """clb_target_group + target_group_attachment as the Terraform provider calls them."""
    created = checked(client, "CreateTargetGroup", {"TargetGroupName": "tf-tg", "Port": 80})
    group_id = created["TargetGroupId"]
    (listed,) = checked(client, "DescribeTargetGroupList", {"TargetGroupIds": [group_id]})["TargetGroupSet"]
    lb_id = create_clb(client, "tf-clb")
    (lb,) = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"]
    assert listed["VpcId"] == lb["TargetRegionInfo"]["VpcId"]
    (listener_id,) = create_listener(client, lb_id, "TCP", [8601], TargetType="TARGETGROUP")
    write(client, "AssociateTargetGroups", _item(group_id, lb_id, listener_id))
    (item,) = group(client, group_id)["AssociatedRule"]
    assert (item["LoadBalancerId"], item["ListenerId"], item["LocationId"]) == (lb_id, listener_id, None)
    (described,) = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})["Listeners"]
    assert (described["TargetType"], described["TargetGroup"]["TargetGroupId"]) == ("TARGETGROUP", group_id)
    write(client, "DisassociateTargetGroups", _item(group_id, lb_id, listener_id))
    assert group(client, group_id)["AssociatedRule"] == []
    checked(client, "DeleteTargetGroups", {"TargetGroupIds": [group_id]})
    assert checked(client, "DescribeTargetGroups", {"TargetGroupIds": [group_id]})["TargetGroupSet"] == []
