"""CLB instance actions: create, describe, modify, delete.

Every CLB gets its own VIP from the configured pool (loopback by default, so two CLBs can
both listen on port 80). Reading the free VIPs and committing the new rows take turns within
the process (``Services.vip_allocation``); a VIP another process takes at the same moment is
caught by the database's unique constraint and the allocation retried. Creation and
deletion are tasks like every other write; DescribeTaskStatus(TaskId) returns the new ids in
LoadBalancerIds, which Terraform reads.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.domain.models import LoadBalancer, ProvisioningState, Task, TaskKind
from openclb.resources.load_balancers.terms import creation_terms
from openclb.resources.load_balancers import queries, views
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared import checks as rules, ids
from openclb.resources.shared.clock import sortable_now
from openclb.context import RequestContext
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.vips import allocate_vips
from openclb.resources.shared.services import Services
from openclb.resources.access_logs.actions import access_log_binding
from openclb.resources.snat import checks as snat_checks
from openclb.resources.snat.actions import planned_snat_ips
from openclb.store.store import VipTaken

_VIP_ATTEMPTS = 5


async def create_load_balancer(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb_type = params["load_balancer_type"]
    rules.check_enum("LoadBalancerType", lb_type, ("OPEN", "INTERNAL"))
    rules.check_range("Forward", params.get("forward"), 1, 1)
    rules.check_name("LoadBalancerName", params.get("load_balancer_name"))
    check_distinct_tag_keys(params.get("tags") or [])
    number = params.get("number", 1)
    rules.check_range("Number", number, 1, 20)
    if params.get("vip") is not None and number != 1:
        raise errors.InvalidParameterCombination("`Vip` can only be given when creating one load balancer.")
    quota = services.settings.quotas.open_clb_per_region if lb_type == "OPEN" else services.settings.quotas.internal_clb_per_region
    terms = creation_terms(params)
    settings = LoadBalancerSettings.from_request(params).merged(terms).merged(
        {"address_ip_version": address_ip_version(params.get("address_ip_version"), lb_type)})
    if params.get("access_log_topic_id"):
        settings = settings.merged(await access_log_binding(services, ctx, params["access_log_topic_id"]))
    if params.get("snat_ips"):
        snat_checks.check_snat_pro(params.get("snat_pro"))
        settings = settings.merged({"snat_ips": await planned_snat_ips(services, params["snat_ips"], None, [])})
    settings = settings.to_stored()
    async with services.vip_allocation:
        existing = await services.read(services.store.count_load_balancers, ctx.scope, lb_type)
        if existing + number > quota:
            raise errors.LimitExceeded(
                f"The quota of {quota} {lb_type} load balancers in {ctx.region} would be exceeded."
            )
        task = await _insert_with_free_vips(services, ctx, params, lb_type, number, settings)
    await services.hand_over(task)
    return {"LoadBalancerIds": list(task.lb_ids), "DealName": ""}


async def _insert_with_free_vips(
    services: Services, ctx: RequestContext, params: dict[str, Any], lb_type: str, number: int, settings: dict
) -> Task:
    """Commit new CLB rows on free VIPs with their task; retried when another process took a VIP."""
    for _ in range(_VIP_ATTEMPTS):
        used = await services.read(services.store.used_vips)
        pool = services.settings.vip6_pool if LoadBalancerSettings.from_stored(settings).ipv6 else services.settings.vip_pool
        vips = allocate_vips(pool, used, number, params.get("vip"))
        created = sortable_now()
        lbs = [
            LoadBalancer(
                id=ids.load_balancer_id(),
                app_id=ctx.app_id,
                region=ctx.region,
                name=params.get("load_balancer_name") or default_name(created, index),
                lb_type=lb_type,
                vip=vip,
                status=0,
                state=ProvisioningState.PENDING_CREATE,
                created_at=created,
                busy_task_id=ctx.request_id,
                settings=settings,
            )
            for index, vip in enumerate(vips)
        ]
        try:
            return await services.commit_task(
                ctx, TaskKind.CREATE_LOAD_BALANCER, [lb.id for lb in lbs],
                lambda task: services.store.insert_load_balancers(lbs, task),
            )
        except VipTaken:
            continue
    raise errors.ResourceInsufficient("Could not allocate a VIP; please retry.")


def check_distinct_tag_keys(tags: list[dict[str, Any]]) -> None:
    """A resource has one value per tag key (the tag service's rule): a key given twice is refused."""
    keys = [tag["tag_key"] for tag in tags]
    if len(set(keys)) != len(keys):
        raise errors.InvalidParameterValueDuplicate("`Tags` gives a tag key twice.")


def address_ip_version(value: str | None, lb_type: str) -> str:
    """AddressIPVersion: IPV4 (default), IPV6 or IPv6FullChain, case-insensitive; IPv6 for public CLBs only."""
    spelled = {"IPV4": "IPv4", "IPV6": "IPv6", "IPV6FULLCHAIN": "IPv6FullChain"}
    chosen = spelled.get((value or "IPV4").upper())
    if chosen is None:
        raise errors.InvalidParameterValue(
            f"The value `{value}` of parameter `AddressIPVersion` is invalid; valid values: IPV4, IPV6, IPv6FullChain.")
    if chosen != "IPv4" and lb_type != "OPEN":
        raise errors.InvalidParameterValue("`AddressIPVersion` IPV6 and IPv6FullChain apply to OPEN load balancers only.")
    return chosen

def default_name(created: str, index: int) -> str:
    """The real service names unnamed CLBs after their creation time."""
    stamp = created[:19].replace("-", "").replace(" ", "").replace(":", "")
    return f"CLB-{stamp}{index or ''}"


def _matches(lb: LoadBalancer, params: dict[str, Any]) -> bool:
    """DescribeLoadBalancers filters: exact ids/VIPs/type, fuzzy name/domain/search key."""
    if lb.state is ProvisioningState.PENDING_DELETE:
        return False
    view = None
    checks = (
        ("load_balancer_ids", lambda v: lb.id in v),
        ("load_balancer_type", lambda v: lb.lb_type == v),
        ("forward", lambda v: v in (1, -1)),
        ("load_balancer_name", lambda v: v in lb.name),
        ("load_balancer_vips", lambda v: lb.vip in v),
        ("project_id", lambda v: int(LoadBalancerSettings.of(lb).project_id) == v),
        ("vpc_id", lambda v: LoadBalancerSettings.of(lb).vpc_id == v),
        ("search_key", lambda v: v in lb.name or v in lb.vip or v in lb.id),
        ("domain", lambda v: False),
        ("security_group", lambda v: v in LoadBalancerSettings.of(lb).security_groups),
    )
    for key, test in checks:
        value = params.get(key)
        if value is not None and value != [] and not test(value):
            return False
    for flt in params.get("filters") or []:
        view = view or views.load_balancer(lb)
        if not _filter_matches(lb, view, flt["name"], flt["values"]):
            return False
    return True


def _filter_matches(lb: LoadBalancer, view: dict[str, Any], name: str, values: list[str]) -> bool:
    tags = LoadBalancerSettings.of(lb).tag_map()
    if name == "tag-key":
        return any(v in tags for v in values)
    if name.startswith("tag:"):
        return tags.get(name[4:]) in values
    simple = {
        "charge-type": view["ChargeType"],
        "internet-charge-type": view["NetworkAttributes"]["InternetChargeType"],
        "master-zone-id": str(view["MasterZone"]["ZoneId"]),
        "vip-isp": view["VipIsp"],
        "sla-type": view["SlaType"],
        "exclusive": str(view["Exclusive"]),
        "function-name": "",
    }
    if name not in simple:
        raise errors.InvalidParameterValueInvalidFilter(f"The filter name `{name}` is not supported.")
    return simple[name] in values


async def describe_load_balancers(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    offset, limit = params.get("offset", 0), params.get("limit", 20)
    rules.check_range("Offset", offset, 0, 2**31)
    rules.check_range("Limit", limit, 0, 100)
    if len(params.get("load_balancer_ids") or []) > 20:
        raise errors.InvalidParameterValueLength("At most 20 `LoadBalancerIds` may be given.")
    order_by = params.get("order_by", "CreateTime")
    rules.check_enum("OrderBy", order_by, ("LoadBalancerName", "CreateTime", "Domain", "LoadBalancerType"))
    everything = await services.read(services.store.list_load_balancers, ctx.scope)
    found = [lb for lb in everything if _matches(lb, params)]
    sort_key = {"LoadBalancerName": lambda lb: lb.name, "LoadBalancerType": lambda lb: lb.lb_type}.get(
        order_by, lambda lb: lb.created_at
    )
    found.sort(key=sort_key, reverse=params.get("order_type", 1) == 1)
    page = found[offset : offset + (limit or 20)]
    return {"TotalCount": len(found), "LoadBalancerSet": [views.load_balancer(lb) for lb in page]}


async def delete_load_balancer(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb_ids = list(dict.fromkeys(params["load_balancer_ids"]))
    if not 1 <= len(lb_ids) <= 20:
        raise errors.InvalidParameterValueLength("Between 1 and 20 `LoadBalancerIds` must be given.")
    for lb_id in lb_ids:
        lb = await require_load_balancer(services, ctx, lb_id)
        if lb.delete_protect:
            raise errors.FailedOperation(f"The LoadBalancer {lb_id} has delete protection enabled.")
    await services.start_task(
        ctx, TaskKind.DELETE_LOAD_BALANCER, lb_ids,
        lambda task: queries.mark_load_balancers_deleted(services.store, ctx.scope, lb_ids, task),
    )
    return {}


async def modify_load_balancer_attributes(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    rules.check_name("LoadBalancerName", params.get("load_balancer_name"))
    changes: dict[str, Any] = {}
    if params.get("load_balancer_name") is not None:
        changes["name"] = params["load_balancer_name"]
    if params.get("delete_protect") is not None:
        changes["delete_protect"] = params["delete_protect"]
    kept = {k: params[k] for k in ("load_balancer_pass_to_target", "snat_pro") if params.get(k) is not None}
    if kept:
        changes["settings"] = LoadBalancerSettings.of(lb).merged(kept).to_stored()
    if not changes:
        # Nothing to change still answers with a task, as the real API does; the store needs
        # at least one column to write, so the name is written back unchanged.
        changes["name"] = lb.name
    await services.start_task(
        ctx, TaskKind.MODIFY_LOAD_BALANCER, [lb.id],
        lambda task: queries.modify_load_balancer(services.store, ctx.scope, lb.id, changes, task),
    )
    return {"DealName": ""}
