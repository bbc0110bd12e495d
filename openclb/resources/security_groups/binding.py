"""clb SetLoadBalancerSecurityGroups and SetSecurityGroupForLoadbalancers: which groups a CLB enforces.

The bound groups live in the CLB's settings, in binding order (DescribeLoadBalancers shows
them as ``SecureGroups``). Binding is a task over the CLBs named: their listeners are applied
again with the groups' ingress policies (``policies.admission_rules``). Rules (CLB API
2018-03-17): SetLoadBalancerSecurityGroups has set semantics, at most 50 groups, none given
unbinds all; SetSecurityGroupForLoadbalancers binds (ADD) or unbinds (DEL) one group on at most
20 CLBs. A group must be one the account holds in the region.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import TaskKind
from openclb.resources.load_balancers import queries
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.security_groups.checks import check_group_id
from openclb.resources.shared import checks as rules
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services
from openclb.store import security_groups as reads

MAX_GROUPS_PER_LOAD_BALANCER = 50


async def _require_groups(services: Services, ctx: RequestContext, group_ids: list[str]) -> None:
    known = {g.id for g in await services.read(reads.in_scope, services.store, ctx.app_id, ctx.region)}
    for group_id in group_ids:
        check_group_id(group_id)
        if group_id not in known:
            raise errors.InvalidParameterValue(f"The security group {group_id} does not exist.")


async def _bind(services: Services, ctx: RequestContext, stored: dict[str, dict[str, Any]]) -> None:
    await services.start_task(
        ctx, TaskKind.SET_SECURITY_GROUPS, list(stored),
        lambda task: queries.modify_load_balancers(services.store, ctx.scope, stored, task))


async def set_load_balancer_security_groups(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    groups = list(dict.fromkeys(params.get("security_groups") or []))
    if len(groups) > MAX_GROUPS_PER_LOAD_BALANCER:
        raise errors.InvalidParameterValueLength(f"A CLB binds at most {MAX_GROUPS_PER_LOAD_BALANCER} security groups.")
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    await _require_groups(services, ctx, groups)
    settings = LoadBalancerSettings.of(lb).merged({"security_groups": groups})
    await _bind(services, ctx, {lb.id: {"settings": settings.to_stored()}})
    return {}


async def set_security_group_for_loadbalancers(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    group_id, operation = params["security_group"], params["operation_type"]
    rules.check_enum("OperationType", operation, ("ADD", "DEL"))
    lb_ids = list(dict.fromkeys(params["load_balancer_ids"]))
    if not 1 <= len(lb_ids) <= 20:
        raise errors.InvalidParameterValueLength("Between 1 and 20 `LoadBalancerIds` must be given.")
    await _require_groups(services, ctx, [group_id])
    stored = {}
    for lb_id in lb_ids:
        settings = LoadBalancerSettings.of(await require_load_balancer(services, ctx, lb_id))
        groups = [g for g in settings.security_groups if g != group_id]
        if operation == "ADD":
            groups = settings.security_groups if group_id in settings.security_groups else groups + [group_id]
            if len(groups) > MAX_GROUPS_PER_LOAD_BALANCER:
                raise errors.LimitExceeded(f"{lb_id} binds at most {MAX_GROUPS_PER_LOAD_BALANCER} security groups.")
        stored[lb_id] = {"settings": settings.merged({"security_groups": groups}).to_stored()}
    await _bind(services, ctx, stored)
    return {}
