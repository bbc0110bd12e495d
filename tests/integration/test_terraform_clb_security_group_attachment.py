"""The Terraform provider's tencentcloud_clb_security_group_attachment, call for call, with real clients.

The group and its policies come from the vpc client (tencentcloud_security_group and its rule set:
CreateSecurityGroup, CreateSecurityGroupPolicies ACCEPT 127.0.0.2/32 then DROP 0.0.0.0/0). Create:
SetSecurityGroupForLoadbalancers(SecurityGroup, LoadBalancerIds, OperationType=ADD); the provider
does not wait for the task and reads at once: DescribeLoadBalancers(LoadBalancerIds) and
``*sg`` of each SecureGroups entry. Delete: the same call with DEL. Traffic (after the task, which
the test, not the provider, waits for): a client bound to 127.0.0.2 gets the target's greeting,
one bound to 127.0.0.3 is dropped; after DEL both get it.
"""

from __future__ import annotations

import pytest

from admission_support import tcp_outcome
from provider_support import provider_call, provider_clients, typed_write, wait_for_task, written
from services_support import typed_call

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

PORT = 9871
ALLOWED, DROPPED = "127.0.0.2", "127.0.0.3"


def attached(clb, group_id: str, lb_id: str) -> bool:
    """resourceTencentCloudClbSecurityGroupAttachmentRead: whether the id still exists."""
    (instance,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet
    assert instance.SecureGroups is not None and all(group is not None for group in instance.SecureGroups)
    return group_id in instance.SecureGroups


def set_group(clb, group_id: str, lb_id: str, operation: str) -> str:
    """ClbService.SetClbSecurityGroup: one call, no task wait; its RequestId."""
    return provider_call(clb, "SetSecurityGroupForLoadbalancers", SecurityGroup=group_id, LoadBalancerIds=[lb_id],
                         OperationType=operation).RequestId


def test_clb_security_group_attachment_provider_sequence_admits_one_source_then_del_admits_both(server,
                                                                                                named_backends):
    provider = provider_clients(server.url)
    clb, vpc = provider.clb, provider.vpc
    backend = named_backends("sg-target", end=b"\n")
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-sg")["LoadBalancerIds"]
    (vip,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet[0].LoadBalancerVips
    (listener_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[PORT], Protocol="TCP",
                             HealthCheck={"HealthSwitch": 0}).ListenerIds
    typed_write(clb, "RegisterTargets", LoadBalancerId=lb_id, ListenerId=listener_id,
                Targets=[{"EniIp": "127.0.0.1", "Port": backend.port}])
    group_id = typed_call(vpc, "CreateSecurityGroup", GroupName="tf-sg", GroupDescription="tf").SecurityGroup.SecurityGroupId
    typed_call(vpc, "CreateSecurityGroupPolicies", SecurityGroupId=group_id, SecurityGroupPolicySet={"Ingress": [
        {"Protocol": "ALL", "Port": "all", "CidrBlock": f"{ALLOWED}/32", "Action": "ACCEPT"},
        {"Protocol": "ALL", "Port": "all", "CidrBlock": "0.0.0.0/0", "Action": "DROP"}]})
    assert tcp_outcome(vip, PORT, DROPPED) == b"sg-target\n"

    added = set_group(clb, group_id, lb_id, "ADD")
    assert attached(clb, group_id, lb_id)
    wait_for_task(clb, added)
    assert tcp_outcome(vip, PORT, ALLOWED) == b"sg-target\n"
    assert tcp_outcome(vip, PORT, DROPPED) in ("closed", "reset", "silent")

    removed = set_group(clb, group_id, lb_id, "DEL")
    assert not attached(clb, group_id, lb_id)
    wait_for_task(clb, removed)
    assert tcp_outcome(vip, PORT, ALLOWED) == b"sg-target\n"
    assert tcp_outcome(vip, PORT, DROPPED) == b"sg-target\n"
