"""DescribeAddresses' documented parameter rules (vpc 2017-03-12, DescribeAddresses)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from openclb import errors
from openclb.resources.shared.checks import check_enum, check_range

# "The detailed filter conditions are as follows" (DescribeAddresses' Filters); ``tag:<key>`` too.
ADDRESS_FILTERS = frozenset({
    "address-id", "address-name", "address-ip", "address-status", "instance-id", "private-ip-address",
    "network-interface-id", "is-arrears", "instance-type", "address-type", "address-isp",
    "dedicated-cluster-id", "tag-key", "tag-value",
})
ADDRESS_STATUSES = ("CREATING", "BINDING", "BIND", "UNBINDING", "UNBIND", "OFFLINING", "BIND_ENI")
ADDRESS_TYPES = ("WanIP", "EIP", "AnycastEIP", "HighQualityEIP", "AntiDDoSEIP", "ResidentialEIP")
INSTANCE_TYPES = ("CVM", "NAT", "ENI", "CLB", "HAVIP", "DHCPIP", "EKS", "VPCE", "WAF")
ADDRESS_ISPS = ("BGP", "CMCC", "CUCC", "CTCC")
_ENUM_FILTERS = {
    "address-status": ADDRESS_STATUSES, "address-type": ADDRESS_TYPES, "instance-type": INSTANCE_TYPES,
    "address-isp": ADDRESS_ISPS, "is-arrears": ("TRUE", "FALSE"),
}
_ADDRESS_ID = re.compile(r"eip-[0-9a-z]{8}")
MAX_LIMIT = 100  # "Maximum value: 100"


def check_address_ids(address_ids: Sequence[str]) -> None:
    """An EIP id is ``eip-`` and 8 characters (InvalidParameterValue.AddressIdMalformed)."""
    for address_id in address_ids:
        if not _ADDRESS_ID.fullmatch(address_id):
            raise errors.InvalidParameterValueAddressIdMalformed(f"The address ID `{address_id}` is malformed.")


def check_filters(filters: Sequence[dict[str, Any]], address_ids: Sequence[str]) -> None:
    """Only the documented filter names; enumerated ones take their documented values; ``AddressIds``
    and ``address-id`` "cannot be specified simultaneously" (InvalidParameter.Coexist)."""
    for item in filters:
        name = item.get("name", "")
        if name not in ADDRESS_FILTERS and not (name.startswith("tag:") and len(name) > 4):
            raise errors.InvalidParameterFilterInvalidKey(f"The filter `{name}` does not exist.")
        for value in item.get("values", []):
            if name in _ENUM_FILTERS:
                check_enum(f"Filters.{name}", value, _ENUM_FILTERS[name])
            elif name == "address-id":
                check_address_ids([value])
        if name == "address-id" and address_ids:
            raise errors.InvalidParameterCoexist("`AddressIds` and the filter `address-id` cannot be given together.")


def check_page(offset: int | None, limit: int | None) -> None:
    check_range("Offset", offset, 0, 2**63 - 1)
    check_range("Limit", limit, 0, MAX_LIMIT)
