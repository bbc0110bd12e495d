"""Classic CLBs: the seven actions of the retired product, answered as for an account without any.

Classic CLBs can no longer be bought on the real service, and openclb never makes one, so
every account here has none. The reads that name no CLB answer their documented empty shapes;
every action that names a CLB id is refused the way the real API refuses an id that is not a
classic CLB of the account (``InvalidParameter``, "Invalid LoadBalancerId"): a CLB of the
current kind given where a classic one is expected is refused the same way (TencentCloud/
tencentcloud-sdk-go#135 shows the real answer to DescribeClassicalLBListeners with such an id).
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.resources.shared.services import Services

MAX_INSTANCE_IDS = 20
MAX_MIGRATE_IDS = 20


def not_classic(lb_id: str) -> errors.ApiError:
    """The real answer for an id that names no classic CLB of the account (modern, unknown or malformed)."""
    return errors.InvalidParameter(f"Invalid LoadBalancerId, LoadBalancerId: {lb_id}")


def check_count(name: str, values: list[Any], most: int) -> None:
    if not 1 <= len(values) <= most:
        raise errors.InvalidParameterValueLength(f"Between 1 and {most} `{name}` must be given.")


async def describe_classical_lb_by_instance_id(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """No real server is bound to a classic CLB: the documented empty list."""
    check_count("InstanceIds", params["instance_ids"], MAX_INSTANCE_IDS)
    return {"LoadBalancerInfoList": []}


async def refuse_named_classic_clb(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """DescribeClassicalLBHealthStatus/Listeners/Targets, Register/DeregisterTargets(With/From)ClassicalLB:
    each names one classic CLB by ``LoadBalancerId``, and there is none."""
    raise not_classic(params["load_balancer_id"])


async def migrate_classical_load_balancers(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """Moving classic CLBs to the current kind: there is none to move, so the first id is refused."""
    lb_ids = params["load_balancer_ids"]
    if not lb_ids:
        raise errors.MissingParameter("The request is missing a required parameter `LoadBalancerIds`.")
    if len(lb_ids) > MAX_MIGRATE_IDS:
        raise errors.InvalidParameterValue(f"At most {MAX_MIGRATE_IDS} `LoadBalancerIds` may be given.")
    raise not_classic(lb_ids[0])
