"""How many items each array parameter may hold: the documented maximums, as a table.

The generated spec (``types.py``) knows types and requiredness but no sizes; the sizes live in
the prose of tccli's ``api.json`` (``document`` of each member) and in the product docs. This
table carries them, keyed by (shape, member), so the generic validator can refuse an array over
its maximum with ``InvalidParameterValue.Length`` before any handler work, whatever the action.

Three sources, in this order:
- ``DOCUMENTED``: the member's own documentation gives the number (quoted beside each entry).
- ``DERIVED``: the docs give it for the call rather than the member (digest §3: "≤500 per call"
  for BatchRegisterTargets/BatchDeregisterTargets).
- ``DEFAULT_MAX_ITEMS`` (100) for every other array: no documented CLB array of ids or objects
  legitimately exceeds it (the default quotas cap listeners per CLB and rules per listener at
  50, and DescribeListeners documents 100 ListenerIds), and it bounds the work of handlers that
  scan these arrays (DescribeTargetHealth compares every listener with every ListenerId).

Invariant: entries name real (shape, member) pairs of array type; ``tests/unit/test_limits.py``
checks them against the generated spec, so a spec regeneration cannot leave one dangling.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DEFAULT_MAX_ITEMS = 100

DOCUMENTED: Mapping[tuple[str, str], int] = MappingProxyType(
    {
        ("AssociateTargetGroupsRequest", "Associations"): 20,  # "maximum number ... in a single request is 20"
        ("BatchModifyTargetWeightRequest", "ModifyList"): 100,  # "no more than 100 elements"
        ("RsWeightRule", "Targets"): 50,  # "ModifyList[i].Targets can have no more than 50"
        ("CreateLoadBalancerRequest", "Tags"): 20,  # "up to 20 tag key-value pairs"
        ("CreateLoadBalancerSnatIpsRequest", "SnatIps"): 10,  # "upper limit for one CLB instance is 10"
        ("CreateTargetGroupRequest", "TargetGroupInstances"): 50,  # "up to 50 real servers"
        ("DeleteLoadBalancerListenersRequest", "ListenerIds"): 20,  # "maximum of 20 elements"
        ("DeleteLoadBalancerRequest", "LoadBalancerIds"): 20,  # "can include up to 20 elements"
        ("DeleteLoadBalancerSnatIpsRequest", "Ips"): 20,  # "maximum deletion supported is 20"
        ("DeleteTargetGroupsRequest", "TargetGroupIds"): 20,  # "supports up to 20 deletions"
        ("DeregisterTargetGroupInstancesRequest", "TargetGroupInstances"): 20,  # "largest quantity of 20"
        ("DeregisterTargetsRequest", "Targets"): 20,  # "Array length limit: 20"
        ("DescribeListenersRequest", "ListenerIds"): 100,  # "with a maximum of 100"
        ("DescribeLoadBalancerListByCertIdRequest", "CertIds"): 20,  # "maximum length of the array is 20"
        ("DescribeLoadBalancersRequest", "LoadBalancerIds"): 20,  # "There can be up to 20 IDs"
        ("DescribeLoadBalancersRequest", "Filters"): 10,  # "up to 10 `Filters` and 100 `Filter.Values`"
        ("Filter", "Values"): 100,  # same sentence
        ("DescribeTargetHealthRequest", "LoadBalancerIds"): 30,  # "The array size supports up to 30"
        ("DescribeTargetsRequest", "ListenerIds"): 20,  # "20 IDs at most"
        ("DisassociateTargetGroupsRequest", "Associations"): 20,  # "maximum of 20 per bulk removal"
        ("ModifyBlockIPListRequest", "BlockIPList"): 200_000,  # "up to 200,000 entries in one operation"
        ("ModifyLoadBalancersProjectRequest", "LoadBalancerIds"): 20,  # "maximum length ... is 20"
        ("RegisterTargetsRequest", "Targets"): 20,  # "Array length limit: 20"
        ("RenewLoadBalancersRequest", "LoadBalancerIds"): 20,  # "supports up to 20"
        ("SetLoadBalancerSecurityGroupsRequest", "SecurityGroups"): 50,  # "maximum binding of 50"
        ("SetSecurityGroupForLoadbalancersRequest", "LoadBalancerIds"): 20,  # "maximum length ... is 20"
    }
)

DERIVED: Mapping[tuple[str, str], int] = MappingProxyType(
    {
        ("BatchRegisterTargetsRequest", "Targets"): 500,
        ("BatchDeregisterTargetsRequest", "Targets"): 500,
    }
)


def max_items(shape: str, member: str) -> int:
    """The most items the array ``member`` of ``shape`` may hold."""
    key = (shape, member)
    return DOCUMENTED.get(key) or DERIVED.get(key) or DEFAULT_MAX_ITEMS
