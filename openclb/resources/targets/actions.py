"""Real servers of a listener: register, deregister, reweight, move, describe, health.

A target is an address and a port. ``EniIp`` carries the address; an ``InstanceId`` is
accepted when the operator maps instance ids to addresses in ``<data-dir>/instances.json``
(refused otherwise, with a message that says how). Writes are tasks like every other; the
task reports 0 once the engine routes new connections by the new target set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from openclb import errors
from openclb.domain.models import Listener, Target, TaskKind
from openclb.domain.target_groups import TargetGroupAssociation, TargetGroupInstance
from openclb.resources.shared import checks as rules
from openclb.resources.targets import queries, views
from openclb.resources.shared.clock import sortable_now
from openclb.context import RequestContext
from openclb.resources.shared.lookups import require_listener
from openclb.resources.shared.services import Services
from openclb.resources.shared.lookups import require_load_balancer
from openclb.store.target_groups import group_targets_of
from openclb.store.transitions import QuotaReached

MAX_TARGETS_PER_CALL = 20
TAG_MAX_LENGTH = 255
L7 = ("HTTP", "HTTPS")


def target_address(services: Services, item: dict[str, Any], wire: str) -> tuple[str, str, str]:
    """(ip, type, instance id) of one Target: EniIp, or an InstanceId the operator mapped."""
    eni_ip, instance_id = item.get("eni_ip"), item.get("instance_id")
    if eni_ip and instance_id:
        raise errors.InvalidParameterCombination(f"`{wire}.InstanceId` and `{wire}.EniIp` cannot both be given.")
    if eni_ip:
        try:
            return str(ipaddress.ip_address(eni_ip)), "ENI", ""
        except ValueError as exc:
            raise errors.InvalidParameterValue(f"`{wire}.EniIp` {eni_ip!r} is not an IP address.") from exc
    if instance_id:
        address = services.settings.instance_addresses.get(instance_id)
        if address is None:
            raise errors.InvalidParameter(
                f"The instance {instance_id} has no known address: map it in "
                f"{services.settings.data_dir / 'instances.json'} as {{\"{instance_id}\": \"IP\"}}, or give EniIp."
            )
        return address, "CVM", instance_id
    raise errors.MissingParameter(f"The request is missing a required parameter `{wire}.EniIp` (or `{wire}.InstanceId`).")


def build_target(services: Services, listener: Listener, item: dict[str, Any], wire: str, location_id: str = "") -> Target:
    """A Target row from one request item: Port 1–65535, Weight 0–100 (default 10), Tag ≤ 255 characters."""
    rules.check_range(f"{wire}.Port", item["port"], 1, 65535)
    rules.check_range(f"{wire}.Weight", item.get("weight"), 0, 100)
    rules.check_free_text(f"{wire}.Tag", item.get("tag"), TAG_MAX_LENGTH)
    ip, kind, instance_id = target_address(services, item, wire)
    return Target(
        listener_id=listener.id, ip=ip, port=item["port"], lb_id=listener.lb_id,
        weight=item.get("weight", 10) if item.get("weight") is not None else 10,
        target_type=kind, instance_id=instance_id, tag=item.get("tag") or "",
        location_id=location_id, registered_at=sortable_now(),
    )


def check_no_duplicates(targets: Iterable[Target]) -> None:
    """One target (address and port) at most once per call: InvalidParameterValue.Duplicate."""
    keys = [t.key for t in targets]
    if len(keys) != len(set(keys)):
        raise errors.InvalidParameterValueDuplicate("The same target (address and port) is given more than once.")


async def rule_location(services: Services, listener: Listener, params: dict[str, Any]) -> str:
    """L4 targets hang on the listener; L7 targets on a rule (LocationId, or Domain + Url)."""
    if listener.protocol not in L7:
        return ""
    location_id, domain, url = params.get("location_id"), params.get("domain"), params.get("url")
    if not location_id and not (domain and url):
        raise errors.MissingParameter("HTTP/HTTPS listeners need `LocationId`, or `Domain` and `Url`.")
    for rule in await services.read(services.store.rules_of, listener.lb_id):
        if rule.listener_id != listener.id:
            continue
        if (location_id and rule.id == location_id) or (not location_id and domain in rule.domains and rule.url == url):
            return rule.id
    raise errors.InvalidParameterLocationNotFound(
        f"The forwarding rule {location_id or f'{domain}{url}'} was not found on listener {listener.id}."
    )


async def write_targets(
    services: Services, ctx: RequestContext, lb_id: str, upserts: list[Target], removals: list[Target]
) -> None:
    limit = services.settings.quotas.targets_per_listener
    try:
        await services.start_task(
            ctx, TaskKind.RECONCILE_TARGETS, [lb_id],
            lambda task: queries.change_targets(services.store, ctx.scope, lb_id, upserts, removals, task, limit),
        )
    except QuotaReached as exc:
        raise errors.LimitExceeded(f"A listener may have at most {limit} targets.") from exc


async def _prepare(services: Services, ctx: RequestContext, params: dict[str, Any]):
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    listener = await require_listener(services, ctx, lb.id, params["listener_id"])
    location_id = await rule_location(services, listener, params)
    items = params["targets"]
    if not 1 <= len(items) <= MAX_TARGETS_PER_CALL:
        raise errors.InvalidParameterValueLength(f"Between 1 and {MAX_TARGETS_PER_CALL} `Targets` must be given.")
    targets = [build_target(services, listener, item, f"Targets.{i}", location_id) for i, item in enumerate(items)]
    check_no_duplicates(targets)
    existing = {t.key: t for t in await services.read(services.store.targets_of, lb.id)}
    return lb, listener, targets, existing


def _require_registered(targets: list[Target], existing: dict) -> list[Target]:
    missing = [f"{t.ip}:{t.port}" for t in targets if t.key not in existing]
    if missing:
        raise errors.InvalidParameter(f"The targets {missing} are not registered on this listener (not found).")
    return [existing[t.key] for t in targets]


async def forwarding_to_groups(services: Services, ctx: RequestContext, lb_id: str) -> set[str]:
    """The ids of the CLB's listeners and rules created with TargetType TARGETGROUP (they take no targets)."""
    listeners = await services.read(services.store.list_listeners, ctx.scope, lb_id)
    rules = await services.read(services.store.rules_of, lb_id)
    return {item.id for item in [*listeners, *rules] if item.settings.get("target_type") == "TARGETGROUP"}


async def check_takes_targets(services: Services, ctx: RequestContext, listener: Listener, location_id: str) -> None:
    """A listener or rule created with TargetType TARGETGROUP forwards to its target group, never to targets."""
    if (location_id or listener.id) in await forwarding_to_groups(services, ctx, listener.lb_id):
        raise errors.FailedOperation(
            f"The {'rule ' + location_id if location_id else 'listener ' + listener.id} forwards to a target group "
            "(TargetType TARGETGROUP): register instances in the group (RegisterTargetGroupInstances).")


async def register_targets(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb, listener, targets, existing = await _prepare(services, ctx, params)
    await check_takes_targets(services, ctx, listener, targets[0].location_id)
    kept = [_keep_registration(t, existing.get(t.key)) for t in targets]
    await write_targets(services, ctx, lb.id, kept, [])
    return {}


def _keep_registration(target: Target, old: Target | None) -> Target:
    """Registering a target again updates it in place, keeping its registration time."""
    if old is None:
        return target
    return Target(**{**target.__dict__, "registered_at": old.registered_at})


async def deregister_targets(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb, _, targets, existing = await _prepare(services, ctx, params)
    await write_targets(services, ctx, lb.id, [], _require_registered(targets, existing))
    return {}


async def modify_target_weight(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A target's own Weight wins; otherwise the request's Weight (default 10) applies."""
    rules.check_range("Weight", params.get("weight"), 0, 100)
    lb, _, targets, existing = await _prepare(services, ctx, params)
    registered = _require_registered(targets, existing)
    default = params.get("weight", 10) if params.get("weight") is not None else 10
    updated = [
        Target(**{**old.__dict__, "weight": item.get("weight") if item.get("weight") is not None else default})
        for old, item in zip(registered, params["targets"])
    ]
    await write_targets(services, ctx, lb.id, updated, [])
    return {}


async def modify_target_port(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rules.check_range("NewPort", params["new_port"], 1, 65535)
    lb, _, targets, existing = await _prepare(services, ctx, params)
    registered = _require_registered(targets, existing)
    moved = [Target(**{**old.__dict__, "port": params["new_port"]}) for old in registered]
    check_no_duplicates(moved)
    if any(t.key in existing and t not in registered for t in moved):
        raise errors.InvalidParameterValueDuplicate(f"A target is already registered on port {params['new_port']}.")
    await write_targets(services, ctx, lb.id, moved, registered)
    return {}


async def describe_targets(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    listener_ids = params.get("listener_ids") or []
    if len(listener_ids) > 20:
        raise errors.InvalidParameterValueLength("At most 20 `ListenerIds` may be given.")
    filters = {f["name"]: f["values"] for f in params.get("filters") or []}
    unknown = set(filters) - {"location-id", "private-ip-address", "tag"}
    if unknown:
        raise errors.InvalidParameterValueInvalidFilter(f"The filter names {sorted(unknown)} are not supported.")
    listeners = [
        l for l in await services.read(services.store.list_listeners, ctx.scope, lb.id)
        if (not listener_ids or l.id in listener_ids)
        and params.get("protocol") in (None, l.protocol)
        and params.get("port") in (None, l.port)
    ]
    targets = [
        t for t in await services.read(services.store.targets_of, lb.id)
        if ("private-ip-address" not in filters or t.ip in filters["private-ip-address"])
        and ("tag" not in filters or t.tag in filters["tag"])
        and ("location-id" not in filters or t.location_id in filters["location-id"])
    ]
    rules = await services.read(services.store.rules_of, lb.id)
    if "location-id" in filters:
        rules = [r for r in rules if r.id in filters["location-id"]]
    return {"Listeners": [
        views.listener_backend(l, [t for t in targets if t.listener_id == l.id], [r for r in rules if r.listener_id == l.id])
        for l in listeners
    ]}


def group_instance_targets(
    associations: Iterable[TargetGroupAssociation], instances: Iterable[TargetGroupInstance],
) -> dict[Target, str]:
    """The instances of the target groups bound to a CLB's listeners and rules, as their targets → group id."""
    by_group: dict[str, list[TargetGroupInstance]] = {}
    for instance in instances:
        by_group.setdefault(instance.target_group_id, []).append(instance)
    return {
        Target(listener_id=a.listener_id, ip=i.ip, port=i.port, lb_id=a.lb_id, weight=i.weight,
               location_id=a.location_id, registered_at=i.registered_at): a.target_group_id
        for a in associations for i in by_group.get(a.target_group_id, ())
    }


async def describe_target_health(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb_ids = params["load_balancer_ids"]
    if not 1 <= len(lb_ids) <= 30:
        raise errors.InvalidParameterValueLength("Between 1 and 30 `LoadBalancerIds` must be given.")
    listener_ids = frozenset(params.get("listener_ids") or ())
    report = []
    for lb_id in dict.fromkeys(lb_ids):
        lb = await services.read(services.store.get_load_balancer, ctx.scope, lb_id)
        if lb is None:
            continue
        live = {(h.listener_id, h.ip, h.port): h for h in await services.worker.health(lb.id)}
        listeners = [
            l for l in await services.read(services.store.list_listeners, ctx.scope, lb.id)
            if not listener_ids or l.id in listener_ids
        ]
        targets = await services.read(services.store.targets_of, lb.id)
        grouped = group_instance_targets(*await services.read(group_targets_of, services.store, lb.id))
        rules = await services.read(services.store.rules_of, lb.id)
        location_ids = frozenset(params.get("location_ids") or ())
        if location_ids:
            rules = [r for r in rules if r.id in location_ids]
        report.append(views.load_balancer_health(lb, listeners, [*targets, *grouped], live, rules,
                                                 {t.key: group_id for t, group_id in grouped.items()}))
    return {"LoadBalancers": report}
