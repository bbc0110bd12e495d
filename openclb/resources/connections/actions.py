"""DescribeTargetConnections: how many connections each real server of the account's CLBs has.

The CLB API reports connection counts only through Cloud Monitor, which openclb does not serve;
this admin action (service ``openclb``) gives the console and test suites the engine's live
counters for the calling account's CLBs, read through the worker like DescribeTargetHealth. CLBs
of other accounts and ids that do not exist are left out, as DescribeTargetHealth leaves them.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.resources.connections import views
from openclb.resources.shared.services import Services

MAX_LOAD_BALANCERS = 30


async def describe_target_connections(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb_ids = list(dict.fromkeys(params["load_balancer_ids"]))
    if not 1 <= len(lb_ids) <= MAX_LOAD_BALANCERS:
        raise errors.InvalidParameterValueLength(f"Between 1 and {MAX_LOAD_BALANCERS} `LoadBalancerIds` must be given.")
    owned = [lb_id for lb_id in lb_ids
             if await services.read(services.store.get_load_balancer, ctx.scope, lb_id) is not None]
    stats = await services.worker.stats() if owned else {}
    return {"Targets": [row for lb_id in owned for row in views.target_connections(lb_id, stats.get(lb_id, {}))]}
