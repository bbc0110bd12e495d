"""vpc DescribeAddresses: the provider reads an INTERNAL CLB's EIP here; openclb has none to give."""

from __future__ import annotations

from typing import Any

from openclb.context import RequestContext
from openclb.resources.addresses import checks
from openclb.resources.shared.services import Services


async def describe_addresses(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Parameters checked as documented, then the empty set: no elastic IP is modelled."""
    address_ids = params.get("address_ids", [])
    checks.check_address_ids(address_ids)
    checks.check_filters(params.get("filters", []), address_ids)
    checks.check_page(params.get("offset"), params.get("limit"))
    return {"TotalCount": 0, "AddressSet": []}
