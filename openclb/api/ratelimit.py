"""Per (account, action) request rate limits: 20 per second by default, as the docs state.

A token bucket per key: capacity = the per-second limit, refilled continuously. A refused
call takes no token, so throttled clients recover as soon as they slow down, and it reaches
nothing behind the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from openclb import errors


class RateLimiter:
    def __init__(
        self,
        default_per_second: int,
        per_action: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._default = default_per_second
        self._per_action = dict(per_action or {})
        self._clock = clock
        self._buckets: dict[tuple[int, str], tuple[float, float]] = {}

    def limit_for(self, action: str) -> int:
        return self._per_action.get(action, self._default)

    def check(self, app_id: int, action: str) -> None:
        """Take one token for (account, action) or raise RequestLimitExceeded."""
        limit = self.limit_for(action)
        if limit <= 0:
            return
        now = self._clock()
        key = (app_id, action)
        tokens, last = self._buckets.get(key, (float(limit), now))
        tokens = min(float(limit), tokens + (now - last) * limit)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise errors.RequestLimitExceeded(
                f"Your request rate for {action} exceeds the limit of {limit} requests per second."
            )
        self._buckets[key] = (tokens - 1.0, now)
