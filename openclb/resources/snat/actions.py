"""SNAT IPs: CreateLoadBalancerSnatIps, DeleteLoadBalancerSnatIps (and CreateLoadBalancer's SnatIps).

A SnatPro CLB's connections to its targets leave from its SNAT IPs: the engine binds every
upstream socket (TCP, HTTP, UDP flows) to one of them, chosen per client, so a target sees a
SNAT address as the client. Adding SNAT IPs turns SnatPro on, as documented; both actions are
tasks, since they change the data plane.
"""

from __future__ import annotations

from typing import Any

from openclb.context import RequestContext
from openclb.domain.models import LoadBalancer, TaskKind
from openclb.resources.load_balancers import queries as lb_queries
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services
from openclb.resources.shared.vips import allocate_vips
from openclb.resources.snat import checks


async def planned_snat_ips(services: Services, requested: list[dict[str, Any]], number: int | None,
                           held: list[dict[str, str]]) -> list[dict[str, str]]:
    """The SNAT IPs a request adds: given addresses checked, the others allocated from the VIP pool."""
    given = [checks.check_address(item["ip"]) for item in requested if item.get("ip")]
    number = checks.check_number(number, bool(given))
    count = number if len(given) < len(requested) else 0
    checks.check_new(given, {s["ip"] for s in held})
    checks.check_quota(len(held), len(given) + count, services.settings.quotas.snat_ips)
    added = [{"subnet_id": item.get("subnet_id", ""), "ip": ip}
             for item, ip in zip([i for i in requested if i.get("ip")], given)]
    if count:
        subnet = next(item.get("subnet_id", "") for item in requested if not item.get("ip"))
        used = await services.read(services.store.used_vips) | {s["ip"] for s in held} | set(given)
        added += [{"subnet_id": subnet, "ip": ip} for ip in allocate_vips(services.settings.vip_pool, used, count, None)]
    return added


async def create_load_balancer_snat_ips(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    settings = LoadBalancerSettings.of(lb)
    added = await planned_snat_ips(services, params["snat_ips"], params.get("number"), settings.snat_ips)
    await _write(services, ctx, lb, settings.merged({"snat_ips": [*settings.snat_ips, *added], "snat_pro": True}))
    return {}


async def delete_load_balancer_snat_ips(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    settings = LoadBalancerSettings.of(lb)
    checks.check_deletable(params["ips"], {s["ip"] for s in settings.snat_ips})
    kept = [s for s in settings.snat_ips if s["ip"] not in set(params["ips"])]
    await _write(services, ctx, lb, settings.merged({"snat_ips": kept}))
    return {}


async def _write(services: Services, ctx: RequestContext, lb: LoadBalancer, settings: LoadBalancerSettings) -> None:
    await services.start_task(
        ctx, TaskKind.MODIFY_LOAD_BALANCER, [lb.id],
        lambda task: lb_queries.modify_load_balancer(services.store, ctx.scope, lb.id,
                                                     {"settings": settings.to_stored()}, task),
    )
