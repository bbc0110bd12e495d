"""The documented rules of the vpc security-group actions (vpc API 2017-03-12, docs 215/15806-15811).

- ``GroupName`` at most 60 characters, ``GroupDescription`` at most 100 (TooLong); both required.
- A security group id is ``sg-`` and 8 of [0-9a-z] (InvalidSecurityGroupID.Malformed); one that
  the account does not hold in the region is InvalidSecurityGroupID.NotFound.
- DescribeSecurityGroups: ``SecurityGroupIds`` (at most 100) and ``Filters`` not together
  (InvalidParameter.Coexist); filters security-group-id, security-group-name, project-id;
  ``Offset``/``Limit`` are numeric strings, Limit at most 100.
- A policy set's ``Version``, when given, must be the group's current one
  (UnsupportedOperation.VersionMismatch); a direction holds at most 100 policies
  (LimitExceeded.SecurityGroupPolicySet); a policy already in the direction is
  UnsupportedOperation.DuplicatePolicy; ``PolicyIndex`` must name an existing policy.
- A group bound to a CLB cannot be deleted (ResourceInUse).
"""

from __future__ import annotations

import re
from typing import Any

from openclb import errors
from openclb.resources.shared import checks as rules

MAX_POLICIES = 100
_GROUP_ID = re.compile(r"^sg-[0-9a-z]{8}$")
FILTERS = ("security-group-id", "security-group-name", "project-id")


def check_group_id(group_id: str) -> None:
    if not _GROUP_ID.match(group_id):
        raise errors.InvalidSecurityGroupIDMalformed(f"The security group ID {group_id!r} is malformed.")


def check_text(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise errors.InvalidParameterValueTooLong(f"`{name}` is at most {limit} characters.")
    rules.check_no_control_characters(name, value)


def check_page(offset: str | None, limit: str | None) -> tuple[int, int]:
    values = []
    for name, value, default, high in (("Offset", offset, 0, 2**31), ("Limit", limit, 20, 100)):
        if value is None or value == "":
            values.append(default)
            continue
        if not str(value).isdigit():
            raise errors.InvalidParameterValueMalformed(f"`{name}` {value!r} is not a number.")
        number = int(value)
        rules.check_range(name, number, 0, high)
        values.append(number)
    return values[0], values[1]


def check_describe(params: dict[str, Any]) -> None:
    ids, filters = params.get("security_group_ids") or [], params.get("filters") or []
    if ids and filters:
        raise errors.InvalidParameterCoexist("`SecurityGroupIds` and `Filters` cannot be given together.")
    if len(ids) > 100:
        raise errors.InvalidParameterValueLength("At most 100 `SecurityGroupIds` may be given.")
    for group_id in ids:
        check_group_id(group_id)
    for item in filters:
        if item["name"] not in FILTERS:
            raise errors.InvalidParameterFilterInvalidKey(f"The filter `{item['name']}` is not supported.")


def check_version(given: str | None, current: int) -> None:
    if given not in (None, "") and str(given) != str(current):
        raise errors.UnsupportedOperationVersionMismatch(
            f"The policy set version {given} is not the current version {current}.")


def check_room(policies: list, direction: str) -> None:
    if len(policies) > MAX_POLICIES:
        raise errors.LimitExceededSecurityGroupPolicySet(
            f"A security group holds at most {MAX_POLICIES} {direction} policies.")


def check_index(index: Any, policies: list, direction: str) -> int:
    if index is None or not 0 <= index < len(policies):
        raise errors.InvalidParameterValueRange(f"`PolicyIndex` {index} names no {direction} policy of the group.")
    return index
