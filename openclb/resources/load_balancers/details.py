"""DescribeLoadBalancersDetail: one row per target, per listener without targets, or per CLB
without listeners ("CLB details including listeners, rules and backend targets").

``Fields`` narrows which members carry values (the rest come back null; the id and the name
always do). Filters are those the spec documents; an unknown filter name is refused with
InvalidParameterValue.InvalidFilter, the code the SDK lists for this action.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.domain.models import Listener, LoadBalancer, ProvisioningState, Target
from openclb.resources.load_balancers import views
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared import checks as rules
from openclb.context import RequestContext
from openclb.resources.shared.services import Services


def _filter_matches(lb: LoadBalancer, targets: list[Target], name: str, values: list[str]) -> bool:
    settings = LoadBalancerSettings.of(lb)
    tags = settings.tags
    if name.startswith("tag:"):
        return any(t.get("tag_key") == name[4:] and t.get("tag_value") in values for t in tags)
    if name == "fuzzy-search":
        return any(v in lb.vip or v in lb.name for v in values)
    candidates = {
        "loadbalancer-id": [lb.id],
        "vip": [lb.vip],
        "project-id": [str(settings.project_id)],
        "vpcid": [settings.vpc_id],
        "network": ["Public" if lb.lb_type == "OPEN" else "Private"],
        "zone": [views.zone_info(lb.region)["Zone"]],
        "tag-key": [t.get("tag_key", "") for t in tags],
        "target-ip": [t.ip for t in targets],
    }
    if name not in candidates:
        raise errors.InvalidParameterValueInvalidFilter(f"The filter name `{name}` is not supported.")
    return bool(set(candidates[name]) & set(values))


def _rows(
    lb: LoadBalancer, listeners: list[Listener], targets: list[Target], fields: frozenset[str] | None
) -> list[dict[str, Any]]:
    if not listeners:
        return [views.load_balancer_detail(lb, None, None, fields)]
    rows = []
    for listener in listeners:
        own = [t for t in targets if t.listener_id == listener.id] or [None]
        rows.extend(views.load_balancer_detail(lb, listener, t, fields) for t in own)
    return rows


async def describe_load_balancers_detail(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    offset, limit = params.get("offset", 0), params.get("limit", 20)
    rules.check_range("Offset", offset, 0, 2**31)
    rules.check_range("Limit", limit, 0, 100)
    if params.get("target_type") is not None:
        rules.check_enum("TargetType", params["target_type"], ("NODE", "GROUP"))
    fields = frozenset(params["fields"]) if params.get("fields") else None
    filters = params.get("filters") or []
    rows = []
    for lb in await services.read(services.store.list_load_balancers, ctx.scope):
        if lb.state is ProvisioningState.PENDING_DELETE:
            continue
        targets = await services.read(services.store.targets_of, lb.id)
        if not all(_filter_matches(lb, targets, f["name"], f["values"]) for f in filters):
            continue
        listeners = await services.read(services.store.list_listeners, ctx.scope, lb.id)
        rows.extend(_rows(lb, listeners, targets, fields))
    return {"TotalCount": len(rows), "LoadBalancerDetailSet": rows[offset : offset + (limit or 20)]}
