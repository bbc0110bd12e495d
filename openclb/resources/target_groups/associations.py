"""AssociateTargetGroups and DisassociateTargetGroups: groups bound to listeners and rules.

One call is one task over every CLB it names (TaskId = RequestId): each of them is busy until
the engine forwards the listener or rule to the group's instances (or, unbound, to none: a
TCP listener then refuses connections, an HTTP rule answers 503, as with no targets).
AssociateTargetGroups' restrictions (its document): a layer-4 listener takes a (v1) group
only if created with TargetType TARGETGROUP; layer 7 binds a rule (LocationId required),
whose TargetType is TARGETGROUP; the CLB's VPC (TargetRegionInfo.VpcId) must be the group's;
a listener or rule takes one group.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import TaskKind
from openclb.domain.target_groups import TargetGroupAssociation
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared.clock import sortable_now
from openclb.resources.shared.services import Services
from openclb.resources.target_groups import checks, queries
from openclb.resources.target_groups.lookups import CLB, place, scope_groups

WIRE = "Associations"


async def associate_target_groups(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    items = params["associations"]
    checks.check_ids(WIRE, items)
    groups = await scope_groups(services, ctx)
    cache: dict[str, CLB] = {}
    new = []
    for index, item in enumerate(items):
        group = checks.require_group(groups, item["target_group_id"])
        lb, listener, rule = await place(services, ctx, cache, item, f"{WIRE}.{index}")
        checks.check_vpc_matches(group, LoadBalancerSettings.of(lb).vpc_id, lb.id)
        checks.bound_place(listener, rule, item.get("location_id"))
        checks.check_number(f"{WIRE}.{index}.Weight", item.get("weight"), 0, 100)
        new.append(TargetGroupAssociation(group.id, lb.id, listener.id, rule.id if rule else "", item.get("weight"),
                                          sortable_now()))
    existing = await services.read(queries.associations_at, services.store, [x.bound_to for x in new])
    checks.check_not_bound(new, existing)
    try:
        await services.start_task(ctx, TaskKind.RECONCILE_TARGETS, sorted({x.lb_id for x in new}),
                                  lambda task: queries.associate(services.store, ctx.scope, new, task))
    except queries.AlreadyBound:
        raise errors.FailedOperation("A listener or rule of the request took a target group meanwhile.") from None
    except queries.GroupGone as exc:
        raise errors.InvalidParameter(f"The target group {exc.args[0]} does not exist.") from None
    return {}


async def disassociate_target_groups(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    items = params["associations"]
    checks.check_ids(WIRE, items)
    groups = await scope_groups(services, ctx)
    wanted = []
    for index, item in enumerate(items):
        checks.require_group(groups, item["target_group_id"])
        if not item.get("listener_id"):
            raise errors.MissingParameter(f"The request is missing a required parameter `{WIRE}.{index}.ListenerId`.")
        wanted.append((item, (item["listener_id"], item.get("location_id") or "")))
    existing = await services.read(queries.associations_at, services.store, [where for _, where in wanted])
    found = []
    for item, where in wanted:
        association = existing.get(where)
        if association is None or (association.target_group_id, association.lb_id) != (
                item["target_group_id"], item["load_balancer_id"]):
            raise errors.InvalidParameter(
                f"The target group {item['target_group_id']} is not associated with listener {where[0]}"
                f"{' rule ' + where[1] if where[1] else ''} of {item['load_balancer_id']}.")
        found.append(association)
    unique = list({x.bound_to: x for x in found}.values())
    await services.start_task(ctx, TaskKind.RECONCILE_TARGETS, sorted({x.lb_id for x in unique}),
                              lambda task: queries.disassociate(services.store, ctx.scope, unique, task))
    return {}
