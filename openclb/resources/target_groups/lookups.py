"""What the target-group handlers look up: the scope's groups, and where associations point.

``association_views`` names each association's CLB, listener and rule as DescribeListeners
does, reading each CLB once; an association whose listener is being deleted is not shown.
``places`` resolves an Associations item (LoadBalancerId, ListenerId, LocationId) to rows,
with the code clients match on for each missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import Listener, LoadBalancer, Rule
from openclb.domain.target_groups import TargetGroup, TargetGroupAssociation
from openclb.resources.shared.lookups import found_load_balancer
from openclb.resources.shared.services import Services
from openclb.resources.target_groups import queries, views

CLB = tuple[LoadBalancer | None, list[Listener], list[Rule]]


async def scope_groups(services: Services, ctx: RequestContext) -> dict[str, TargetGroup]:
    return {group.id: group for group in await services.read(queries.groups_in_scope, services.store, ctx.scope)}


async def load_balancer(services: Services, ctx: RequestContext, cache: dict[str, CLB], lb_id: str) -> CLB:
    """A CLB with its live listeners and its rules, read once per call."""
    if lb_id not in cache:
        cache[lb_id] = await services.read(services.store.load_balancer_listeners, ctx.scope, lb_id)
    return cache[lb_id]


async def place(
    services: Services, ctx: RequestContext, cache: dict[str, CLB], item: dict[str, Any], wire: str,
) -> tuple[LoadBalancer, Listener, Rule | None]:
    """The CLB, listener and (layer 7) rule an Associations item names: LBIdNotFound, ListenerIdNotFound, LocationNotFound."""
    if not item.get("listener_id"):
        raise errors.MissingParameter(f"The request is missing a required parameter `{wire}.ListenerId`.")
    lb, listeners, rules = await load_balancer(services, ctx, cache, item["load_balancer_id"])
    lb = found_load_balancer(lb, item["load_balancer_id"])
    listener = next((l for l in listeners if l.id == item["listener_id"]), None)
    if listener is None:
        raise errors.InvalidParameterListenerIdNotFound(
            f"some ListenerId ['{item['listener_id']}'] not found in LoadBalancer {lb.id}.")
    location_id = item.get("location_id")
    if not location_id:
        return lb, listener, None
    rule = next((r for r in rules if r.id == location_id and r.listener_id == listener.id), None)
    if rule is None:
        raise errors.InvalidParameterLocationNotFound(
            f"The forwarding rule {location_id} was not found on listener {listener.id}.")
    return lb, listener, rule


async def association_views(
    services: Services, ctx: RequestContext, associations: Sequence[TargetGroupAssociation],
) -> dict[str, list[dict[str, Any]]]:
    """Group id → its AssociationItems."""
    cache: dict[str, CLB] = {}
    shown: dict[str, list[dict[str, Any]]] = {}
    for item in associations:
        lb, listeners, rules = await load_balancer(services, ctx, cache, item.lb_id)
        listener = next((l for l in listeners if l.id == item.listener_id), None)
        rule = next((r for r in rules if r.id == item.location_id), None)
        if lb is None or listener is None or (item.location_id and rule is None):
            continue
        shown.setdefault(item.target_group_id, []).append(views.association(item, lb, listener, rule))
    return shown


async def check_target_type_change(
    services: Services, lb_id: str, listener_id: str, location_id: str, old: str, new: str,
) -> None:
    """ModifyListener / ModifyRule may switch TargetType only on a listener or rule that holds nothing:
    one bound to a target group is unbound first, one with real servers has them deregistered first
    (FailedOperation), so it never forwards to both."""
    if old == new:
        return
    if old == "TARGETGROUP":
        bound = await services.read(queries.associations_at, services.store, [(listener_id, location_id)])
        if bound:
            raise errors.FailedOperation(
                f"The {'rule ' + location_id if location_id else 'listener ' + listener_id} is bound to the target "
                f"group {bound[(listener_id, location_id)].target_group_id}: disassociate it before changing TargetType.")
        return
    targets = await services.read(services.store.targets_of, lb_id)
    if any(t.listener_id == listener_id and t.location_id == location_id for t in targets):
        raise errors.FailedOperation(
            f"The {'rule ' + location_id if location_id else 'listener ' + listener_id} has real servers: "
            "deregister them before changing TargetType to TARGETGROUP.")
