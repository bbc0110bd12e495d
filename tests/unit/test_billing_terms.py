"""Prepaid terms and the price table, without sockets: month arithmetic, renewal, refunds, quotes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from openclb import errors
from openclb.domain.models import LoadBalancer, ProvisioningState
from openclb.resources.billing.prices import PriceTable, quote
from openclb.resources.load_balancers.terms import PrepaidTerm, add_months, billing_view, creation_terms
from openclb.resources.shared.clock import BEIJING, api_time


def _lb(settings: dict) -> LoadBalancer:
    return LoadBalancer("lb-00000000", 1, "ap-guangzhou", "n", "OPEN", "127.0.0.1", 1, ProvisioningState.ACTIVE,
                        "2026-01-31 10:00:00.000000", settings=settings)


@pytest.mark.parametrize("start,months,end", [
    ("2026-01-31", 1, "2026-02-28"), ("2024-01-31", 1, "2024-02-29"), ("2026-11-15", 3, "2027-02-15"),
    ("2026-03-31", -1, "2026-02-28"), ("2026-05-10", 36, "2029-05-10"),
])
def test_add_months_month_end_clamped(start, months, end):
    moment = datetime.fromisoformat(start).replace(tzinfo=BEIJING)
    assert add_months(moment, months).date().isoformat() == end


def test_creation_terms_prepaid_defaults_and_postpaid_none():
    now = datetime(2026, 1, 31, 12, 0, tzinfo=BEIJING)
    terms = creation_terms({"lb_charge_type": "PREPAID"}, now)
    assert terms == {"lb_charge_prepaid": {"period": 1, "renew_flag": "MANUAL_RENEW"}, "expire_at": "2026-02-28 12:00:00"}
    assert creation_terms({}) == {} and creation_terms({"lb_charge_type": "POSTPAID_BY_HOUR"}) == {}
    with pytest.raises(errors.InvalidParameterValue):
        creation_terms({"lb_charge_type": "PREPAID", "lb_charge_prepaid": {"period": 0}})


def test_prepaid_term_renewal_from_expiry_or_from_now_once_expired():
    now = datetime(2026, 6, 1, tzinfo=BEIJING)
    live = PrepaidTerm(1, "MANUAL_RENEW", now + timedelta(days=10))
    assert live.renewed(2, "AUTO_RENEW", now)["expire_at"] == api_time(add_months(now + timedelta(days=10), 2))
    lapsed = PrepaidTerm(1, "MANUAL_RENEW", now - timedelta(days=10))
    assert lapsed.renewed(1, "MANUAL_RENEW", now)["expire_at"] == api_time(add_months(now, 1))
    assert lapsed.expired(now) and not lapsed.will_expire(now)
    assert PrepaidTerm(1, "MANUAL_RENEW", now + timedelta(days=6)).will_expire(now)
    assert billing_view(lapsed, "PREPAID", now)["Isolation"] == 1


def test_prepaid_term_remaining_fraction_bounded():
    now = datetime(2026, 6, 1, tzinfo=BEIJING)
    assert PrepaidTerm(1, "M", add_months(now, 1)).remaining_fraction(now) == pytest.approx(1.0)
    assert PrepaidTerm(1, "M", now - timedelta(days=1)).remaining_fraction(now) == 0.0


def test_prepaid_term_of_postpaid_clb_is_none_and_of_prepaid_reads_settings():
    assert PrepaidTerm.of(_lb({})) is None
    term = PrepaidTerm.of(_lb({"lb_charge_type": "PREPAID", "lb_charge_prepaid": {"period": 3, "renew_flag": "AUTO_RENEW"},
                               "expire_at": "2026-04-30 10:00:00"}))
    assert (term.period, term.renew_flag, api_time(term.expire_at)) == (3, "AUTO_RENEW", "2026-04-30 10:00:00")


def test_price_table_file_overrides_defaults_and_refuses_bad_members(tmp_path):
    assert PriceTable.load(tmp_path) == PriceTable()
    (tmp_path / "prices.json").write_text(json.dumps({"InstancePerMonth": 10, "Discount": 90}))
    table = PriceTable.load(tmp_path)
    assert (table.instance_per_month, table.discount, table.instance_per_hour) == (10.0, 90.0, 0.2)
    for bad in ({"Instance": 1}, {"Discount": "x"}, {"TrafficPerGb": True}, [1]):
        (tmp_path / "prices.json").write_text(json.dumps(bad))
        with pytest.raises(errors.FailedOperation):
            PriceTable.load(tmp_path)


def test_quote_prepaid_postpaid_and_internal():
    table = PriceTable(discount=50)
    prepaid = quote(table, "OPEN", {"internet_charge_type": "BANDWIDTH_PREPAID", "internet_max_bandwidth_out": 2}, 3)
    assert (prepaid["InstancePrice"]["OriginalPrice"], prepaid["InstancePrice"]["DiscountPrice"]) == (432.0, 216.0)
    assert prepaid["BandwidthPrice"]["OriginalPrice"] == 138.0
    hourly = quote(table, "OPEN", {}, None, count=2)
    assert (hourly["InstancePrice"]["UnitPrice"], hourly["BandwidthPrice"]["ChargeUnit"]) == (0.4, "GB")
    assert quote(table, "INTERNAL", {}, None)["BandwidthPrice"] is None
