"""Security groups → the vpc API's SecurityGroup and SecurityGroupPolicySet (the only PascalCase here)."""

from __future__ import annotations

from typing import Any

from openclb.domain.security_groups import SecurityGroup
from openclb.resources.shared.clock import api_stamp


def security_group(group: SecurityGroup) -> dict[str, Any]:
    return {
        "SecurityGroupId": group.id,
        "SecurityGroupName": group.name,
        "SecurityGroupDesc": group.description,
        "ProjectId": group.project_id,
        "IsDefault": False,
        "CreatedTime": api_stamp(group.created_at),
        "TagSet": [{"Key": t["key"], "Value": t.get("value", "")} for t in group.tags],
        "UpdateTime": api_stamp(group.updated_at),
    }


def policy(index: int, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "PolicyIndex": index,
        "Protocol": item["protocol"],
        "Port": item["port"],
        "ServiceTemplate": {"ServiceId": "", "ServiceGroupId": ""},
        "CidrBlock": item["cidr_block"],
        "Ipv6CidrBlock": item["ipv6_cidr_block"],
        "SecurityGroupId": "",
        "AddressTemplate": {"AddressId": "", "AddressGroupId": ""},
        "Action": item["action"],
        "PolicyDescription": item["description"],
        "ModifyTime": item["modify_time"],
    }


def policy_set(group: SecurityGroup) -> dict[str, Any]:
    return {
        "Version": str(group.version),
        "Egress": [policy(i, p) for i, p in enumerate(group.policies.get("egress", []))],
        "Ingress": [policy(i, p) for i, p in enumerate(group.policies.get("ingress", []))],
    }
