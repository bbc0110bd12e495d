"""The rules of SNAT IPs (CreateLoadBalancerSnatIps, DeleteLoadBalancerSnatIps, CreateLoadBalancer).

- A SnatIp names a subnet and optionally an IP; without one an address is allocated
  ("specify IP for request or designated subnet for automatic application"). openclb has no
  subnets: the subnet id is kept as given, and an allocated address is a free one of the VIP
  pool, so a given one must be an address of this host the engine can send from.
- ``Number`` (default 1, at most 10) is for allocated addresses; with ``Ip`` it "is not available".
- A CLB holds at most TOTAL_SNAT_IP_QUOTA (10) SNAT IPs (LimitExceeded); an address is held once.
- DeleteLoadBalancerSnatIps: at most 20 ``Ips``, each one of the CLB's.
"""

from __future__ import annotations

import ipaddress
import socket

from openclb import errors
from openclb.resources.shared import checks as rules


def check_address(ip: str) -> str:
    """A given SNAT IP: an IPv4 address of this host (the engine binds upstream sockets to it)."""
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        raise errors.InvalidParameterFormatError(f"The SnatIp `{ip}` is not an IPv4 address.") from None
    try:
        with socket.socket() as probe:
            probe.bind((str(address), 0))
    except OSError:
        raise errors.InvalidParameterValue(
            f"The SnatIp {ip} is not an address of this host; connections cannot leave from it.") from None
    return str(address)


def check_snat_pro(snat_pro: bool | None) -> None:
    """CreateLoadBalancer: SnatIps are the addresses of SnatPro; without SnatPro they would do nothing."""
    if not snat_pro:
        raise errors.InvalidParameter("`SnatIps` can only be given with `SnatPro` true.")


def check_number(number: int | None, given_ips: bool) -> int:
    if number is not None and given_ips:
        raise errors.InvalidParameter("`Number` is only for allocated SNAT IPs; it is not available with `Ip`.")
    rules.check_range("Number", number, 1, 10)
    return number or 1


def check_quota(held: int, adding: int, quota: int) -> None:
    if held + adding > quota:
        raise errors.LimitExceeded(f"A load balancer holds at most {quota} SNAT IPs ({held} held, {adding} more asked).")


def check_new(ips: list[str], held: set[str]) -> None:
    seen = set(held)
    for ip in ips:
        if ip in seen:
            raise errors.InvalidParameterValue(f"The SnatIp {ip} is given twice or already held by this load balancer.")
        seen.add(ip)


def check_deletable(ips: list[str], held: set[str]) -> None:
    if not 1 <= len(ips) <= 20:
        raise errors.InvalidParameterValueLength("Between 1 and 20 `Ips` may be deleted at once.")
    for ip in ips:
        if ip not in held:
            raise errors.InvalidParameterValue(f"The SnatIp {ip} is not held by this load balancer.")
