"""Target groups → TargetGroupInfo, AssociationItem, TargetGroupBackend and TargetGroupInstanceStatus."""

from __future__ import annotations

from typing import Any

from openclb.domain.models import Listener, LoadBalancer, Rule
from openclb.domain.target_groups import TargetGroup, TargetGroupAssociation, TargetGroupInstance
from openclb.resources.shared.clock import api_stamp
from openclb.resources.target_groups.settings import TargetGroupSettings

# TargetGroupHealthCheck's members as the store keeps them → as the API shows them, with the
# value shown for one a client left out (the members every answer carries).
_HEALTH_CHECK = {
    "health_switch": ("HealthSwitch", False), "protocol": ("Protocol", "TCP"), "port": ("Port", 0),
    "timeout": ("Timeout", 2), "gap_time": ("GapTime", 5), "good_limit": ("GoodLimit", 3),
    "bad_limit": ("BadLimit", 3), "jumbo_frame": ("JumboFrame", False), "http_code": ("HttpCode", None),
    "http_check_domain": ("HttpCheckDomain", None), "http_check_path": ("HttpCheckPath", None),
    "http_check_method": ("HttpCheckMethod", None), "context_type": ("ContextType", None),
    "send_context": ("SendContext", None), "recv_context": ("RecvContext", None),
    "http_version": ("HttpVersion", None), "extended_code": ("ExtendedCode", None),
}
# The engine's HealthStatusDetail → TargetGroupInstanceStatus.Status, and which wins across listeners.
_STATUS = {"Dead": "unhealth", "Alive": "health", "Unknown": "on", "Close": "off"}
_STATUS_RANK = ("unhealth", "health", "on", "off")


def health_check(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    if stored is None:
        return None
    return {wire: stored.get(name, default) for name, (wire, default) in _HEALTH_CHECK.items()}


def target_group(
    group: TargetGroup, instance_count: int, associations: list[dict[str, Any]] | None, association_count: int,
) -> dict[str, Any]:
    """TargetGroupInfo; ``associations`` None where the action does not show them (DescribeTargetGroupList)."""
    s = TargetGroupSettings.of(group)
    return {
        "TargetGroupId": group.id,
        "VpcId": group.vpc_id,
        "TargetGroupName": group.name,
        "Port": group.port,
        "CreatedTime": api_stamp(group.created_at),
        "UpdatedTime": api_stamp(group.updated_at),
        "AssociatedRule": associations,
        "Protocol": s.protocol,
        "ScheduleAlgorithm": s.schedule_algorithm,
        "HealthCheck": health_check(s.health_check),
        "TargetGroupType": s.target_group_type,
        "AssociatedRuleCount": association_count,
        "RegisteredInstancesCount": instance_count,
        "Tag": [{"TagKey": t["tag_key"], "TagValue": t["tag_value"]} for t in s.tags or ()],
        "Weight": s.weight,
        "FullListenSwitch": s.full_listen_switch,
        "KeepaliveEnable": s.keepalive_enable,
        "SessionExpireTime": s.session_expire_time,
        "IpVersion": s.ip_version,
        "SnatEnable": s.snat_enable,
    }


def association(
    item: TargetGroupAssociation, lb: LoadBalancer, listener: Listener, rule: Rule | None,
) -> dict[str, Any]:
    """AssociationItem: where the group serves, named as DescribeListeners names it."""
    return {
        "LoadBalancerId": lb.id,
        "ListenerId": listener.id,
        "LocationId": rule.id if rule is not None else None,
        "Protocol": listener.protocol,
        "Port": listener.port,
        "Domain": rule.domains[0] if rule is not None else None,
        "Url": rule.url if rule is not None else None,
        "LoadBalancerName": lb.name,
        "ListenerName": listener.name,
        "Weight": item.weight if item.weight is not None else 0,
        "RuleId": rule.id if rule is not None else "",
    }


def association_request(item: TargetGroupAssociation) -> dict[str, Any]:
    return {"LoadBalancerId": item.lb_id, "TargetGroupId": item.target_group_id, "ListenerId": item.listener_id,
            "LocationId": item.location_id or None}


def backend(instance: TargetGroupInstance) -> dict[str, Any]:
    return {
        "TargetGroupId": instance.target_group_id,
        "Type": "ENI",
        "InstanceId": "",
        "Port": instance.port,
        "Weight": instance.weight,
        "PublicIpAddresses": [],
        "PrivateIpAddresses": [instance.ip],
        "InstanceName": "",
        "RegisteredTime": api_stamp(instance.registered_at),
        "EniId": "",
        "ZoneId": 0,
    }


def instance_status(instance: TargetGroupInstance, details: list[str]) -> dict[str, Any]:
    """One instance's health over every listener or rule it serves: unhealthy anywhere wins; none is ``off``."""
    found = {_STATUS.get(detail, "on") for detail in details}
    status = next((s for s in _STATUS_RANK if s in found), "off")
    return {"InstanceIp": instance.ip, "Status": status, "InstanceId": "", "Port": instance.port, "EniId": None}


def with_bound_group(listener_view: dict[str, Any], bound: dict[tuple[str, str], tuple[str, str]]) -> dict[str, Any]:
    """DescribeListeners' Listener (and its RuleOutputs) with the TargetGroup each is bound to."""
    def basic(place: tuple[str, str]) -> dict[str, Any] | None:
        found = bound.get(place)
        return {"TargetGroupId": found[0], "TargetGroupName": found[1], "Weight": 0} if found else None

    listener_id = listener_view["ListenerId"]
    listener_view["TargetGroup"] = basic((listener_id, ""))
    for rule in listener_view["Rules"] or ():
        rule["TargetGroup"] = basic((listener_id, rule["LocationId"]))
    return listener_view
