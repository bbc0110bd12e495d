"""Targets → DescribeTargets' ListenerBackend and DescribeTargetHealth's LoadBalancerHealth."""

from __future__ import annotations

from typing import Any

from openclb.domain.models import Listener, LoadBalancer, Rule, Target
from openclb.protocols import L7
from openclb.resources.shared.clock import api_stamp


def backend(target: Target) -> dict[str, Any]:
    return {
        "Type": target.target_type,
        "InstanceId": target.instance_id,
        "Port": target.port,
        "Weight": target.weight,
        "PublicIpAddresses": [],
        "PrivateIpAddresses": [target.ip],
        "InstanceName": target.instance_id or None,
        "RegisteredTime": api_stamp(target.registered_at),
        "EniId": None,
        "Tag": target.tag,
        "Zone": None,
    }


def listener_backend(item: Listener, targets: list[Target], rules: list[Rule] = ()) -> dict[str, Any]:
    l7 = item.protocol in L7
    return {
        "ListenerId": item.id,
        "Protocol": item.protocol,
        "Port": item.port,
        "Rules": [rule_targets(r, targets) for r in rules] if l7 else [],
        "Targets": [] if l7 else [backend(t) for t in targets],
        "EndPort": item.end_port,
    }


def load_balancer_health(
    lb: LoadBalancer, listeners: list[Listener], targets: list[Target], live: dict[tuple[str, str, int], Any],
    rules: list[Rule] = (), target_groups: dict[tuple[str, str, str, int], str] | None = None,
) -> dict[str, Any]:
    """L4 listeners report their targets through one Rules entry, as the real API does; a target group's
    instances carry its TargetGroupId (``target_groups``: target key → group id)."""
    def target_health(t: Target) -> dict[str, Any]:
        health = live.get((t.location_id or t.listener_id, t.ip, t.port))
        healthy = bool(health.healthy) if health else True
        detail = health.detail if health else "Unknown"
        return {
            "IP": t.ip, "Port": t.port, "HealthStatus": healthy, "TargetId": t.instance_id or t.ip,
            "HealthStatusDetail": detail, "HealthStatusDetial": detail,
            "TargetGroupId": (target_groups or {}).get(t.key, ""), "Weight": t.weight,
        }

    return {
        "LoadBalancerId": lb.id,
        "LoadBalancerName": lb.name,
        "Listeners": [
            {
                "ListenerId": l.id,
                "ListenerName": l.name,
                "Protocol": l.protocol,
                "Port": l.port,
                "Rules": [{
                    "LocationId": r.id, "Domain": r.domains[0], "Url": r.url, "RuleId": r.id,
                    "Targets": [target_health(t) for t in targets if t.location_id == r.id],
                } for r in rules if r.listener_id == l.id] if l.protocol in L7 else [{
                    "LocationId": l.id, "Domain": None, "Url": None, "RuleId": l.id,
                    "Targets": [target_health(t) for t in targets if t.listener_id == l.id],
                }],
            }
            for l in listeners
        ],
    }


def rule_targets(rule: Rule, targets: list[Target]) -> dict[str, Any]:
    return {
        "LocationId": rule.id,
        "Domain": rule.domains[0],
        "Url": rule.url,
        "Targets": [backend(t) for t in targets if t.location_id == rule.id and t.target_type != "SCF"],
        "FunctionTargets": [function_target(t) for t in targets if t.location_id == rule.id and t.target_type == "SCF"],
    }


def function_target(target: Target) -> dict[str, Any]:
    """A function bound to a rule (RegisterFunctionTargets): its InstanceId is namespace/name:qualifier."""
    namespace, _, rest = target.instance_id.partition("/")
    name, _, qualifier = rest.rpartition(":")
    return {"Function": {"FunctionNamespace": namespace, "FunctionName": name, "FunctionQualifier": qualifier,
                         "FunctionQualifierType": "VERSION" if qualifier.isdigit() else "ALIAS"},
            "Weight": target.weight}
