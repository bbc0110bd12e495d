"""What a handler knows about the call it serves: who asks, where, and under which id.

``scope`` is the (account, region) pair every stored row is keyed by; handlers pass it to
the store on every call so one account never sees another's resources.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from openclb.domain.models import Scope


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    app_id: int
    owner_uin: str
    region: str
    language: str = "zh-CN"

    @property
    def scope(self) -> Scope:
        return Scope(self.app_id, self.region)


Handler = Callable[[RequestContext, dict[str, Any]], Awaitable[dict[str, Any]]]
