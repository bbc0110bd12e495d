"""Tags as the tag service answers them (PascalCase is built here only)."""

from __future__ import annotations

import hashlib
from typing import Any

from openclb.resources.tags.names import RESOURCE_PREFIX, SERVICE_TYPE, ResourceName

CUSTOM = "Custom"


def tag(key: str, value: str) -> dict[str, Any]:
    return {"TagKey": key, "TagValue": value, "Category": CUSTOM}


def tag_list(tags: dict[str, str]) -> list[dict[str, Any]]:
    return [tag(key, value) for key, value in tags.items()]


def tag_resource(lb_id: str, key: str, value: str) -> dict[str, Any]:
    """One (resource, tag) row of DescribeResourceTagsByResourceIds, with the MD5s the API gives."""
    return {
        "TagKey": key, "TagValue": value, "ResourceId": lb_id,
        "TagKeyMd5": hashlib.md5(key.encode()).hexdigest(),
        "TagValueMd5": hashlib.md5(value.encode()).hexdigest(),
        "ServiceType": SERVICE_TYPE, "Category": CUSTOM,
    }


def resource_tag(region: str, lb_id: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "ResourceRegion": region, "ServiceType": SERVICE_TYPE, "ResourcePrefix": RESOURCE_PREFIX,
        "ResourceId": lb_id, "Tags": tag_list(tags),
    }


def resource_mapping(name: ResourceName, tags: dict[str, str]) -> dict[str, Any]:
    return {"Resource": name.text, "Tags": tag_list(tags)}


def failed_resource(name: str, code: str, message: str) -> dict[str, Any]:
    return {"Resource": name, "Code": code, "Message": message}
