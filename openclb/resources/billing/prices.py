"""The price table the InquiryPrice* actions quote from, and how a quote is built.

The operator sets prices in ``<data-dir>/prices.json`` (any member left out keeps its default);
the file is read at each inquiry, so a change applies without a restart. A file that is not a
JSON object of non-negative numbers is refused with ``FailedOperation`` naming the member.

The embedded default is illustrative, not a tariff: its figures are those of the official
API examples of InquiryPriceCreateLoadBalancer (tccli's examples.json, 2018-03-17): 0.2 per
hour for a pay-as-you-go instance, 144 per month for a subscribed one, 0.04 per Mbps per hour
and 23 per Mbps per month of bandwidth. Real prices differ by region and account (see Tencent
Cloud's CLB billing overview, docs 214/36999); an operator who bills by this table sets it.
``Discount`` is the percentage paid (100: no discount).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from openclb import errors

PRICES_FILE = "prices.json"


@dataclass(frozen=True)
class PriceTable:
    instance_per_hour: float = 0.2
    instance_per_month: float = 144.0
    bandwidth_per_mbps_hour: float = 0.04
    bandwidth_per_mbps_month: float = 23.0
    traffic_per_gb: float = 0.12
    discount: float = 100.0

    @classmethod
    def load(cls, data_dir: Path) -> PriceTable:
        """The default table with ``<data-dir>/prices.json`` over it (members in PascalCase)."""
        path = data_dir / PRICES_FILE
        if not path.exists():
            return cls()
        try:
            given = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise errors.FailedOperation(f"The operator's price table {PRICES_FILE} cannot be read: {exc}.") from None
        return cls().merged(given)

    def merged(self, given: Any) -> PriceTable:
        names = {_pascal(f.name): f.name for f in fields(self)}
        if not isinstance(given, dict):
            raise errors.FailedOperation(f"The operator's price table {PRICES_FILE} is not a JSON object.")
        changes = {}
        for key, value in given.items():
            if key not in names or isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise errors.FailedOperation(
                    f"The operator's price table {PRICES_FILE} has `{key}`, which is not one of "
                    f"{sorted(names)} with a non-negative number.")
            changes[names[key]] = float(value)
        return replace(self, **changes)

    def to_view(self) -> dict[str, float]:
        return {_pascal(f.name): getattr(self, f.name) for f in fields(self)}


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _money(value: float) -> float:
    return round(value, 4)


def hourly(table: PriceTable, unit_price: float, charge_unit: str = "HOUR") -> dict[str, Any]:
    """An ItemPrice billed by the hour (or GB): UnitPrice and its discounted form; totals null."""
    return {"UnitPrice": _money(unit_price), "ChargeUnit": charge_unit, "OriginalPrice": None,
            "DiscountPrice": None, "UnitPriceDiscount": _money(unit_price * table.discount / 100),
            "Discount": table.discount}


def upfront(table: PriceTable, total: float) -> dict[str, Any]:
    """An ItemPrice paid up front: OriginalPrice and DiscountPrice; unit members null."""
    return {"UnitPrice": None, "ChargeUnit": None, "OriginalPrice": _money(total),
            "DiscountPrice": _money(total * table.discount / 100), "UnitPriceDiscount": None,
            "Discount": table.discount}


def bandwidth_price(table: PriceTable, internet: dict[str, Any], months: int | None) -> dict[str, Any] | None:
    """The network fee of one public CLB: by bandwidth (per hour or per month), by traffic, or in a package."""
    charge_type = internet.get("internet_charge_type") or "TRAFFIC_POSTPAID_BY_HOUR"
    mbps = int(internet.get("internet_max_bandwidth_out") or 10)
    if charge_type == "BANDWIDTH_PREPAID":
        return upfront(table, table.bandwidth_per_mbps_month * mbps * (months or 1))
    if charge_type == "BANDWIDTH_POSTPAID_BY_HOUR":
        return hourly(table, table.bandwidth_per_mbps_hour * mbps)
    if charge_type == "TRAFFIC_POSTPAID_BY_HOUR":
        return hourly(table, table.traffic_per_gb, "GB")
    return hourly(table, 0.0, "0")


def quote(
    table: PriceTable, lb_type: str, internet: dict[str, Any], months: int | None, count: int = 1
) -> dict[str, Any]:
    """A Price: subscribed for ``months``, or pay-as-you-go when None; private CLBs pay no network fee."""
    if months is None:
        instance = hourly(table, table.instance_per_hour * count)
    else:
        instance = upfront(table, table.instance_per_month * months * count)
    network = bandwidth_price(table, internet, months) if lb_type == "OPEN" else None
    if network is not None and count != 1:
        network = {k: (_money(v * count) if k in ("UnitPrice", "OriginalPrice", "DiscountPrice", "UnitPriceDiscount")
                       and v is not None else v) for k, v in network.items()}
    return {"InstancePrice": instance, "BandwidthPrice": network, "LcuPrice": None}
