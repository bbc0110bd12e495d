"""The Terraform provider's tencentcloud_clb_target_group, call for call, through the official SDK client.

Create: CreateTargetGroup as ClbService.CreateTargetGroup fills it: TargetGroupName (default
``TF_target_group``), Port always (0 when unset), TargetGroupInstances always (empty, or each with
BindIP, Port, Weight and NewPort, 0 when unset), the optional members only when set; ``*TargetGroupId``.
Read: DescribeTargetGroupList(TargetGroupIds, Offset, Limit=100) pages, every field the provider sets
(HealthCheck's and Tag's members dereferenced when present). Update: ModifyTargetGroupAttribute
(synchronous, no task), then tags through the tag service: ModifyResourceTags on
``qcs::clb:REGION:uin/:targetgroup/ID`` (BuildTagResourceName), read back in Tag. Delete: DeleteTargetGroups; the read then finds nothing. The group's
instances, once the group is associated, take a listener's connections.
"""

from __future__ import annotations

import pytest

from backends import first_bytes
from provider_support import assert_set, provider_call, provider_clients, typed_write, written
from conftest import REGION
from services_support import service_refused, typed_call

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

PAGE = 100
PORT = 9891
HEALTH_FIELDS = ("HealthSwitch", "Protocol", "Port", "Timeout", "GapTime", "GoodLimit", "BadLimit", "HttpCode",
                 "HttpCheckPath", "HttpCheckDomain", "HttpCheckMethod", "HttpVersion", "ExtendedCode")


def read_group(clb, group_id: str):
    """resourceTencentCloudClbTargetRead; None when the group is gone."""
    found, offset = [], 0
    while True:
        page = typed_call(clb, "DescribeTargetGroupList", TargetGroupIds=[group_id], Offset=offset, Limit=PAGE)
        found += page.TargetGroupSet
        if len(page.TargetGroupSet) < PAGE:
            break
        offset += PAGE
    if not found:
        return None
    group = found[0]
    assert_set(group, "TargetGroupId", "TargetGroupName", "VpcId")
    if group.HealthCheck is not None:
        present = [name for name in HEALTH_FIELDS if getattr(group.HealthCheck, name) is not None]
        assert "HealthSwitch" in present
    for tag in group.Tag or []:
        assert_set(tag, "TagKey", "TagValue")
    return group


def create_group(clb, instances: list[dict] | None = None, **optional):
    return provider_call(clb, "CreateTargetGroup", TargetGroupName=optional.pop("TargetGroupName", "TF_target_group"),
                         Port=optional.pop("Port", 0), TargetGroupInstances=instances or [], **optional).TargetGroupId


def test_clb_target_group_provider_sequence_create_read_update_delete(server):
    provider = provider_clients(server.url)
    clb, tag = provider.clb, provider.tag

    group_id = create_group(clb, Tags=[{"TagKey": "env", "TagValue": "test"}])
    group = read_group(clb, group_id)
    assert (group.TargetGroupName, group.Port) == ("TF_target_group", None)
    assert [(t.TagKey, t.TagValue) for t in group.Tag] == [("env", "test")]

    provider_call(clb, "ModifyTargetGroupAttribute", TargetGroupId=group_id, TargetGroupName="tf-renamed", Port=8080)
    typed_call(tag, "ModifyResourceTags", Resource=f"qcs::clb:{REGION}:uin/:targetgroup/{group_id}",
               ReplaceTags=[{"TagKey": "team", "TagValue": "web"}], DeleteTags=[{"TagKey": "env"}])
    group = read_group(clb, group_id)
    assert (group.TargetGroupName, group.Port) == ("tf-renamed", 8080)
    assert [(t.TagKey, t.TagValue) for t in group.Tag] == [("team", "web")]

    provider_call(clb, "DeleteTargetGroups", TargetGroupIds=[group_id])
    assert read_group(clb, group_id) is None
    service_refused(tag, "ModifyResourceTags", {"Resource": f"qcs::clb:{REGION}:uin/:targetgroup/{group_id}",
                                                "ReplaceTags": [{"TagKey": "a", "TagValue": "b"}]},
                    "InvalidParameterValue.ResourceIdInvalid")


def test_tag_resources_target_group_name_refused_and_group_tags_unchanged(server):
    provider = provider_clients(server.url)
    group_id = create_group(provider.clb, Tags=[{"TagKey": "env", "TagValue": "test"}])

    service_refused(provider.tag, "TagResources", {
        "ResourceList": [f"qcs::clb:{REGION}:uin/:targetgroup/{group_id}"], "Tags": [{"TagKey": "a", "TagValue": "b"}]},
        "InvalidParameterValue.ResourcePrefixInvalid")

    assert [(t.TagKey, t.TagValue) for t in read_group(provider.clb, group_id).Tag] == [("env", "test")]


def test_clb_target_group_created_with_instances_serves_an_associated_listener(server, named_backends):
    clb = provider_clients(server.url).clb
    target = named_backends("tg-target", end=b"\n")
    group_id = create_group(clb, [{"BindIP": "127.0.0.1", "Port": target.port, "Weight": 10, "NewPort": 0}],
                            Port=target.port)
    assert read_group(clb, group_id).Port == target.port
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-tg")["LoadBalancerIds"]
    (vip,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet[0].LoadBalancerVips
    (listener_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[PORT], Protocol="TCP",
                             TargetType="TARGETGROUP", HealthCheck={"HealthSwitch": 0}).ListenerIds

    typed_write(clb, "AssociateTargetGroups", Associations=[{"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                             "TargetGroupId": group_id}])

    assert first_bytes(vip, PORT) == b"tg-target\n"
