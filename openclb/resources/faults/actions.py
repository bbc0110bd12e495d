"""InjectFault, DescribeFaults and ClearFaults: the admin API's fault injection (``api/admin.py``).

Only on a server started with ``--faults``; elsewhere each is ``UnsupportedOperation``. Faults
belong to the calling account and only its calls meet them (``domain/faults.py`` says what each
kind does, ``checks.py`` what each takes). A TargetUnhealthy fault names a real server the
account registered; the engine wrapper sidelines it at once and lets it back when the fault
is cleared. ResetState clears an account's faults too.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.faults import TRAFFIC_KINDS, Fault, FaultBook, FaultKind, ListenerKey, TargetKey
from openclb.engine.spec import TrafficFaultSpec
from openclb.protocols import L7
from openclb.resources.faults import checks, views
from openclb.resources.shared.lookups import require_listener, require_load_balancer
from openclb.resources.shared.services import Services


def _book(services: Services) -> FaultBook:
    if services.faults is None:
        raise errors.UnsupportedOperation("Fault injection is off: start the server with --faults.")
    return services.faults


async def inject_fault(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    book = _book(services)
    kind = checks.fault_kind(params)
    if kind in TRAFFIC_KINDS:
        return {"FaultId": await _inject_traffic_fault(services, ctx, params, kind, book)}
    if kind is not FaultKind.TARGET_UNHEALTHY:
        fault = checks.event_fault(params, kind, ctx.app_id, book.new_id(), services.clb_actions)
        return {"FaultId": book.add(fault).fault_id}
    target = await _registered_target(services, ctx, params)
    fault = book.add(Fault(book.new_id(), ctx.app_id, kind, target=target))
    await _sideline(services, target.load_balancer_id)
    return {"FaultId": fault.fault_id}


async def _registered_target(services: Services, ctx: RequestContext, params: dict[str, Any]) -> TargetKey:
    ip, port = checks.target_address(params)
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    listener = await require_listener(services, ctx, lb.id, params["listener_id"])
    location_id = params.get("location_id") or ""
    if listener.protocol in L7 and not location_id:
        raise errors.MissingParameter("HTTP/HTTPS listeners need `LocationId`: their targets belong to rules.")
    if listener.protocol not in L7 and location_id:
        raise errors.InvalidParameterCombination("`LocationId` applies to HTTP/HTTPS listeners only.")
    registered = any(t.listener_id == listener.id and t.location_id == location_id and (t.ip, t.port) == (ip, port)
                     for t in await services.read(services.store.targets_of, lb.id))
    if not registered:
        raise errors.InvalidParameter(f"The target {ip}:{port} is not registered on {location_id or listener.id}.")
    return TargetKey(lb.id, listener.id, location_id or listener.id, ip, port)


async def _sideline(services: Services, lb_id: str) -> None:
    """The engine sidelines exactly the targets of ``lb_id`` the book marks unhealthy now."""
    if services.fault_engine is not None and services.faults is not None:
        keys = frozenset((t.group_id, t.ip, t.port) for t in services.faults.unhealthy_targets(lb_id))
        await services.fault_engine.set_unhealthy(lb_id, keys)


async def _inject_traffic_fault(services: Services, ctx: RequestContext, params: dict[str, Any],
                                kind: FaultKind, book: FaultBook) -> str:
    fault = checks.traffic_fault(params, kind, ctx.app_id, book.new_id())
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    listener = await require_listener(services, ctx, lb.id, params["listener_id"])
    checks.traffic_fault_protocol(kind, listener.protocol)
    if services.fault_engine is None or not services.fault_engine.supports_traffic_faults:
        raise errors.UnsupportedOperation(
            f"The {services.settings.engine} engine cannot inject traffic faults (no counted or seeded draws).")
    fault.listener = ListenerKey(lb.id, listener.id)
    book.add(fault)
    await _put_traffic_faults(services, lb.id)
    return fault.fault_id


async def _put_traffic_faults(services: Services, lb_id: str) -> None:
    """The engine carries exactly the traffic faults the book holds for ``lb_id`` now."""
    by_listener: dict[str, list[TrafficFaultSpec]] = {}
    for fault in services.faults.traffic_faults(lb_id):
        by_listener.setdefault(fault.listener.listener_id, []).append(TrafficFaultSpec(
            fault.fault_id, latency=fault.seconds if fault.kind is FaultKind.TRAFFIC_LATENCY else 0.0,
            resets=fault.kind is FaultKind.TRAFFIC_RESET, drops=fault.kind is FaultKind.DATAGRAM_DROP,
            count=fault.count, probability=fault.probability, seed=fault.seed))
    await services.fault_engine.set_traffic_faults(lb_id, {k: tuple(v) for k, v in by_listener.items()})


async def describe_faults(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    book = _book(services)
    hits = services.fault_engine.traffic_fault_hits() if services.fault_engine is not None else {}
    return {"Faults": [views.fault(f, hits) for f in book.faults(ctx.app_id)]}


async def clear_faults(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    book = _book(services)
    wanted = list(dict.fromkeys(params.get("fault_ids") or []))
    unknown = sorted(set(wanted) - {f.fault_id for f in book.faults(ctx.app_id)})
    if unknown:
        raise errors.ResourceNotFound(f"The faults {unknown} were not found.")
    cleared = book.clear(ctx.app_id, wanted or None)
    for lb_id in dict.fromkeys(f.target.load_balancer_id for f in cleared if f.target is not None):
        await _sideline(services, lb_id)
    for lb_id in dict.fromkeys(f.listener.load_balancer_id for f in cleared if f.listener is not None):
        await _put_traffic_faults(services, lb_id)
    return {"FaultIds": [f.fault_id for f in cleared]}
