"""Per (account, action) request rate limits: 20 per second by default, as the docs state.

A sliding window per key: the acceptance times of the last second's calls. A call is accepted
when fewer than ``limit`` calls were accepted in the second before it, so no one-second window,
wherever it starts, holds more than ``limit`` accepted calls (a token bucket lets a full bucket
plus a second's refill through in the first second: 39 of 40 for a limit of 20).

A refused call is not recorded, so throttled clients recover as soon as they slow down, and it
reaches nothing behind the gateway. Memory is at most ``limit`` floats per key (fewer at lower
rates: older times are dropped as calls arrive); keys are authenticated
accounts times known actions (the gateway checks both first).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping

from openclb import errors

WINDOW_SECONDS = 1.0


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
        self._accepted: dict[tuple[int, str], deque[float]] = {}

    def limit_for(self, action: str) -> int:
        return self._per_action.get(action, self._default)

    def check(self, app_id: int, action: str) -> None:
        """Record one call of (account, action) or raise RequestLimitExceeded."""
        limit = self.limit_for(action)
        if limit <= 0:
            return
        now = self._clock()
        key = (app_id, action)
        accepted = self._accepted.get(key)
        if accepted is None:
            accepted = self._accepted[key] = deque()
        while accepted and now - accepted[0] >= WINDOW_SECONDS:
            accepted.popleft()
        if len(accepted) >= limit:
            raise errors.RequestLimitExceeded(
                f"Your request rate for {action} exceeds the limit of {limit} requests per second."
            )
        accepted.append(now)
