"""Domain rules on request values: small named checks, each citing the rule it enforces.

Structure (types, required members, unknown members) was checked by the gateway from the
spec; these functions check meaning: ranges, enums, which protocol a field applies to,
cross-field rules. Sources: the 2018-03-17 spec's parameter documents, the CLB limits page
(214/6187) and the listener overview (214/6151), as summarised in the digest (§3–4).

Every string a request gives that the store keeps in a sized column is bounded here or in its
resource's checks (names 80, Url 200, Domain 80, CertName 80, Target Tag 255), and no such
string carries a control character (PostgreSQL refuses NUL), so SQLite and PostgreSQL accept
and refuse the same values and the store never refuses one by its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from openclb import errors, protocols
from openclb.protocols import L4, TCP_UDP

LISTENER_PROTOCOLS = tuple(protocols.ALL)



def check_enum(name: str, value: Any, allowed: Iterable[str]) -> None:
    """Enumerated string parameters accept only their documented values."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise errors.InvalidParameterValue(
            f"The value `{value}` of parameter `{name}` is invalid; valid values: {', '.join(allowed)}."
        )


def check_range(name: str, value: int | None, low: int, high: int) -> None:
    """Integer parameters with a documented range (InvalidParameterValue.Range)."""
    if value is not None and not low <= value <= high:
        raise errors.InvalidParameterValueRange(f"The value {value} of parameter `{name}` must be in [{low}, {high}].")


def check_no_control_characters(name: str, value: str) -> None:
    """Names, paths and tags are text: no control characters (and so no NUL, which PostgreSQL refuses)."""
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        raise errors.InvalidParameterValue(f"`{name}` must not contain control characters.")


def check_name(name: str, value: str | None) -> None:
    """Names: 1–80 characters; Unicode supplementary characters (emoji, rare CJK) are forbidden."""
    if value is None:
        return
    if not 1 <= len(value) <= 80:
        raise errors.InvalidParameterValueLength(f"The length of `{name}` must be 1 to 80 characters.")
    if any(ord(ch) > 0xFFFF for ch in value):
        raise errors.InvalidParameterValue(
            f"`{name}` must not contain Unicode supplementary characters such as emoji."
        )
    check_no_control_characters(name, value)


def check_free_text(name: str, value: str | None, max_length: int) -> None:
    """Free text the spec gives no length for (Target.Tag: "Tag."): at most ``max_length``
    characters, the length openclb keeps (InvalidParameterValue.Length past it), no control characters."""
    if value is None:
        return
    if len(value) > max_length:
        raise errors.InvalidParameterValueLength(f"`{name}` must be at most {max_length} characters.")
    check_no_control_characters(name, value)


def check_ports(ports: Sequence[int]) -> None:
    """Ports: 1–65535 each, no duplicates inside one request (InvalidParameterValue.Duplicate)."""
    if not ports:
        raise errors.InvalidParameterValue("`Ports` must contain at least one port.")
    for index, port in enumerate(ports):
        check_range(f"Ports.{index}", port, 1, 65535)
    if len(set(ports)) != len(ports):
        raise errors.InvalidParameterValueDuplicate("`Ports` contains the same port more than once.")


def check_listener_names(names: Sequence[str] | None, ports: Sequence[int]) -> None:
    """ListenerNames: one per port, in the same order; each a valid name."""
    if names is None:
        return
    if len(names) != len(ports):
        raise errors.InvalidParameterValue("`ListenerNames` must have exactly one name per port in `Ports`.")
    for index, name in enumerate(names):
        check_name(f"ListenerNames.{index}", name)


def check_applies_to(name: str, value: Any, protocol: str, allowed: Iterable[str]) -> None:
    """A parameter documented for some protocols only is refused on the others."""
    if value is not None and protocol not in allowed:
        raise errors.InvalidParameterValue(
            f"`{name}` applies only to {protocols.names(allowed)} listeners, not to {protocol}."
        )


def check_session_expire_time(value: int | None, protocol: str) -> None:
    """SessionExpireTime: 0 (off) or 30–3600, TCP/UDP listeners only."""
    if not value:
        return
    check_applies_to("SessionExpireTime", value, protocol, TCP_UDP)
    check_range("SessionExpireTime", value, 30, 3600)


def check_session_type(value: str | None, protocol: str, scheduler: str | None) -> None:
    """SessionType: NORMAL or QUIC_CID; QUIC_CID only with UDP listeners using WRR (the spec:
    "If QUIC_CID is selected, Protocol must be UDP, Scheduler must be WRR")."""
    if value is None:
        return
    check_enum("SessionType", value, ("NORMAL", "QUIC_CID"))
    if value == "QUIC_CID":
        if protocol != "UDP":
            raise errors.InvalidParameterValue("SessionType QUIC_CID is only available on UDP listeners.")
        if (scheduler or "WRR") != "WRR":
            raise errors.InvalidParameterValue("SessionType QUIC_CID requires Scheduler WRR.")


def check_end_port(end_port: int | None, ports: Sequence[int]) -> None:
    """EndPort: a port-range listener takes exactly one start port, and EndPort above it."""
    if not end_port:
        return
    if len(ports) != 1:
        raise errors.InvalidParameterValue("With `EndPort` exactly one start port must be given in `Ports`.")
    check_range("EndPort", end_port, 1, 65535)
    if end_port <= ports[0]:
        raise errors.InvalidParameterValue("`EndPort` must be greater than the start port.")


def check_idle_connect_timeout(value: int | None, protocol: str) -> None:
    """IdleConnectTimeout: TCP/UDP listeners, 10–1980 seconds."""
    if value is None:
        return
    check_applies_to("IdleConnectTimeout", value, protocol, TCP_UDP)
    check_range("IdleConnectTimeout", value, 10, 1980)


def check_connection_limits(max_conn: int | None, max_cps: int | None, protocol: str) -> None:
    """MaxConn/MaxCps: -1 (unlimited) or a positive limit; layer-4 listeners only."""
    for name, value in (("MaxConn", max_conn), ("MaxCps", max_cps)):
        if value is None or value == -1:
            continue
        check_applies_to(name, value, protocol, L4)
        check_range(name, value, 1, 10_000_000)
