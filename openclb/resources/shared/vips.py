"""Free addresses of the VIP pool: for new CLBs' VIPs, and for SNAT IPs allocated without an address."""

from __future__ import annotations

import ipaddress

from openclb import errors


def allocate_vips(pool: str, used: set[str], count: int, wanted: str | None) -> list[str]:
    """Free addresses of the pool, lowest first; a requested ``Vip`` must be free and in the pool."""
    network = ipaddress.ip_network(pool)
    if wanted is not None:
        if not _is_free_address(wanted, network, used):
            raise errors.InvalidParameterValue(f"The Vip {wanted} is not a free address of this load balancer pool.")
        return [wanted]
    free = []
    for address in network.hosts():
        if str(address) not in used:
            free.append(str(address))
            if len(free) == count:
                return free
    raise errors.ResourceInsufficient("The VIP pool has no free address left.")


def _is_free_address(wanted: str, network, used: set[str]) -> bool:
    """One answer for a VIP that is malformed, outside the pool, or taken (by any account): no oracle."""
    try:
        return ipaddress.ip_address(wanted) in network and wanted not in used
    except ValueError:
        return False
