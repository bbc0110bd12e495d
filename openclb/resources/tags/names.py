"""Six-segment resource names: ``qcs::clb:<region>:uin/<uin>:clb/<lb-id>``, as the Terraform provider builds them.

CAM's resource description (docs 598/10606): ``qcs:<project>:<service>:<region>:<account>:<resource>``,
the project segment empty. openclb keeps tags for its CLBs only, so the service and the resource
prefix must be ``clb`` and the account the caller's own. The account may be left empty
(``uin/:``): the Terraform provider's ``BuildTagResourceName`` always leaves it so, and the tag
service reads it as the caller's account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openclb import errors

SERVICE_TYPE = "clb"
RESOURCE_PREFIX = "clb"
TARGET_GROUP_PREFIX = "targetgroup"
_REGION = re.compile(r"[a-z]{2,4}(-[a-z0-9]+)+")
_UIN = re.compile(r"uin/([0-9]{0,20})")


@dataclass(frozen=True)
class ResourceName:
    region: str
    uin: str
    resource_id: str
    service: str = SERVICE_TYPE
    prefix: str = RESOURCE_PREFIX

    @property
    def text(self) -> str:
        return f"qcs::{self.service}:{self.region}:uin/{self.uin}:{self.prefix}/{self.resource_id}"


def clb_resource_name(region: str, uin: str, lb_id: str) -> ResourceName:
    return ResourceName(region, uin, lb_id)


def parse_resource_name(text: str, owner_uin: str, prefixes: tuple[str, ...] = (RESOURCE_PREFIX,)) -> ResourceName:
    """The name's parts, each checked with its documented code; the account must be the caller's.
    ``prefixes`` are the resource types the action accepts (ModifyResourceTags: target groups too)."""
    segments = text.split(":")
    uin = _UIN.fullmatch(segments[4]) if len(segments) == 6 else None
    if len(segments) != 6 or segments[0] != "qcs" or segments[1] or uin is None or "/" not in segments[5]:
        raise errors.InvalidParameterValueResourceDescriptionError(
            f"`{text}` is not a six-segment resource description (qcs::clb:REGION:uin/UIN:clb/ID).")
    _, _, service, region, _, resource = segments
    prefix, _, resource_id = resource.partition("/")
    check_service_type(service)
    check_resource_prefix(prefix, prefixes)
    check_resource_region(region)
    if uin.group(1) not in ("", owner_uin):
        raise errors.InvalidParameterValueUinInvalid(f"The account of `{text}` is not the caller's (uin/{owner_uin}).")
    if not resource_id:
        raise errors.InvalidParameterValueResourceIdInvalid(f"`{text}` names no resource.")
    return ResourceName(region, owner_uin, resource_id, prefix=prefix)


def check_service_type(service: str) -> None:
    """openclb's tag service knows the resources of one service: CLB."""
    if service != SERVICE_TYPE:
        raise errors.InvalidParameterUnsupportedService(f"The service `{service}` has no tags here; only clb.")


def check_resource_prefix(prefix: str, prefixes: tuple[str, ...] = (RESOURCE_PREFIX,)) -> None:
    if prefix not in prefixes:
        raise errors.InvalidParameterValueResourcePrefixInvalid(
            f"The resource prefix `{prefix}` is not one of {', '.join(prefixes)}.")


def check_resource_region(region: str) -> None:
    if not _REGION.fullmatch(region):
        raise errors.InvalidParameterValueRegionInvalid(f"The region `{region}` is invalid.")
