"""Account overview: traffic ranking, counts, idle CLBs, zone resources, operation protection, cross-region targets.

DescribeLoadBalancerTraffic ranks the account's CLBs by the bytes the data plane really sent
to clients (the engine's ``stats()``, the same counters ``/metrics`` exports as
``openclb_listener_bytes_out_total``) and answers the top ten that sent anything. Counters are
the engine's since it started serving the CLB, so ``OutBandwidth`` is their mean rate in Mbps
over the CLB's life (openclb samples no peak). DescribeIdleLoadBalancers lists pay-as-you-go
CLBs with the documented reasons: ``NO_RULES`` (no listener, or HTTP/HTTPS listeners without
rules) and ``NO_RS`` (rules or listeners, but no real server bound). Cross-region binding does
not exist here, so DescribeCrossTargets answers the documented empty set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openclb import errors
from openclb.api.regions import REGIONS, isps_of, zones_of
from openclb.context import RequestContext
from openclb.domain.models import LoadBalancer, ProvisioningState
from openclb.resources.load_balancers.terms import PrepaidTerm, parse_time
from openclb.resources.overview import views
from openclb.resources.shared import checks as rules
from openclb.resources.shared.clock import BEIJING
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services

TOP_TRAFFIC = 10
MAX_PAGE = 100
MAX_PROTECT_IDS = 20
L7 = ("HTTP", "HTTPS")
RESOURCE_FILTERS = ("master-zone", "ip-version", "isp")
CROSS_TARGET_FILTERS = ("vpc-id", "ip", "listener-id", "location-id")


def check_page(params: dict[str, Any]) -> tuple[int, int]:
    """Offset ≥ 0 and Limit 1-100 (default 20), as the list actions document."""
    offset = params.get("offset") if params.get("offset") is not None else 0
    limit = params.get("limit") if params.get("limit") is not None else 20
    rules.check_range("Offset", offset, 0, 2**31)
    rules.check_range("Limit", limit, 1, MAX_PAGE)
    return offset, limit


def check_filters(filters: list[dict[str, Any]] | None, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    found = {f["name"]: f["values"] for f in filters or []}
    unknown = sorted(set(found) - set(allowed))
    if unknown:
        raise errors.InvalidParameterValueInvalidFilter(f"The filter names {unknown} are not supported.")
    return found


def check_region_name(region: str | None) -> None:
    if region is not None and region not in REGIONS:
        raise errors.InvalidParameter(f"The LoadBalancerRegion `{region}` is not a region of CLB.")


async def account_load_balancers(services: Services, app_id: int, region: str | None) -> list[LoadBalancer]:
    """The account's live CLBs in ``region``, or in every region when None."""
    everything = await services.read(services.store.all_load_balancers)
    return [lb for lb in everything if lb.app_id == app_id and lb.state is not ProvisioningState.PENDING_DELETE
            and (region is None or lb.region == region)]


def bytes_out(stats: dict[str, dict[str, dict]], lb_id: str) -> int:
    return sum(int(counters.get("bytes_out", 0)) for counters in stats.get(lb_id, {}).values())


def mean_mbps(sent: int, lb: LoadBalancer, now: datetime) -> float:
    seconds = max((now - parse_time(lb.created_at)).total_seconds(), 1.0)
    return sent * 8 / 1_000_000 / seconds


async def describe_load_balancer_traffic(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    region = params.get("load_balancer_region")
    check_region_name(region)
    lbs = await account_load_balancers(services, ctx.app_id, region)
    stats = await services.worker.stats()
    sent = {lb.id: bytes_out(stats, lb.id) for lb in lbs}
    ranked = sorted((lb for lb in lbs if sent[lb.id] > 0), key=lambda lb: sent[lb.id], reverse=True)[:TOP_TRAFFIC]
    now = datetime.now(BEIJING)
    return {"LoadBalancerTraffic": [views.traffic(lb, mean_mbps(sent[lb.id], lb, now)) for lb in ranked]}


async def describe_load_balancer_overview(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """Counts of the region: all, running (Status 1), isolated (expired terms), expiring within seven days."""
    lbs = await account_load_balancers(services, ctx.app_id, ctx.region)
    now = datetime.now(BEIJING)
    terms = [term for term in (PrepaidTerm.of(lb) for lb in lbs) if term is not None]
    return {"TotalCount": len(lbs), "RunningCount": sum(1 for lb in lbs if lb.status == 1),
            "IsolationCount": sum(1 for t in terms if t.expired(now)),
            "WillExpireCount": sum(1 for t in terms if t.will_expire(now))}


async def idle_reason(services: Services, lb: LoadBalancer) -> str | None:
    listeners = await services.read(services.store.listeners_of, lb.id)
    live = [l for l in listeners if l.state is not ProvisioningState.PENDING_DELETE]
    rules_of = await services.read(services.store.rules_of, lb.id)
    with_rules = {r.listener_id for r in rules_of}
    if not any(l.protocol not in L7 or l.id in with_rules for l in live):
        return "NO_RULES"
    if not await services.read(services.store.targets_of, lb.id):
        return "NO_RS"
    return None


async def describe_idle_load_balancers(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    offset, limit = check_page(params)
    region = params.get("load_balancer_region")
    check_region_name(region)
    idle = []
    for lb in sorted(await account_load_balancers(services, ctx.app_id, region), key=lambda lb: lb.created_at):
        reason = None if PrepaidTerm.of(lb) is not None else await idle_reason(services, lb)
        if reason is not None:
            idle.append(views.idle(lb, reason))
    return {"IdleLoadBalancers": idle[offset:offset + limit], "TotalCount": len(idle)}


async def describe_resources(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The zones of the request's region with each ISP a CLB can take there (INTERNAL for private CLBs)."""
    offset, limit = check_page(params)
    filters = check_filters(params.get("filters"), RESOURCE_FILTERS)
    found = [
        views.zone_resource(ctx.region, zone, isp)
        for zone in zones_of(ctx.region) for isp in (*isps_of(ctx.region), "INTERNAL")
        if zone in filters.get("master-zone", [zone]) and isp in filters.get("isp", [isp])
        and "IPv4" in filters.get("ip-version", ["IPv4"])
    ]
    return {"ZoneResourceSet": found[offset:offset + limit], "TotalCount": len(found)}


async def describe_lb_operate_protect(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    lb_ids = list(dict.fromkeys(params["load_balancer_ids"]))
    if not 1 <= len(lb_ids) <= MAX_PROTECT_IDS:
        raise errors.InvalidParameterValueLength(f"Between 1 and {MAX_PROTECT_IDS} `LoadBalancerIds` must be given.")
    for lb_id in lb_ids:
        await require_load_balancer(services, ctx, lb_id)
    return {"LoadBalancerSet": [views.operate_protect(lb_id) for lb_id in lb_ids]}


async def describe_cross_targets(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_page(params)
    check_filters(params.get("filters"), CROSS_TARGET_FILTERS)
    return {"TotalCount": 0, "CrossTargetSet": []}
