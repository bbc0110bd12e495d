"""The rate limiter on a clock the test moves: no one-second window holds more than the limit."""

from __future__ import annotations

import pytest

from openclb import errors
from openclb.api.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def accepted_at(limiter: RateLimiter, clock: Clock, times: list[float], action: str = "DescribeQuota") -> list[float]:
    passed = []
    for at in times:
        clock.now = at
        try:
            limiter.check(1, action)
            passed.append(at)
        except errors.RequestLimitExceeded:
            pass
    return passed


def test_rate_limiter_burst_then_steady_stream_never_exceeds_limit_in_any_window():
    clock = Clock()
    limiter = RateLimiter(20, clock=clock)
    times = [1000.0] * 40 + [1000.0 + step * 0.01 for step in range(1, 300)]

    passed = accepted_at(limiter, clock, times)

    assert passed[:20] == [1000.0] * 20
    for index, start in enumerate(passed):
        in_window = [at for at in passed[index:] if at - start < 1.0]
        assert len(in_window) <= 20, (start, len(in_window))
    assert len([at for at in passed if at < 1001.0]) == 20


def test_rate_limiter_refused_calls_are_not_counted():
    clock = Clock()
    limiter = RateLimiter(2, clock=clock)

    assert accepted_at(limiter, clock, [1000.0, 1000.1, 1000.2, 1000.3, 1000.9]) == [1000.0, 1000.1]
    assert accepted_at(limiter, clock, [1001.0, 1001.05, 1001.1]) == [1001.0, 1001.1]


def test_rate_limiter_keys_are_per_account_and_action_with_per_action_limits():
    clock = Clock()
    limiter = RateLimiter(1, {"CreateListener": 3}, clock=clock)

    limiter.check(1, "DescribeQuota")
    limiter.check(2, "DescribeQuota")
    for _ in range(3):
        limiter.check(1, "CreateListener")
    with pytest.raises(errors.RequestLimitExceeded) as refused:
        limiter.check(1, "DescribeQuota")

    assert "DescribeQuota" in refused.value.message


def test_rate_limiter_zero_limit_is_unlimited():
    limiter = RateLimiter(0)
    for _ in range(1000):
        limiter.check(1, "DescribeQuota")
