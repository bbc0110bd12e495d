"""The rules a state document must follow before anything of it reaches the store.

A document is data a user may have edited by hand, so every member is checked for its type
and its range, unknown members are refused, and every error names the member by its path
(``State.LoadBalancers.0.Listeners.1.Port``) with ``InvalidParameterValue``, as the API names
parameters. The ranges are the API's own: ports 1-65535, weights 0-100, names 1-80 characters
(listener names may be empty), tags up to 255; ids are the kind's prefix and 1-24 of [0-9a-z].
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from openclb import errors

_ID = {kind: re.compile(rf"{prefix}-[0-9a-z]{{1,24}}") for kind, prefix in
       (("lb", "lb"), ("listener", "lbl"), ("rule", "loc"), ("certificate", "cert"),
        ("target_group", "lbtg"), ("vpc", "vpc"), ("sg", "sg"))}
_REGION = re.compile(r"[a-z][a-z0-9-]{1,63}")
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?")


def refuse(path: str, why: str) -> errors.ApiError:
    return errors.InvalidParameterValue(f"`{path}` {why}.")


def members(value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value`` is an object holding every required member and no member but these."""
    if not isinstance(value, dict):
        raise refuse(path, "must be an object")
    for name in value:
        if name not in required and name not in optional:
            raise refuse(f"{path}.{name}", "is not a member of a state document")
    for name in required:
        if name not in value:
            raise refuse(f"{path}.{name}", "is missing")
    return value


def items(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise refuse(path, "must be an array")
    return value


def text(value: Any, path: str, low: int = 0, high: int = 255) -> str:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise refuse(path, f"must be a string of {low} to {high} characters")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        raise refuse(path, "must not contain control characters")
    return value


def pem(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.startswith("-----BEGIN ") or len(value) > 64 * 1024:
        raise refuse(path, "must be a PEM text")
    return value


def number(value: Any, path: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise refuse(path, f"must be an integer from {low} to {high}")
    return value


def flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise refuse(path, "must be true or false")
    return value


def choice(value: Any, path: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise refuse(path, f"must be one of {', '.join(allowed)}")
    return value


def identifier(value: Any, path: str, kind: str) -> str:
    if not isinstance(value, str) or not _ID[kind].fullmatch(value):
        raise refuse(path, f"must be an id like {_ID[kind].pattern.split('-')[0]}-0123abcd")
    return value


def region(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise refuse(path, "must be a region name such as ap-guangzhou")
    return value


def stamp(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _STAMP.fullmatch(value):
        raise refuse(path, "must be a time as YYYY-MM-DD HH:MM:SS[.ffffff]")
    return value


def address(value: Any, path: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise refuse(path, "must be an IP address") from None


def settings(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise refuse(path, "must be an object")
    return value


def unique(ids: list[str], path: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise refuse(path, f"holds the id {value} more than once")
        seen.add(value)


def sorted_settings(value: Any) -> Any:
    """Settings with every object's keys sorted and tuples as lists: one text for one meaning."""
    if isinstance(value, dict):
        return {key: sorted_settings(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [sorted_settings(item) for item in value]
    return value
