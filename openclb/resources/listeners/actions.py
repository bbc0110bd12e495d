"""Listener actions: CreateListener, DescribeListeners, ModifyListener, DeleteListener,
DeleteLoadBalancerListeners.

Handlers check the domain rules, then write the listener rows (PENDING_*) and their task in
one transaction. Port clashes are caught by the store's unique constraint on
(CLB, port class, port), so concurrent calls cannot both win; the worker binds the ports
and settles the task.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openclb import errors
from openclb.domain.models import Listener, ProvisioningState, TaskKind
from openclb.resources.listeners import checks as listener_rules
from openclb.resources.listeners import queries, views
from openclb.resources.listeners.settings import ListenerSettings
from openclb.resources.shared import ids
from openclb.resources.certificates.checks import CertificatePlan
from openclb.resources.shared.clock import sortable_now
from openclb.context import RequestContext
from openclb.resources.shared.services import Services
from openclb.resources.shared.lookups import found_load_balancer, require_load_balancer
from openclb.store.transitions import PortTaken, QuotaReached
from openclb.resources.target_groups.lookups import check_target_type_change
from openclb.resources.target_groups.views import with_bound_group
from openclb.store.target_groups import bound_groups_of

async def create_listener(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    protocol, ports = params["protocol"], params["ports"]
    end_port = listener_rules.check_create_listener(params, services.settings.max_port_range)
    plan = CertificatePlan(ctx.app_id, services.store.get_certificate, services.keys)
    certificate = await services.db(listener_rules.resolve_certificate, plan, params, protocol)
    settings = replace(ListenerSettings.from_request(params), certificate=certificate).to_stored()
    names = params.get("listener_names") or [""] * len(ports)
    created = sortable_now()
    listeners = [
        Listener(
            id=ids.listener_id(), app_id=ctx.app_id, region=ctx.region, lb_id=lb.id, protocol=protocol,
            port=port, end_port=end_port, name=name, state=ProvisioningState.PENDING_CREATE,
            created_at=created, settings=settings, pending_task_id=ctx.request_id,
        )
        for port, name in zip(ports, names)
    ]
    quota = services.settings.quotas.listeners_per_clb
    try:
        await services.start_task(
            ctx, TaskKind.RECONCILE_LISTENERS, [lb.id],
            lambda task: queries.add_listeners(services.store, ctx.scope, lb.id, listeners, task, quota, plan.uploads),
        )
    except PortTaken as exc:
        raise errors.InvalidParameterPortCheckFailed(
            f"Port {', '.join(map(str, ports))} conflicts with an existing listener of {lb.id} "
            "(TCP, TCP_SSL, HTTP and HTTPS share one port space; UDP and QUIC another)."
        ) from exc
    except QuotaReached as exc:
        raise errors.LimitExceeded(
            f"The LoadBalancer {lb.id} has {exc.existing} listeners; the quota is {quota}."
        ) from exc
    return {"ListenerIds": [l.id for l in listeners]}


async def describe_listeners(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb, listeners, rules = await services.read(
        services.store.load_balancer_listeners, ctx.scope, params["load_balancer_id"]
    )
    found_load_balancer(lb, params["load_balancer_id"])
    listener_ids = params.get("listener_ids")
    if listener_ids is not None and len(listener_ids) > 100:
        raise errors.InvalidParameterValueLength("At most 100 `ListenerIds` may be given.")
    listener_rules.check_describe_filters(params)
    protocol, port = params.get("protocol"), params.get("port")
    found = [
        listener
        for listener in listeners
        if (not listener_ids or listener.id in listener_ids)
        and protocol in (None, listener.protocol)
        and (port is None or port in listener.ports)
    ]
    rules_by_listener: dict[str, list] = {}
    for rule in rules:
        rules_by_listener.setdefault(rule.listener_id, []).append(rule)
    shown = [views.listener(l, rules_by_listener.get(l.id, [])) for l in found]
    if any(item.settings.get("target_type") == "TARGETGROUP" for item in [*found, *rules]):
        bound = await services.read(bound_groups_of, services.store, lb.id)
        shown = [with_bound_group(view, bound) for view in shown]
    return {"Listeners": shown, "TotalCount": len(found)}


async def _require_listeners(
    services: Services, ctx: RequestContext, lb_id: str, listener_ids: list[str]
) -> list[Listener]:
    existing = {l.id: l for l in await services.read(services.store.list_listeners, ctx.scope, lb_id)}
    missing = [lid for lid in listener_ids if lid not in existing]
    if missing:
        raise errors.InvalidParameter(f"some ListenerId {missing} not found in LoadBalancer {lb_id}.")
    return [existing[lid] for lid in listener_ids]


async def modify_listener(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    (listener,) = await _require_listeners(services, ctx, lb.id, [params["listener_id"]])
    current = ListenerSettings.of(listener)
    settings = current.merged(current.changes_in(params))
    listener_rules.check_modify_listener(listener, params, settings)
    await check_target_type_change(services, lb.id, listener.id, "", current.target_type, settings.target_type)
    plan = CertificatePlan(ctx.app_id, services.store.get_certificate, services.keys)
    if params.get("certificate") is not None or params.get("multi_cert_info") is not None:
        certificate = await services.db(listener_rules.resolve_certificate, plan, params, listener.protocol)
        settings = replace(settings, certificate=certificate)
    name = params.get("listener_name", listener.name)
    await services.start_task(
        ctx, TaskKind.RECONCILE_LISTENERS, [lb.id],
        lambda task: queries.change_listener(services.store, ctx.scope, listener, name, settings.to_stored(), task, plan.uploads),
    )
    return {}


async def delete_listener(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    await _require_listeners(services, ctx, lb.id, [params["listener_id"]])
    await services.start_task(
        ctx, TaskKind.RECONCILE_LISTENERS, [lb.id],
        lambda task: queries.mark_listeners_deleted(services.store, ctx.scope, lb.id, [params["listener_id"]], task),
    )
    return {}


async def delete_load_balancer_listeners(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    listener_ids = list(dict.fromkeys(params.get("listener_ids") or []))
    if len(listener_ids) > 20:
        raise errors.InvalidParameterValueLength("At most 20 `ListenerIds` may be given.")
    if listener_ids:
        await _require_listeners(services, ctx, lb.id, listener_ids)
    else:
        listener_ids = [l.id for l in await services.read(services.store.list_listeners, ctx.scope, lb.id)]
    await services.start_task(
        ctx, TaskKind.RECONCILE_LISTENERS, [lb.id],
        lambda task: queries.mark_listeners_deleted(services.store, ctx.scope, lb.id, listener_ids, task),
    )
    return {}
