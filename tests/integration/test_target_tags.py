"""BatchModifyTargetTag through the official Python SDK: tags of bound targets, shown by DescribeTargets.

L4 targets are named by listener, L7 targets by listener and rule (LocationId); a target's own
Tag wins over its entry's. Unknown listeners, rules or targets and over-long tags are refused
with the documented codes and change no tag; the tags travel in state snapshots.
"""

from __future__ import annotations

import pytest
from tencentcloud.clb.v20180317 import models

from admin_support import admin_client, export_document
from clb_support import checked, create_clb, create_listener, create_rules, refused, register, task_status, write

pytestmark = pytest.mark.postgres


def tags(client, lb_id: str) -> dict[tuple, str]:
    found = {}
    for listener in checked(client, "DescribeTargets", {"LoadBalancerId": lb_id})["Listeners"]:
        for target in listener.get("Targets") or []:
            found[(listener["ListenerId"], "", target["Port"])] = target["Tag"]
        for rule in listener.get("Rules") or []:
            for target in rule["Targets"]:
                found[(listener["ListenerId"], rule["LocationId"], target["Port"])] = target["Tag"]
    return found


@pytest.fixture
def bound(client):
    lb_id = create_clb(client)
    (tcp_id,) = create_listener(client, lb_id, "TCP", [7000])
    register(client, lb_id, tcp_id, [9001, 9002])
    (http_id,) = create_listener(client, lb_id, "HTTP", [7080])
    (location_id,) = create_rules(client, lb_id, http_id, [{"Domain": "a.example.com", "Url": "/"}])
    register(client, lb_id, http_id, [9003], location_id)
    return lb_id, tcp_id, http_id, location_id


def test_batch_modify_target_tag_l4_and_l7_targets_tagged(server, client, bound):
    lb_id, tcp_id, http_id, location_id = bound
    request = models.BatchModifyTargetTagRequest()
    request.LoadBalancerId = lb_id
    l4, l7 = models.RsTagRule(), models.RsTagRule()
    l4.ListenerId, l4.Tag = tcp_id, "blue"
    first, second = models.Target(), models.Target()
    first.EniIp, first.Port = "127.0.0.1", 9001
    second.EniIp, second.Port, second.Tag = "127.0.0.1", 9002, "green"
    l4.Targets = [first, second]
    l7.ListenerId, l7.LocationId, l7.Tag = http_id, location_id, "web"
    third = models.Target()
    third.EniIp, third.Port = "127.0.0.1", 9003
    l7.Targets = [third]
    request.ModifyList = [l4, l7]
    assert task_status(client, client.BatchModifyTargetTag(request).RequestId) == 0
    assert tags(client, lb_id) == {(tcp_id, "", 9001): "blue", (tcp_id, "", 9002): "green",
                                   (http_id, location_id, 9003): "web"}
    filtered = checked(client, "DescribeTargets", {"LoadBalancerId": lb_id, "Filters": [{"Name": "tag", "Values": ["green"]}]})
    assert [t["Port"] for l in filtered["Listeners"] for t in l.get("Targets") or []] == [9002]

    write(client, "BatchModifyTargetTag", {"LoadBalancerId": lb_id, "ModifyList": [
        {"ListenerId": tcp_id, "Targets": [{"EniIp": "127.0.0.1", "Port": 9001}]}]})
    assert tags(client, lb_id)[(tcp_id, "", 9001)] == ""
    (lb,) = export_document(admin_client(server.url))["LoadBalancers"]
    exported = {t["Port"]: t["Tag"] for l in lb["Listeners"] for t in l.get("Targets") or []}
    assert exported == {9001: "", 9002: "green"}


@pytest.mark.parametrize("entry,code", [
    ({"ListenerId": "lbl-yyyyyyyy"}, "InvalidParameter.ListenerIdNotFound"),
    ({"Port": 9999}, "InvalidParameter"),
    ({"Tag": "x" * 256}, "InvalidParameterValue.Length"),
    ({"LocationId": "loc-zzzzzzzz"}, "InvalidParameter"),
])
def test_batch_modify_target_tag_bad_entry_refused_no_tag_changed(server, client, bound, entry, code):
    lb_id, tcp_id, _, _ = bound
    before = tags(client, lb_id)
    target = {"EniIp": "127.0.0.1", "Port": entry.pop("Port", 9001)}
    rule = {"ListenerId": tcp_id, "Tag": "red", "Targets": [target], **entry}
    refused(client, "BatchModifyTargetTag", {"LoadBalancerId": lb_id, "ModifyList": [rule]}, code)
    assert tags(client, lb_id) == before


def test_batch_modify_target_tag_l7_without_rule_or_unknown_clb_refused(server, client, bound):
    lb_id, _, http_id, _ = bound
    before = tags(client, lb_id)
    target = [{"EniIp": "127.0.0.1", "Port": 9003}]
    refused(client, "BatchModifyTargetTag", {"LoadBalancerId": lb_id, "ModifyList": [
        {"ListenerId": http_id, "Targets": target, "Tag": "x"}]}, "MissingParameter")
    refused(client, "BatchModifyTargetTag", {"LoadBalancerId": lb_id, "ModifyList": [
        {"ListenerId": http_id, "LocationId": "loc-zzzzzzzz", "Targets": target, "Tag": "x"}]},
        "InvalidParameter.LocationNotFound")
    refused(client, "BatchModifyTargetTag", {"LoadBalancerId": lb_id, "ModifyList": []}, "InvalidParameterValue.Length")
    refused(client, "BatchModifyTargetTag", {"LoadBalancerId": "lb-xxxxxxxx", "ModifyList": [
        {"ListenerId": http_id, "Targets": target}]}, "InvalidParameter.LBIdNotFound", lb_id=lb_id)
    assert tags(client, lb_id) == before


def test_batch_modify_target_tag_busy_clb_raises_resource_in_operating(server_factory):
    from admin_support import admin
    from conftest import sdk_client
    server = server_factory(fault_injection=True)
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    lb_id = create_clb(client)
    (tcp_id,) = create_listener(client, lb_id, "TCP", [7000])
    register(client, lb_id, tcp_id, [9001])
    admin(admin_api, "InjectFault", {"Kind": "TaskDelay", "Action": "CreateListener", "Seconds": 30})
    checked(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [7001]})
    refused(client, "BatchModifyTargetTag", {"LoadBalancerId": lb_id, "ModifyList": [
        {"ListenerId": tcp_id, "Tag": "blue", "Targets": [{"EniIp": "127.0.0.1", "Port": 9001}]}]},
        "FailedOperation.ResourceInOperating")
    assert tags(client, lb_id) == {(tcp_id, "", 9001): ""}
    admin(admin_api, "ClearFaults")
