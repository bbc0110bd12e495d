"""The documented rules of target groups, each a small named function citing its source.

Sources: the 2018-03-17 spec's documents of CreateTargetGroup, ModifyTargetGroupAttribute,
the TargetGroupInstance and TargetGroupAssociation objects, and AssociateTargetGroups'
restrictions; the codes are those the SDK lists for these actions (InvalidParameter for what
is not found, InvalidParameterValue for a value out of its rule, FailedOperation for what the
resources' state forbids, LimitExceeded for quotas).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any

from openclb import errors
from openclb.domain.models import Listener, Rule
from openclb.domain.target_groups import TargetGroup, TargetGroupAssociation, TargetGroupInstance
from openclb.resources.shared.clock import sortable_now
from openclb.resources.target_groups.settings import TargetGroupSettings

NAME_MAX = 80
MAX_INSTANCES_PER_CREATE = 50
MAX_IDS_PER_CALL = 20
GROUP_TYPES = ("v1",)
PROTOCOLS = ("TCP", "UDP", "HTTP", "HTTPS", "GRPC")
SCHEDULERS = ("WRR", "LEAST_CONN", "IP_HASH")
_VPC_ID = re.compile(r"^vpc-[0-9a-z]{1,32}$")


def check_name(value: str | None) -> None:
    """TargetGroupName: 1-80 characters, no Unicode supplementary characters, no control characters."""
    if value is None:
        return
    if not 1 <= len(value) <= NAME_MAX or any(ord(ch) > 0xFFFF or ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        raise errors.InvalidParameterValue(
            "`TargetGroupName` must be 1 to 80 characters, without emoji or control characters.")


def check_number(name: str, value: int | None, low: int, high: int) -> None:
    """Ports 1-65535, weights 0-100, session persistence 0 or 30-3600."""
    if value is not None and not low <= value <= high:
        raise errors.InvalidParameterValue(f"The value {value} of `{name}` must be in [{low}, {high}].")


def required_numbers(items: Sequence[dict[str, Any]], name: str, wire: str, member: str, low: int, high: int) -> None:
    """ModifyTargetGroupInstancesPort needs each NewPort (1-65535), ...Weight each Weight (0-100)."""
    for index, item in enumerate(items):
        if item.get(name) is None:
            raise errors.InvalidParameter(f"`{wire}.{index}.{member}` is required by this action.")
        check_number(f"{wire}.{index}.{member}", item[name], low, high)


def check_choice(name: str, value: str | None, allowed: Sequence[str]) -> None:
    if value is not None and value not in allowed:
        raise errors.InvalidParameterValue(f"`{name}` must be one of {', '.join(allowed)}; got {value!r}.")


def check_vpc_id(value: str) -> None:
    """A VpcId names a VPC: ``vpc-`` and its id."""
    if not _VPC_ID.match(value):
        raise errors.InvalidParameterValue(f"`VpcId` {value!r} is not a VPC id (vpc-xxxxxxxx).")


def check_settings(params: dict[str, Any]) -> None:
    """The members of CreateTargetGroup / ModifyTargetGroupAttribute besides name, VPC and instances."""
    check_choice("Type", params.get("type"), GROUP_TYPES)
    check_choice("Protocol", params.get("protocol"), PROTOCOLS)
    check_choice("ScheduleAlgorithm", params.get("schedule_algorithm"), SCHEDULERS)
    check_number("Port", default_port(params.get("port")), 1, 65535)
    check_number("Weight", params.get("weight"), 0, 100)
    expire = params.get("session_expire_time")
    if expire:
        check_number("SessionExpireTime", expire, 30, 3600)
    if params.get("full_listen_switch"):
        raise errors.InvalidParameterValue("`FullListenSwitch` applies to v2 target groups only; this group is v1.")
    if len(params.get("tags") or ()) > 20:
        raise errors.InvalidParameterValue("At most 20 `Tags` may be given.")
    check_number("HealthCheck.Port", (params.get("health_check") or {}).get("port"), 1, 65535)


def default_port(port: int | None) -> int | None:
    """A group's default Port; 0 means none, as the Terraform provider sends it for a group
    configured without a port (ClbService.CreateTargetGroup always sets Port)."""
    return port or None


def check_ids(name: str, ids: Sequence[str]) -> None:
    """DeleteTargetGroups and the Associations arrays: 1 to 20 items."""
    if not 1 <= len(ids) <= MAX_IDS_PER_CALL:
        raise errors.InvalidParameterValue(f"Between 1 and {MAX_IDS_PER_CALL} `{name}` must be given.")


def instances(
    group_id: str, settings: TargetGroupSettings, default_port: int | None, items: Iterable[dict[str, Any]],
    wire: str = "TargetGroupInstances",
) -> list[TargetGroupInstance]:
    """TargetGroupInstance items → instances: BindIP an address, Port (or the group's) 1-65535, Weight 0-100."""
    built = []
    for index, item in enumerate(items):
        where = f"{wire}.{index}"
        try:
            ip = str(ipaddress.ip_address(item["bind_ip"]))
        except ValueError:
            raise errors.InvalidParameterValue(f"`{where}.BindIP` {item['bind_ip']!r} is not an IP address.") from None
        port = item.get("port") if item.get("port") is not None else default_port
        if port is None:
            raise errors.InvalidParameter(f"`{where}.Port` is required: the target group has no default Port.")
        check_number(f"{where}.Port", port, 1, 65535)
        check_number(f"{where}.Weight", item.get("weight"), 0, 100)
        built.append(TargetGroupInstance(group_id, ip, port, settings.instance_weight(item.get("weight")),
                                         sortable_now()))
    check_no_duplicates(built)
    return built


def check_no_duplicates(found: Sequence[TargetGroupInstance]) -> None:
    """One instance (BindIP and Port) at most once per call."""
    keys = [i.key for i in found]
    if len(keys) != len(set(keys)):
        raise errors.InvalidParameterValue("The same instance (BindIP and Port) is given more than once.")


def check_not_registered(new: Sequence[TargetGroupInstance], existing: dict[tuple[str, int], TargetGroupInstance]) -> None:
    """RegisterTargetGroupInstances: an instance already in the group is refused, not replaced."""
    taken = [f"{i.ip}:{i.port}" for i in new if i.key in existing]
    if taken:
        raise errors.InvalidParameterValue(f"The instances {taken} are already registered in the target group.")


def registered(
    items: Sequence[dict[str, Any]], existing: dict[tuple[str, int], TargetGroupInstance], wire: str
) -> list[TargetGroupInstance]:
    """The instances an item list names (BindIP and Port, both required here), each registered."""
    found = []
    for index, item in enumerate(items):
        if item.get("port") is None:
            raise errors.InvalidParameter(f"`{wire}.{index}.Port` is required by this action.")
        try:
            key = (str(ipaddress.ip_address(item["bind_ip"])), item["port"])
        except ValueError:
            raise errors.InvalidParameterValue(f"`{wire}.{index}.BindIP` is not an IP address.") from None
        if key not in existing:
            raise errors.InvalidParameter(f"The instance {key[0]}:{key[1]} is not registered in the target group.")
        found.append(existing[key])
    check_no_duplicates(found)
    return found


def require_group(groups: dict[str, TargetGroup], group_id: str) -> TargetGroup:
    """A target group of this account and region, or InvalidParameter."""
    group = groups.get(group_id)
    if group is None:
        raise errors.InvalidParameter(f"The target group {group_id} does not exist.")
    return group


def check_vpc_matches(group: TargetGroup, lb_vpc_id: str, lb_id: str) -> None:
    """AssociateTargetGroups: "the VPC of the CLB must match the VPC of the target group"."""
    if group.vpc_id != lb_vpc_id:
        raise errors.InvalidParameterValue(
            f"The target group {group.id} is in {group.vpc_id}, and the load balancer {lb_id} forwards to "
            f"{lb_vpc_id}: they must be in the same VPC.")


def bound_place(listener: Listener, rule: Rule | None, location_id: str | None) -> None:
    """Layer 7 binds to a rule (LocationId required); layer 4 to the listener, whose TargetType is TARGETGROUP."""
    l7 = listener.protocol in ("HTTP", "HTTPS")
    if l7 and not location_id:
        raise errors.InvalidParameter(f"`LocationId` is required to bind a target group to the {listener.protocol} "
                                      f"listener {listener.id}.")
    if not l7 and location_id:
        raise errors.InvalidParameter(f"The {listener.protocol} listener {listener.id} has no forwarding rules: "
                                      "leave `LocationId` out.")
    target_type = (rule.settings if rule is not None else listener.settings).get("target_type", "NODE")
    if target_type != "TARGETGROUP":
        what = f"rule {rule.id}" if rule is not None else f"listener {listener.id}"
        raise errors.FailedOperation(f"The {what} forwards to real servers (TargetType NODE): only a "
                                     "listener or rule created with TargetType TARGETGROUP takes a target group.")


def check_not_bound(new: Sequence[TargetGroupAssociation], existing: dict[tuple[str, str], TargetGroupAssociation]) -> None:
    """A listener or rule takes one target group: one already bound (or named twice) is refused."""
    seen: set[tuple[str, str]] = set()
    for association in new:
        place = association.bound_to
        if place in existing or place in seen:
            bound = existing.get(place)
            raise errors.FailedOperation(
                f"The listener {place[0]}{' rule ' + place[1] if place[1] else ''} is already bound to the target "
                f"group {bound.target_group_id if bound else association.target_group_id}.")
        seen.add(place)


def check_not_associated(group_ids: Iterable[str], associated: set[str]) -> None:
    """DeleteTargetGroups: a group still bound to a listener or rule is refused."""
    busy = sorted(set(group_ids) & associated)
    if busy:
        raise errors.FailedOperation(f"The target groups {busy} are still associated with listeners or rules: "
                                     "disassociate them first (DisassociateTargetGroups).")
