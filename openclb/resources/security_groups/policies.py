"""Security group policies: their stored form, their rules, and what the data plane makes of them.

A policy (vpc ``SecurityGroupPolicy``) is kept as ``{"protocol", "port", "cidr_block",
"ipv6_cidr_block", "action", "description", "modify_time"}``. Rules (vpc API docs 215/15808,
CreateSecurityGroupPolicies):

- ``Protocol``: TCP, UDP, ICMP, ICMPv6 or ALL (case-insensitive; kept upper-case).
- ``Port``: ``all``, one port, a range ``low-high`` or a comma list of ports; with ALL it must
  be ``all``; ICMP takes none but ``all``.
- Exactly one of ``CidrBlock`` and ``Ipv6CidrBlock``; ``0.0.0.0/n`` is taken as 0.0.0.0/0.
  ``SecurityGroupId``, ``AddressTemplate`` and ``ServiceTemplate`` references are refused
  (openclb keeps no address or service templates): UnsupportedOperation, naming the member.
- ``Action``: ACCEPT or DROP. ``PolicyDescription``: at most 100 characters.

Only ingress policies decide what a CLB admits: a CLB bound to groups evaluates the ingress
policies of its groups in the order the groups are bound, each group's in order; the first
policy that matches a new connection's (or UDP flow's) source, protocol and listener port
decides, and what none accepts is dropped. ICMP policies match no connection.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from openclb import errors
from openclb.domain.security_groups import SecurityGroup
from openclb.engine.spec import AdmissionRule
from openclb.resources.shared import checks as rules

PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPV6", "ALL")
ACTIONS = ("ACCEPT", "DROP")
_UNSUPPORTED = (("security_group_id", "SecurityGroupId"), ("address_template", "AddressTemplate"),
                ("service_template", "ServiceTemplate"))


def parse_ports(port: str) -> tuple[tuple[int, int], ...]:
    """``all`` → () (every port); ``80`` / ``80-90`` / ``80,443`` → inclusive ranges."""
    text = port.strip().lower()
    if text == "all":
        return ()
    ranges = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise errors.InvalidParameterValue(f"`Port` {port!r} is not all, a port, a range or a list of ports.")
        first, last = int(low), int(high or low)
        if not 1 <= first <= last <= 65535:
            raise errors.InvalidParameterValueRange(f"`Port` {port!r} must name ports in [1, 65535].")
        ranges.append((first, last))
    return tuple(ranges)


def _network(value: str, version: int, name: str) -> str:
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise errors.InvalidParameterValue(f"`{name}` {value!r} is not a CIDR block.") from None
    if network.version != version:
        raise errors.InvalidParameterValue(f"`{name}` {value!r} is not an IPv{version} CIDR block.")
    if version == 4 and network.network_address == ipaddress.IPv4Address("0.0.0.0"):
        return "0.0.0.0/0"
    return str(network)


def stored_policy(given: dict[str, Any], now: str) -> dict[str, Any]:
    """A request's SecurityGroupPolicy, checked, in its stored form."""
    for member, wire in _UNSUPPORTED:
        value = given.get(member)
        if any(value.values()) if isinstance(value, dict) else value:
            raise errors.UnsupportedOperation(f"`{wire}` in a policy is not supported: give a CidrBlock.")
    protocol = (given.get("protocol") or "").upper()
    rules.check_enum("Protocol", protocol, PROTOCOLS)
    action = (given.get("action") or "").upper()
    rules.check_enum("Action", action, ACTIONS)
    port = (given.get("port") or "all").strip()
    if protocol in ("ALL", "ICMP", "ICMPV6") and port.lower() != "all":
        raise errors.InvalidParameterValue(f"`Port` must be all when `Protocol` is {protocol}.")
    parse_ports(port)
    cidr, cidr6 = given.get("cidr_block"), given.get("ipv6_cidr_block")
    if bool(cidr) == bool(cidr6):
        raise errors.InvalidParameterValue("Give exactly one of `CidrBlock` and `Ipv6CidrBlock` in a policy.")
    description = given.get("policy_description") or ""
    if len(description) > 100:
        raise errors.InvalidParameterValueLength("`PolicyDescription` is at most 100 characters.")
    rules.check_no_control_characters("PolicyDescription", description)
    return {
        "protocol": protocol, "port": "all" if port.lower() == "all" else port,
        "cidr_block": _network(cidr, 4, "CidrBlock") if cidr else "",
        "ipv6_cidr_block": _network(cidr6, 6, "Ipv6CidrBlock") if cidr6 else "",
        "action": action, "description": description, "modify_time": now,
    }


def same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two stored policies are the same rule (delete-by-content matches on this)."""
    keys = ("protocol", "port", "cidr_block", "ipv6_cidr_block", "action")
    return all(a.get(k) == b.get(k) for k in keys)


def _rule(policy: dict[str, Any]) -> AdmissionRule:
    protocol = policy["protocol"]
    return AdmissionRule(
        accept=policy["action"] == "ACCEPT",
        network=policy["cidr_block"] or policy["ipv6_cidr_block"],
        protocol=protocol if protocol in ("TCP", "UDP", "ALL") else protocol,
        ports=parse_ports(policy["port"]),
    )


def admission_rules(bound: Sequence[str], groups: dict[str, SecurityGroup]) -> tuple[AdmissionRule, ...] | None:
    """The ordered rules of the groups a CLB is bound to; None when it is bound to none."""
    if not bound:
        return None
    return tuple(_rule(p) for group_id in bound if group_id in groups
                 for p in groups[group_id].policies.get("ingress", []))


def policy_count(groups: Iterable[SecurityGroup]) -> int:
    return sum(len(g.policies.get("ingress", [])) + len(g.policies.get("egress", [])) for g in groups)
