"""ModifyLoadBalancerSla and ModifyLoadBalancersProject: a CLB's specification and project, kept and shown back.

openclb runs no LCU billing and no projects: the SlaType and ProjectId are kept in the CLB's
settings, shown by DescribeLoadBalancers (``SlaType``, ``ProjectId``) and matched by its filters.
Each call is one task over the CLBs it names, as the provider's task polling expects.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import TaskKind
from openclb.resources.load_balancers import queries
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared import checks as rules
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services

# SlaUpdateParam.SlaType: "Specification of the LCU-supported instance. Valid values" (clb 2018-03-17).
LCU_SLA_TYPES = ("clb.c2.medium", "clb.c3.small", "clb.c3.medium", "clb.c4.small", "clb.c4.medium",
                 "clb.c4.large", "clb.c4.xlarge")
MAX_LOAD_BALANCERS = 20


async def modify_load_balancer_sla(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Every named CLB takes its LCU specification; a shared CLB cannot go back to shared."""
    wanted = params["load_balancer_sla"]
    check_count("LoadBalancerSla", len(wanted))
    check_distinct([item["load_balancer_id"] for item in wanted], "LoadBalancerSla.LoadBalancerId")
    changes = {}
    for index, item in enumerate(wanted):
        rules.check_enum(f"LoadBalancerSla.{index}.SlaType", item["sla_type"], LCU_SLA_TYPES)
        lb = await require_load_balancer(services, ctx, item["load_balancer_id"])
        settings = LoadBalancerSettings.of(lb).merged({"sla_type": item["sla_type"]})
        changes[lb.id] = {"settings": settings.to_stored()}
    await _start(services, ctx, changes)
    return {"DealName": ""}


async def modify_load_balancers_project(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """Every named CLB moves to the project."""
    lb_ids = params["load_balancer_ids"]
    check_count("LoadBalancerIds", len(lb_ids))
    check_distinct(lb_ids, "LoadBalancerIds")
    changes = {}
    for lb_id in lb_ids:
        lb = await require_load_balancer(services, ctx, lb_id)
        changes[lb.id] = {"settings": LoadBalancerSettings.of(lb).merged({"project_id": params["project_id"]}).to_stored()}
    await _start(services, ctx, changes)
    return {}


def check_count(wire: str, count: int) -> None:
    """Between 1 and 20 CLBs a call ("the maximum length supported by the list is 20")."""
    if not 1 <= count <= MAX_LOAD_BALANCERS:
        raise errors.InvalidParameterValueLength(f"Between 1 and {MAX_LOAD_BALANCERS} `{wire}` must be given.")


def check_distinct(lb_ids: list[str], wire: str) -> None:
    if len(set(lb_ids)) != len(lb_ids):
        raise errors.InvalidParameterValueDuplicate(f"`{wire}` names a CLB twice.")


async def _start(services: Services, ctx: RequestContext, changes: dict[str, dict[str, Any]]) -> None:
    await services.start_task(
        ctx, TaskKind.MODIFY_LOAD_BALANCER, list(changes),
        lambda task: queries.modify_load_balancers(services.store, ctx.scope, changes, task),
    )
