"""Billing: price inquiries from the operator's price table, and renewals of prepaid CLBs.

Inquiries read only: a quote for a new CLB, for a CLB's network change, for the refund of the
rest of a prepaid term, or for its renewal. RenewLoadBalancers extends each named PREPAID CLB's
expiry by ``Period`` months in one task (a CLB busy with another task answers
ResourceInOperating) and answers with a deal name, as an order of the real service does.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import LoadBalancer, TaskKind
from openclb.resources.billing import queries
from openclb.resources.billing.prices import PriceTable, quote
from openclb.resources.load_balancers.terms import CHARGE_TYPES, PREPAID, PrepaidTerm, check_prepaid
from openclb.resources.shared.clock import BEIJING
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared import checks as rules
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services

MAX_GOODS = 20
MAX_RENEW_IDS = 20
INQUIRY_CHARGE_TYPES = ("POSTPAID", *CHARGE_TYPES)
NETWORK_CHARGE_TYPES = ("TRAFFIC_POSTPAID_BY_HOUR", "BANDWIDTH_POSTPAID_BY_HOUR", "BANDWIDTH_PACKAGE", "BANDWIDTH_PREPAID")


def check_internet(internet: dict[str, Any] | None) -> dict[str, Any]:
    """InternetChargeType among the documented four; InternetMaxBandwidthOut 1-2048 Mbps (shared CLBs)."""
    internet = internet or {}
    if internet.get("internet_charge_type") is not None:
        rules.check_enum("InternetAccessible.InternetChargeType", internet["internet_charge_type"], NETWORK_CHARGE_TYPES)
    rules.check_range("InternetAccessible.InternetMaxBandwidthOut", internet.get("internet_max_bandwidth_out"), 1, 2048)
    return internet


async def _priced_load_balancer(services: Services, ctx: RequestContext, lb_id: str) -> LoadBalancer:
    """Inquiries document InvalidParameter (not LBIdNotFound) for a CLB that is not there."""
    try:
        return await require_load_balancer(services, ctx, lb_id)
    except errors.InvalidParameterLBIdNotFound as exc:
        raise errors.InvalidParameter(str(exc)) from None


def _prepaid_term(lb: LoadBalancer) -> PrepaidTerm:
    term = PrepaidTerm.of(lb)
    if term is None:
        raise errors.InvalidParameterValue(f"The LoadBalancer {lb.id} is pay-as-you-go: it has no subscription term.")
    return term


async def inquiry_price_create_load_balancer(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    rules.check_enum("LoadBalancerType", params["load_balancer_type"], ("OPEN", "INTERNAL"))
    rules.check_enum("LoadBalancerChargeType", params["load_balancer_charge_type"], INQUIRY_CHARGE_TYPES)
    goods = params.get("goods_num") if params.get("goods_num") is not None else 1
    rules.check_range("GoodsNum", goods, 1, MAX_GOODS)
    internet = check_internet(params.get("internet_accessible"))
    months = None
    if params["load_balancer_charge_type"] == PREPAID:
        months, _ = check_prepaid(params.get("load_balancer_charge_prepaid"), "LoadBalancerChargePrepaid")
    table = PriceTable.load(services.settings.data_dir)
    return {"Price": quote(table, params["load_balancer_type"], internet, months, goods)}


async def inquiry_price_modify_load_balancer(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """The price of the CLB with the new network settings, for its own charge type."""
    lb = await _priced_load_balancer(services, ctx, params["load_balancer_id"])
    internet = check_internet(params["internet_accessible"])
    term = PrepaidTerm.of(lb)
    table = PriceTable.load(services.settings.data_dir)
    return {"Price": quote(table, lb.lb_type, internet, term.period if term else None)}


async def inquiry_price_refund_load_balancer(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """What is paid back for the unused part of the current term of a PREPAID CLB."""
    lb = await _priced_load_balancer(services, ctx, params["load_balancer_id"])
    term = _prepaid_term(lb)
    table = PriceTable.load(services.settings.data_dir)
    paid = quote(table, lb.lb_type, LoadBalancerSettings.of(lb).internet_accessible, term.period)
    share = term.remaining_fraction(datetime.now(BEIJING))
    refund = round(sum((item or {}).get("DiscountPrice") or 0.0 for item in paid.values()) * share, 2)
    return {"Price": {"InstancePrice": {"UnitPrice": None, "ChargeUnit": None, "OriginalPrice": refund,
                                       "DiscountPrice": None, "UnitPriceDiscount": None, "Discount": None},
                      "BandwidthPrice": None, "LcuPrice": None}}


async def inquiry_price_renew_load_balancer(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    lb = await _priced_load_balancer(services, ctx, params["load_balancer_id"])
    _prepaid_term(lb)
    months, _ = check_prepaid(params["load_balancer_charge_prepaid"], "LoadBalancerChargePrepaid")
    table = PriceTable.load(services.settings.data_dir)
    return {"Price": quote(table, lb.lb_type, LoadBalancerSettings.of(lb).internet_accessible, months)}


async def renew_load_balancers(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb_ids = list(dict.fromkeys(params["load_balancer_ids"]))
    if not 1 <= len(lb_ids) <= MAX_RENEW_IDS:
        raise errors.InvalidParameter(f"Between 1 and {MAX_RENEW_IDS} `LoadBalancerIds` must be given.")
    months, renew_flag = check_prepaid(params["lb_charge_prepaid"], "LBChargePrepaid")
    now = datetime.now(BEIJING)
    renewed: dict[str, dict[str, Any]] = {}
    for lb_id in lb_ids:
        lb = await require_load_balancer(services, ctx, lb_id)
        term = PrepaidTerm.of(lb)
        if term is None:
            raise errors.InvalidParameter(f"The LoadBalancer {lb_id} is pay-as-you-go and cannot be renewed.")
        renewed[lb_id] = LoadBalancerSettings.of(lb).merged(term.renewed(months, renew_flag, now)).to_stored()
    await services.start_task(
        ctx, TaskKind.MODIFY_LOAD_BALANCER, lb_ids,
        lambda task: queries.renew_terms(services.store, ctx.scope, renewed, task),
    )
    return {"DealName": deal_name(now)}


def deal_name(now: datetime) -> str:
    """An order number shaped like the real ones: the date, then random digits (23 in all)."""
    return now.strftime("%Y%m%d") + "".join(secrets.choice("0123456789") for _ in range(15))
