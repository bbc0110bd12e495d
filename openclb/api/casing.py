"""Wire names (PascalCase) → the snake_case names everything behind the API uses.

Applied once to validated parameters in the gateway, so services never see Tencent casing.
The mapping is mechanical and injective over the spec's names (a unit test checks it):
``LoadBalancerId`` → ``load_balancer_id``, ``SSLMode`` → ``ssl_mode``, ``TimeOut`` → ``time_out``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@lru_cache(maxsize=4096)
def snake_name(name: str) -> str:
    return _BOUNDARY.sub("_", name).lower()


def snake_keys(value: Any) -> Any:
    """Recursively rename dict keys; values (enum strings like ``QUIC_CID``) are untouched."""
    if isinstance(value, dict):
        return {snake_name(k): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value
