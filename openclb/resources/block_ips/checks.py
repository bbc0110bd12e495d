"""What ModifyBlockIPList takes (CLB API 2018-03-17, ModifyBlockIPList; docs 214/45047).

- ``Type``: add_customized_field / set_customized_field (the header that carries the client
  address, ``ClientIPField``), del_customized_field, add_blocked, del_blocked, flush_blocked.
- ``BlockIPList``: at most 200,000 addresses in one call, each an IPv4 or IPv6 address;
  required by add_blocked and del_blocked.
- ``ExpireTime``: seconds an added address stays blocked, default 3600.
- ``AddStrategy``: only ``fifo``; one CLB blocks at most 2,000,000 addresses, and with fifo the
  oldest entries make room for new ones (without it a full list refuses the call).
- ``ClientIPField``: a header name (RFC 9110 token), at most 255 characters.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from openclb import errors
from openclb.resources.shared import checks as rules

TYPES = ("add_customized_field", "set_customized_field", "del_customized_field",
         "add_blocked", "del_blocked", "flush_blocked")
FIELD_TYPES = TYPES[:3]
MAX_PER_CALL = 200_000
MAX_PER_LOAD_BALANCER = 2_000_000
DEFAULT_EXPIRE_SECONDS = 3600
MAX_EXPIRE_SECONDS = 2**31
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,255}$")


def check_request(params: dict[str, Any]) -> tuple[str, list[str], int]:
    """The operation, the normalised addresses (in order, once each) and the expiry seconds."""
    kind = params["type"]
    rules.check_enum("Type", kind, TYPES)
    field = params["client_ip_field"]
    if not _HEADER_NAME.match(field):
        raise errors.InvalidParameterValue(f"`ClientIPField` {field!r} is not an HTTP header name.")
    strategy = params.get("add_strategy")
    if strategy is not None:
        rules.check_enum("AddStrategy", strategy, ("fifo",))
    expire = params.get("expire_time", DEFAULT_EXPIRE_SECONDS)
    rules.check_range("ExpireTime", expire, 1, MAX_EXPIRE_SECONDS)
    given = params.get("block_ip_list") or []
    if kind in ("add_blocked", "del_blocked") and not given:
        raise errors.MissingParameter(f"`BlockIPList` is required when `Type` is {kind}.")
    if len(given) > MAX_PER_CALL:
        raise errors.InvalidParameterValueLength(f"At most {MAX_PER_CALL} addresses may be given in one call.")
    return kind, list(dict.fromkeys(_address(ip) for ip in given)), expire


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise errors.InvalidParameterValue(f"`BlockIPList` holds {text!r}, which is not an IP address.") from None


def check_room(blocked: int, adding: int, strategy: str | None) -> None:
    """A full list (2,000,000 per CLB) takes new addresses only with AddStrategy fifo."""
    if blocked + adding > MAX_PER_LOAD_BALANCER and strategy != "fifo":
        raise errors.LimitExceeded(
            f"The blocklist holds at most {MAX_PER_LOAD_BALANCER} addresses; "
            "use AddStrategy fifo to replace the oldest.")
