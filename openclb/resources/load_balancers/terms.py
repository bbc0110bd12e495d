"""Prepaid terms: a monthly-subscription CLB's period, renewal flag and expiry.

A CLB created with ``LBChargeType`` PREPAID keeps its ``LBChargePrepaid`` (Period in months,
RenewFlag) and an expiry in its settings (``LoadBalancerSettings.lb_charge_prepaid`` and
``expire_at``), so state snapshots carry them and ResetState clears them with the CLB.
RenewLoadBalancers moves the expiry on by whole months from the later of the expiry and now.
A term past its expiry is isolated (``Isolation`` 1, DescribeLoadBalancerOverview's
IsolationCount); one ending within ``WILL_EXPIRE_DAYS`` will expire (WillExpireCount).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from openclb import errors
from openclb.domain.models import LoadBalancer
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared.clock import BEIJING, api_time

PREPAID = "PREPAID"
POSTPAID = "POSTPAID_BY_HOUR"
CHARGE_TYPES = (POSTPAID, PREPAID)
# Subscription lengths the purchase page offers, in months.
PERIODS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 24, 36)
RENEW_FLAGS = ("AUTO_RENEW", "MANUAL_RENEW")
DEFAULT_RENEW_FLAG = "MANUAL_RENEW"
WILL_EXPIRE_DAYS = 7


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later, on the month's last day where it is shorter."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def parse_time(text: str) -> datetime:
    return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)


def check_prepaid(prepaid: dict[str, Any] | None, name: str) -> tuple[int, str]:
    """A term's Period (1-12, 24 or 36 months; 1 when left out) and RenewFlag (AUTO_RENEW or MANUAL_RENEW)."""
    prepaid = prepaid or {}
    period = prepaid.get("period") if prepaid.get("period") is not None else 1
    if period not in PERIODS:
        raise errors.InvalidParameterValue(f"`{name}.Period` must be one of {list(PERIODS)} months, not {period}.")
    renew_flag = prepaid.get("renew_flag") or DEFAULT_RENEW_FLAG
    if renew_flag not in RENEW_FLAGS:
        raise errors.InvalidParameterValue(f"`{name}.RenewFlag` must be one of {list(RENEW_FLAGS)}.")
    return period, renew_flag


def creation_terms(params: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The settings a new CLB's charge type adds: for PREPAID, its term and first expiry."""
    charge_type = params.get("lb_charge_type") or POSTPAID
    if charge_type not in CHARGE_TYPES:
        raise errors.InvalidParameterValue(f"`LBChargeType` must be one of {list(CHARGE_TYPES)}.")
    if charge_type != PREPAID:
        if params.get("lb_charge_prepaid"):
            raise errors.InvalidParameterCombination("`LBChargePrepaid` applies to PREPAID load balancers only.")
        return {}
    period, renew_flag = check_prepaid(params.get("lb_charge_prepaid"), "LBChargePrepaid")
    expiry = add_months(now or datetime.now(BEIJING), period)
    return {"lb_charge_prepaid": {"period": period, "renew_flag": renew_flag}, "expire_at": api_time(expiry)}


@dataclass(frozen=True)
class PrepaidTerm:
    period: int
    renew_flag: str
    expire_at: datetime

    @classmethod
    def of(cls, lb: LoadBalancer) -> PrepaidTerm | None:
        """The CLB's term, or None for a pay-as-you-go CLB."""
        settings = LoadBalancerSettings.of(lb)
        if settings.lb_charge_type != PREPAID or not settings.expire_at:
            return None
        prepaid = settings.lb_charge_prepaid
        return cls(int(prepaid.get("period") or 1), prepaid.get("renew_flag") or DEFAULT_RENEW_FLAG,
                   parse_time(settings.expire_at))

    def expired(self, now: datetime) -> bool:
        return now >= self.expire_at

    def will_expire(self, now: datetime) -> bool:
        return not self.expired(now) and self.expire_at - now <= timedelta(days=WILL_EXPIRE_DAYS)

    def renewed(self, months: int, renew_flag: str, now: datetime) -> dict[str, Any]:
        """The settings after renewing for ``months``: from the expiry, or from now once expired."""
        start = max(self.expire_at, now)
        return {"lb_charge_prepaid": {"period": months, "renew_flag": renew_flag},
                "expire_at": api_time(add_months(start, months))}

    def remaining_fraction(self, now: datetime) -> float:
        """How much of the last paid period is still ahead (0 when expired), for a refund."""
        start = add_months(self.expire_at, -self.period)
        whole = (self.expire_at - start).total_seconds()
        return max(0.0, min(1.0, (self.expire_at - now).total_seconds() / whole)) if whole > 0 else 0.0

    def to_view(self) -> dict[str, Any]:
        """LoadBalancer's ExpireTime and PrepaidAttributes."""
        return {"ExpireTime": api_time(self.expire_at),
                "PrepaidAttributes": {"RenewFlag": self.renew_flag, "Period": self.period}}


def billing_view(term: PrepaidTerm | None, charge_type: str, now: datetime | None = None) -> dict[str, Any]:
    """LoadBalancer's Isolation, IsolatedTime, ExpireTime, ChargeType and PrepaidAttributes."""
    never = "0000-00-00 00:00:00"
    if term is None:
        return {"Isolation": 0, "IsolatedTime": never, "ExpireTime": never, "ChargeType": charge_type,
                "PrepaidAttributes": None}
    isolated = term.expired(now or datetime.now(BEIJING))
    return {"Isolation": int(isolated), "IsolatedTime": api_time(term.expire_at) if isolated else never,
            "ChargeType": PREPAID, **term.to_view()}
