"""The target-group actions through the official Python SDK: typed round trips and refusals.

Each action goes through the SDK's typed models (``typed_call``) and, for the answers, through
``call_json`` checked against the spec and the typed response model (``checked``). Every
refusal asserts its exact code and that the account's target groups, their instances and the
CLB's listeners read the same before and after (``refused_tg``). Traffic through groups is
``test_target_groups_traffic.py``; associations and the provider's sequence are
``test_target_groups_associations.py``.
"""

from __future__ import annotations

import pytest

from clb_support import checked, task_status, write
from conftest import make_settings, sdk_client, start_server
from openclb.config import Quotas
from target_group_support import (
    create_group, group, instances, refused_tg, register_instances, typed_call, typed_write,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server with one group (default port 80, instance 127.0.0.1:81) for the refusals."""
    running = start_server(make_settings(tmp_path_factory.mktemp("tg")))
    client = sdk_client(running.url)
    group_id = create_group(client, "refusals", Port=80, TargetGroupInstances=[{"BindIP": "127.0.0.1", "Port": 81}])
    yield client, group_id
    running.stop()


def test_create_target_group_typed_defaults_read_back(server, client):
    created = typed_call(client, "CreateTargetGroup", {
        "TargetGroupName": "web", "Port": 8080,
        "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 9001, "Weight": 30}, {"BindIP": "127.0.0.2"}]})
    group_id = created["TargetGroupId"]
    assert group_id.startswith("lbtg-") and len(group_id) == 13
    described = typed_call(client, "DescribeTargetGroups", {"TargetGroupIds": [group_id]})
    (found,) = described["TargetGroupSet"]
    assert described["TotalCount"] == 1
    assert (found["TargetGroupName"], found["Port"], found["VpcId"], found["TargetGroupType"]) == (
        "web", 8080, "vpc-openclb0", "v1")
    assert (found["AssociatedRule"], found["AssociatedRuleCount"], found["RegisteredInstancesCount"]) == ([], 0, 2)
    assert instances(client, group_id) == {("127.0.0.1", 9001): 30, ("127.0.0.2", 8080): 10}
    listed = checked(client, "DescribeTargetGroupList", {"TargetGroupIds": [group_id]})
    assert listed["TargetGroupSet"][0]["AssociatedRule"] is None
    assert listed["TargetGroupSet"][0]["RegisteredInstancesCount"] == 2


def test_create_target_group_vpc_id_kept_and_filtered(server, client):
    mine = create_group(client, "in-vpc", VpcId="vpc-abc12345", Port=80)
    create_group(client, "default", Port=80)
    found = typed_call(client, "DescribeTargetGroupList", {
        "Filters": [{"Name": "TargetGroupVpcId", "Values": ["vpc-abc12345"]}]})
    assert [g["TargetGroupId"] for g in found["TargetGroupSet"]] == [mine]
    by_name = checked(client, "DescribeTargetGroups", {"Filters": [{"Name": "TargetGroupName", "Values": ["default"]}]})
    assert [g["TargetGroupName"] for g in by_name["TargetGroupSet"]] == ["default"]
    paged = checked(client, "DescribeTargetGroups", {"Limit": 1, "Offset": 1})
    assert paged["TotalCount"] == 2 and len(paged["TargetGroupSet"]) == 1


def test_modify_target_group_attribute_typed_renames_and_moves_default_port(server, client):
    group_id = create_group(client, "old", Port=80)
    typed_call(client, "ModifyTargetGroupAttribute", {"TargetGroupId": group_id, "TargetGroupName": "new", "Port": 81})
    found = group(client, group_id)
    assert (found["TargetGroupName"], found["Port"]) == ("new", 81)
    register_instances(client, group_id, [9100])
    typed_write(client, "RegisterTargetGroupInstances", {
        "TargetGroupId": group_id, "TargetGroupInstances": [{"BindIP": "127.0.0.3"}]})
    assert instances(client, group_id) == {("127.0.0.1", 9100): 10, ("127.0.0.3", 81): 10}


def test_register_deregister_port_weight_typed_round_trip(server, client):
    group_id = create_group(client, "rt", Port=80)
    typed_write(client, "RegisterTargetGroupInstances", {
        "TargetGroupId": group_id,
        "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 9001}, {"BindIP": "127.0.0.1", "Port": 9002}]})
    typed_write(client, "ModifyTargetGroupInstancesWeight", {
        "TargetGroupId": group_id, "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 9001, "Weight": 0}]})
    typed_write(client, "ModifyTargetGroupInstancesPort", {
        "TargetGroupId": group_id, "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 9002, "NewPort": 9003}]})
    assert instances(client, group_id) == {("127.0.0.1", 9001): 0, ("127.0.0.1", 9003): 10}
    typed_write(client, "DeregisterTargetGroupInstances", {
        "TargetGroupId": group_id, "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 9001}]})
    assert instances(client, group_id) == {("127.0.0.1", 9003): 10}
    found = typed_call(client, "DescribeTargetGroupInstances", {
        "Filters": [{"Name": "TargetGroupId", "Values": [group_id]}, {"Name": "BindIP", "Values": ["127.0.0.1"]}]})
    assert (found["TotalCount"], found["RealCount"]) == (1, 1)
    assert found["TargetGroupInstanceSet"][0]["TargetGroupId"] == group_id


def test_instance_actions_call_json_answers_conform_to_spec(server, client):
    group_id = create_group(client, "json", Port=80, Tags=[{"TagKey": "team", "TagValue": "web"}])
    register_instances(client, group_id, [9001, 9002])
    write(client, "ModifyTargetGroupInstancesWeight", {"TargetGroupId": group_id, "TargetGroupInstances": [
        {"BindIP": "127.0.0.1", "Port": 9001, "Weight": 55}]})
    write(client, "ModifyTargetGroupInstancesPort", {"TargetGroupId": group_id, "TargetGroupInstances": [
        {"BindIP": "127.0.0.1", "Port": 9002, "NewPort": 9004}]})
    write(client, "DeregisterTargetGroupInstances", {"TargetGroupId": group_id, "TargetGroupInstances": [
        {"BindIP": "127.0.0.1", "Port": 9004}]})
    checked(client, "ModifyTargetGroupAttribute", {"TargetGroupId": group_id, "TargetGroupName": "renamed",
                                                    "HealthCheck": {"HealthSwitch": True, "Protocol": "TCP"}})
    found = group(client, group_id)
    assert (found["TargetGroupName"], found["HealthCheck"]["HealthSwitch"], found["Tag"]) == (
        "renamed", True, [{"TagKey": "team", "TagValue": "web"}])
    assert instances(client, group_id) == {("127.0.0.1", 9001): 55}
    tagged = checked(client, "DescribeTargetGroups", {"Filters": [{"Name": "tag:team", "Values": ["web"]}]})
    assert [g["TargetGroupId"] for g in tagged["TargetGroupSet"]] == [group_id]
    checked(client, "DeleteTargetGroups", {"TargetGroupIds": [group_id]})
    assert checked(client, "DescribeTargetGroupList", {})["TargetGroupSet"] == []


def test_describe_target_group_instance_status_unassociated_is_off(server, client):
    group_id = create_group(client, "st", Port=80, TargetGroupInstances=[
        {"BindIP": "127.0.0.1", "Port": 9001}, {"BindIP": "127.0.0.2", "Port": 9001}])
    found = typed_call(client, "DescribeTargetGroupInstanceStatus", {
        "TargetGroupId": group_id, "TargetGroupInstanceIps": ["127.0.0.2"]})
    assert [(s["InstanceIp"], s["Port"], s["Status"]) for s in found["TargetGroupInstanceSet"]] == [
        ("127.0.0.2", 9001, "off")]


def test_delete_target_groups_typed_removes_them(server, client):
    first, second, kept = create_group(client, "a"), create_group(client, "b"), create_group(client, "c")
    typed_call(client, "DeleteTargetGroups", {"TargetGroupIds": [first, second]})
    remaining = checked(client, "DescribeTargetGroups", {})
    assert [g["TargetGroupId"] for g in remaining["TargetGroupSet"]] == [kept]


def test_register_target_group_instances_task_without_clb_settles_at_once(server, client):
    group_id = create_group(client, "quick", Port=80)
    response = checked(client, "RegisterTargetGroupInstances", {
        "TargetGroupId": group_id, "TargetGroupInstances": [{"BindIP": "10.0.0.1"}]})
    assert task_status(client, response["RequestId"]) == 0


UNKNOWN = "lbtg-00000000"


@pytest.mark.parametrize("action, params, code", [
    ("DescribeTargetGroupInstanceStatus", {"TargetGroupId": UNKNOWN}, "InvalidParameter"),
    ("ModifyTargetGroupAttribute", {"TargetGroupId": UNKNOWN, "TargetGroupName": "x"}, "InvalidParameter"),
    ("DeleteTargetGroups", {"TargetGroupIds": [UNKNOWN]}, "InvalidParameter"),
    ("RegisterTargetGroupInstances", {"TargetGroupId": UNKNOWN,
                                      "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 1}]}, "InvalidParameter"),
    ("DeregisterTargetGroupInstances", {"TargetGroupId": UNKNOWN,
                                        "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 81}]},
     "InvalidParameter"),
    ("ModifyTargetGroupInstancesWeight", {"TargetGroupId": UNKNOWN, "TargetGroupInstances": [
        {"BindIP": "127.0.0.1", "Port": 81, "Weight": 5}]}, "InvalidParameter"),
    ("ModifyTargetGroupInstancesPort", {"TargetGroupId": UNKNOWN, "TargetGroupInstances": [
        {"BindIP": "127.0.0.1", "Port": 81, "NewPort": 82}]}, "InvalidParameter"),
])
def test_target_group_action_unknown_group_refused_and_nothing_changed(shared, action, params, code):
    client, _ = shared
    assert UNKNOWN in refused_tg(client, action, params, code)


def _on(group_id: str, params: dict) -> dict:
    return {"TargetGroupId": group_id, **params}


@pytest.mark.parametrize("action, params, code", [
    ("CreateTargetGroup", {"TargetGroupName": "x" * 81}, "InvalidParameterValue"),
    ("CreateTargetGroup", {"TargetGroupName": "bad\U0001F600"}, "InvalidParameterValue"),
    ("CreateTargetGroup", {"Port": 65536}, "InvalidParameterValue"),
    ("CreateTargetGroup", {"VpcId": "not-a-vpc"}, "InvalidParameterValue"),
    ("CreateTargetGroup", {"Type": "v2", "Protocol": "TCP"}, "InvalidParameterValue"),
    ("CreateTargetGroup", {"TargetGroupInstances": [{"BindIP": "127.0.0.1"}]}, "InvalidParameter"),
    ("CreateTargetGroup", {"Port": 80, "TargetGroupInstances": [{"BindIP": "not-an-ip"}]}, "InvalidParameterValue"),
    ("CreateTargetGroup", {"Port": 80, "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Weight": 101}]},
     "InvalidParameterValue"),
    ("CreateTargetGroup", {"Port": 80, "TargetGroupInstances": [{"BindIP": "127.0.0.1"}, {"BindIP": "127.0.0.1"}]},
     "InvalidParameterValue"),
    ("CreateTargetGroup", {"SessionExpireTime": 10}, "InvalidParameterValue"),
])
def test_create_target_group_invalid_value_refused_and_nothing_created(shared, action, params, code):
    client, _ = shared
    refused_tg(client, action, params, code)


@pytest.mark.parametrize("action, params, code", [
    ("RegisterTargetGroupInstances", {"TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 81}]},
     "InvalidParameterValue"),
    ("RegisterTargetGroupInstances", {"TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 70000}]},
     "InvalidParameterValue"),
    ("RegisterTargetGroupInstances", {"TargetGroupInstances": [{"BindIP": "127.0.0.5", "Port": 90},
                                                               {"BindIP": "127.0.0.5", "Port": 90}]},
     "InvalidParameterValue"),
    ("DeregisterTargetGroupInstances", {"TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 99}]},
     "InvalidParameter"),
    ("DeregisterTargetGroupInstances", {"TargetGroupInstances": [{"BindIP": "127.0.0.1"}]}, "InvalidParameter"),
    ("ModifyTargetGroupInstancesWeight", {"TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 81,
                                                                    "Weight": 101}]}, "InvalidParameterValue"),
    ("ModifyTargetGroupInstancesWeight", {"TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 81}]},
     "InvalidParameter"),
    ("ModifyTargetGroupInstancesPort", {"TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 81,
                                                                  "NewPort": 0}]}, "InvalidParameterValue"),
    ("ModifyTargetGroupInstancesPort", {"TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 81}]},
     "InvalidParameter"),
    ("ModifyTargetGroupAttribute", {"Port": 65536}, "InvalidParameterValue"),
    ("ModifyTargetGroupAttribute", {"TargetGroupName": ""}, "InvalidParameterValue"),
])
def test_target_group_instances_invalid_refused_and_nothing_changed(shared, action, params, code):
    client, group_id = shared
    refused_tg(client, action, _on(group_id, params), code)


def test_delete_target_groups_more_than_20_refused(shared):
    client, group_id = shared
    refused_tg(client, "DeleteTargetGroups", {"TargetGroupIds": [group_id] + [f"lbtg-{i:08d}" for i in range(20)]},
               "InvalidParameterValue.Length")


def test_create_target_group_past_quota_limit_exceeded(tmp_path):
    running = start_server(make_settings(tmp_path, quotas=Quotas(target_groups_per_region=1,
                                                                 instances_per_target_group=2)))
    try:
        client = sdk_client(running.url)
        group_id = create_group(client, "only", Port=80)
        refused_tg(client, "CreateTargetGroup", {"TargetGroupName": "second"}, "LimitExceeded")
        register_instances(client, group_id, [9001, 9002])
        refused_tg(client, "RegisterTargetGroupInstances", {
            "TargetGroupId": group_id, "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": 9003}]},
            "LimitExceeded")
    finally:
        running.stop()


def test_describe_target_groups_unknown_filter_refused(shared):
    client, _ = shared
    refused_tg(client, "DescribeTargetGroups", {"Filters": [{"Name": "Nope", "Values": ["x"]}]},
               "InvalidParameterValue")

