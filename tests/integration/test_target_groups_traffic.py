"""Traffic through target groups: TCP listeners with TargetType TARGETGROUP forward to their group's instances.

Real backends (``NamedBackend``: each says its name) are a group's instances; connections
through the listener's VIP show which instance served them. A group serves every listener it
is associated with, on any CLB, and one change of its instances reaches all of them.
"""

from __future__ import annotations

from collections import Counter

import pytest

from backends import first_bytes
from clb_support import checked, create_clb_with_vip, create_listener, task_status, wait_for
from target_group_support import (
    associate, create_group, disassociate, nothing_served, register_instances, typed_call, typed_write,
)

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def _group_listener(client, port: int, group_id: str, **extra) -> tuple[str, str, str]:
    """A new CLB with a TCP TARGETGROUP listener on ``port`` bound to the group: CLB id, VIP, listener id."""
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [port], TargetType="TARGETGROUP", **extra)
    associate(client, group_id, lb_id, listener_id)
    return lb_id, vip, listener_id


def test_associate_target_groups_tcp_traffic_reaches_group_instances_by_weight(server, client, named_backends):
    light, heavy = named_backends("light"), named_backends("heavy")
    group_id = create_group(client, "web", Port=light.port, TargetGroupInstances=[
        {"BindIP": "127.0.0.1", "Port": light.port, "Weight": 10},
        {"BindIP": "127.0.0.1", "Port": heavy.port, "Weight": 30}])
    _, vip, _ = _group_listener(client, 8201, group_id)
    assert Counter(first_bytes(vip, 8201) for _ in range(80)) == {b"heavy": 60, b"light": 20}


def test_modify_target_group_instances_weight_zero_gets_no_new_connections(server, client, named_backends):
    kept, drained = named_backends("kept"), named_backends("drained")
    group_id = create_group(client, "w", Port=kept.port)
    register_instances(client, group_id, [kept.port, drained.port])
    _, vip, _ = _group_listener(client, 8202, group_id)
    assert {first_bytes(vip, 8202) for _ in range(20)} == {b"kept", b"drained"}
    typed_write(client, "ModifyTargetGroupInstancesWeight", {"TargetGroupId": group_id, "TargetGroupInstances": [
        {"BindIP": "127.0.0.1", "Port": drained.port, "Weight": 0}]})
    assert {first_bytes(vip, 8202) for _ in range(20)} == {b"kept"}


def test_register_target_group_instances_one_call_reaches_two_clbs(server, client, named_backends):
    first, second = named_backends("first"), named_backends("second")
    group_id = create_group(client, "shared", Port=first.port)
    register_instances(client, group_id, [first.port])
    lb_a, vip_a, _ = _group_listener(client, 8203, group_id)
    lb_b, vip_b, _ = _group_listener(client, 8204, group_id)
    assert (first_bytes(vip_a, 8203), first_bytes(vip_b, 8204)) == (b"first", b"first")
    response = typed_call(client, "RegisterTargetGroupInstances", {
        "TargetGroupId": group_id, "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": second.port}]})
    assert task_status(client, response["RequestId"]) == 0
    typed_write(client, "DeregisterTargetGroupInstances", {
        "TargetGroupId": group_id, "TargetGroupInstances": [{"BindIP": "127.0.0.1", "Port": first.port}]})
    assert {first_bytes(vip_a, 8203) for _ in range(5)} == {b"second"}
    assert {first_bytes(vip_b, 8204) for _ in range(5)} == {b"second"}
    bound = checked(client, "DescribeTargetGroups", {"TargetGroupIds": [group_id]})["TargetGroupSet"][0]
    assert sorted(item["LoadBalancerId"] for item in bound["AssociatedRule"]) == sorted([lb_a, lb_b])


def test_modify_target_group_instances_port_moves_traffic(server, client, named_backends):
    old, new = named_backends("old"), named_backends("new")
    group_id = create_group(client, "p", Port=old.port)
    register_instances(client, group_id, [old.port])
    _, vip, _ = _group_listener(client, 8205, group_id)
    assert first_bytes(vip, 8205) == b"old"
    typed_write(client, "ModifyTargetGroupInstancesPort", {"TargetGroupId": group_id, "TargetGroupInstances": [
        {"BindIP": "127.0.0.1", "Port": old.port, "NewPort": new.port}]})
    assert {first_bytes(vip, 8205) for _ in range(5)} == {b"new"}


def test_disassociate_target_groups_traffic_stops(server, client, named_backends):
    backend = named_backends("only")
    group_id = create_group(client, "d", Port=backend.port)
    register_instances(client, group_id, [backend.port])
    lb_id, vip, listener_id = _group_listener(client, 8206, group_id)
    assert first_bytes(vip, 8206) == b"only"
    disassociate(client, group_id, lb_id, listener_id)
    wait_for(lambda: nothing_served(vip, 8206), 5)
    assert checked(client, "DescribeTargetGroups", {"TargetGroupIds": [group_id]})["TargetGroupSet"][0][
        "AssociatedRule"] == []


def test_describe_target_group_instance_status_reports_engine_health(server, client, named_backends):
    alive = named_backends("alive")
    group_id = create_group(client, "h", Port=alive.port)
    register_instances(client, group_id, [alive.port, 1])
    lb_id, _, _ = _group_listener(client, 8207, group_id, HealthCheck={
        "HealthSwitch": 1, "TimeOut": 2, "IntervalTime": 3, "HealthNum": 2, "UnHealthNum": 2})

    def statuses() -> dict[int, str]:
        found = checked(client, "DescribeTargetGroupInstanceStatus", {"TargetGroupId": group_id})
        return {s["Port"]: s["Status"] for s in found["TargetGroupInstanceSet"]}

    wait_for(lambda: statuses() == {alive.port: "health", 1: "unhealth"}, 20)
    health = checked(client, "DescribeTargetHealth", {"LoadBalancerIds": [lb_id]})
    (rule,) = health["LoadBalancers"][0]["Listeners"][0]["Rules"]
    assert {(t["Port"], t["HealthStatus"], t["TargetGroupId"]) for t in rule["Targets"]} == {
        (alive.port, True, group_id), (1, False, group_id)}
