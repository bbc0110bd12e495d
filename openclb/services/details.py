"""DescribeLoadBalancersDetail: one row per listener (or per CLB without listeners)."""

from __future__ import annotations

from typing import Any

from openclb.api import errors
from openclb.domain.models import LoadBalancer, ProvisioningState
from openclb.services import rules, views
from openclb.services.context import RequestContext
from openclb.services.deps import Services


def _filter_value(lb: LoadBalancer, name: str) -> list[str]:
    tags = lb.settings.get("tags", [])
    values = {
        "loadbalancer-id": [lb.id],
        "vip": [lb.vip],
        "project-id": [str(lb.settings.get("project_id") or 0)],
        "vpcid": [lb.settings.get("vpc_id") or views.DEFAULT_VPC_ID],
        "network": ["Public" if lb.lb_type == "OPEN" else "Private"],
        "tag-key": [t.get("tag_key", "") for t in tags],
    }
    if name.startswith("tag:"):
        return [t.get("tag_value", "") for t in tags if t.get("tag_key") == name[4:]]
    if name not in values:
        raise errors.InvalidParameterInvalidFilter(f"The filter name `{name}` is not supported.")
    return values[name]


async def describe_load_balancers_detail(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    offset, limit = params.get("offset", 0), params.get("limit", 20)
    rules.check_range("Offset", offset, 0, 2**31)
    rules.check_range("Limit", limit, 0, 100)
    filters = params.get("filters") or []
    rows = []
    for lb in await services.db(services.store.list_load_balancers, ctx.scope):
        if lb.state is ProvisioningState.PENDING_DELETE:
            continue
        if not all(set(_filter_value(lb, f["name"])) & set(f["values"]) for f in filters):
            continue
        listeners = await services.db(services.store.list_listeners, ctx.scope, lb.id)
        rows.extend(views.load_balancer_detail(lb, l) for l in listeners or [None])
    return {"TotalCount": len(rows), "LoadBalancerDetailSet": rows[offset : offset + (limit or 20)]}
