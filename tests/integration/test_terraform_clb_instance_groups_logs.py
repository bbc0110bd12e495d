"""The Terraform provider's tencentcloud_clb_instance update path for security_groups and log_set_id /
log_topic_id, call for call, through the official SDK clients of clb and vpc.

The log set and topic come from tencentcloud_clb_log_set (CreateClsLogSet(Period, LogsetName),
``*LogsetId``) and tencentcloud_clb_log_topic (CreateTopic(TopicName, PartitionCount), ``*TopicId``).
Update: SetLoadBalancerSecurityGroups → task, SetLoadBalancerClsLog → task, then
ModifyLoadBalancerAttributes → task, as resourceTencentCloudClbInstanceUpdate orders them; the read
sets security_groups from SecureGroups and log_set_id / log_topic_id from LogSetId / LogTopicId,
which are present. Removing both sends SecurityGroups=[] and empty LogSetId / LogTopicId. While the
group is bound a source its policy drops gets nothing from the listener; once removed it does.
"""

from __future__ import annotations

import pytest

from admission_support import tcp_outcome
from provider_support import assert_set, provider_call, provider_clients, typed_write, written
from services_support import typed_call

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

PORT = 9881
ALLOWED, DROPPED = "127.0.0.2", "127.0.0.3"


def read_instance(clb, lb_id: str):
    """resourceTencentCloudClbInstanceRead for the fields this update touches."""
    (instance,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet
    assert_set(instance, "LoadBalancerName", "SecureGroups", "LogSetId", "LogTopicId")
    return instance


def test_clb_instance_update_security_groups_and_cls_log_provider_sequence(server, named_backends):
    provider = provider_clients(server.url)
    clb, vpc = provider.clb, provider.vpc
    backend = named_backends("lb-target", end=b"\n")
    logset_id = provider_call(clb, "CreateClsLogSet", Period=7, LogsetName="clb_logset").LogsetId
    topic_id = provider_call(clb, "CreateTopic", TopicName="clb-topic", PartitionCount=1).TopicId
    group_id = typed_call(vpc, "CreateSecurityGroup", GroupName="tf-lb", GroupDescription="tf").SecurityGroup.SecurityGroupId
    typed_call(vpc, "CreateSecurityGroupPolicies", SecurityGroupId=group_id, SecurityGroupPolicySet={"Ingress": [
        {"Protocol": "TCP", "Port": "ALL", "CidrBlock": f"{ALLOWED}/32", "Action": "ACCEPT"},
        {"Protocol": "ALL", "Port": "all", "CidrBlock": "0.0.0.0/0", "Action": "DROP"}]})
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-lb")["LoadBalancerIds"]
    (vip,) = read_instance(clb, lb_id).LoadBalancerVips
    (listener_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[PORT], Protocol="TCP",
                             HealthCheck={"HealthSwitch": 0}).ListenerIds
    typed_write(clb, "RegisterTargets", LoadBalancerId=lb_id, ListenerId=listener_id,
                Targets=[{"EniIp": "127.0.0.1", "Port": backend.port}])

    typed_write(clb, "SetLoadBalancerSecurityGroups", LoadBalancerId=lb_id, SecurityGroups=[group_id])
    typed_write(clb, "SetLoadBalancerClsLog", LoadBalancerId=lb_id, LogSetId=logset_id, LogTopicId=topic_id)
    typed_write(clb, "ModifyLoadBalancerAttributes", LoadBalancerId=lb_id, LoadBalancerName="tf-lb-2")
    instance = read_instance(clb, lb_id)
    assert (instance.SecureGroups, instance.LogSetId, instance.LogTopicId) == ([group_id], logset_id, topic_id)
    assert instance.LoadBalancerName == "tf-lb-2"
    assert tcp_outcome(vip, PORT, ALLOWED) == b"lb-target\n"
    assert tcp_outcome(vip, PORT, DROPPED) in ("closed", "reset", "silent")

    typed_write(clb, "SetLoadBalancerSecurityGroups", LoadBalancerId=lb_id, SecurityGroups=[])
    typed_write(clb, "SetLoadBalancerClsLog", LoadBalancerId=lb_id, LogSetId="", LogTopicId="")
    instance = read_instance(clb, lb_id)
    assert (instance.SecureGroups, instance.LogSetId, instance.LogTopicId) == ([], "", "")
    assert tcp_outcome(vip, PORT, DROPPED) == b"lb-target\n"


def test_clb_instance_read_without_groups_or_logs_has_empty_values_not_null(server):
    clb = provider_clients(server.url).clb
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="INTERNAL", LoadBalancerName="tf-bare")["LoadBalancerIds"]

    instance = read_instance(clb, lb_id)

    assert (instance.SecureGroups, instance.LogSetId, instance.LogTopicId) == ([], "", "")
