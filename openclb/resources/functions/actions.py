"""Function targets: RegisterFunctionTargets, DeregisterFunctionTargets, ModifyFunctionTargets.

openclb runs no SCF: the operator maps each function to the local HTTP endpoint that serves it
in ``<data-dir>/functions.json`` (as ``instances.json`` maps instance ids), and a function bound
to an HTTP/HTTPS rule is that endpoint as one of the rule's real servers (type ``SCF``, the
function named in its InstanceId), so the rule forwards its requests there with the rule's
scheduler, weights and health checks. A function that is not mapped is refused (InvalidParameter,
saying how to map it); the documented rules: L7 listeners only, LocationId or Domain + Url.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import Target
from openclb.resources.shared import checks as rules
from openclb.resources.shared.clock import sortable_now
from openclb.resources.shared.lookups import require_listener, require_load_balancer
from openclb.resources.shared.services import Services
from openclb.resources.targets.actions import L7, MAX_TARGETS_PER_CALL, check_no_duplicates, rule_location, write_targets

FUNCTION_ID_MAX = 64


def function_key(info: dict[str, Any]) -> str:
    return f"{info['function_namespace']}/{info['function_name']}:{info['function_qualifier']}"


def endpoint(services: Services, info: dict[str, Any], wire: str) -> tuple[str, int]:
    """The mapped endpoint of a function: by namespace/name:qualifier, then namespace/name, then name."""
    namespace, name, qualifier = info["function_namespace"], info["function_name"], info["function_qualifier"]
    mapped = services.settings.function_endpoints
    for key in (f"{namespace}/{name}:{qualifier}", f"{namespace}/{name}", name):
        if key in mapped:
            return mapped[key]
    raise errors.InvalidParameter(
        f"The function {namespace}/{name} ({wire}) has no known endpoint: map it in "
        f"{services.settings.data_dir / 'functions.json'} as {{\"{namespace}/{name}\": \"http://IP:PORT\"}}.")


async def _prepare(services: Services, ctx: RequestContext, params: dict[str, Any]):
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    listener = await require_listener(services, ctx, lb.id, params["listener_id"])
    if listener.protocol not in L7:
        raise errors.InvalidParameter("Function targets are bound to forwarding rules of HTTP/HTTPS listeners only.")
    location_id = await rule_location(services, listener, params)
    items = params["function_targets"]
    if not 1 <= len(items) <= MAX_TARGETS_PER_CALL:
        raise errors.InvalidParameterValueLength(f"Between 1 and {MAX_TARGETS_PER_CALL} `FunctionTargets` must be given.")
    targets = []
    for i, item in enumerate(items):
        wire = f"FunctionTargets.{i}"
        rules.check_range(f"{wire}.Weight", item.get("weight"), 0, 100)
        key = function_key(item["function"])
        if len(key) > FUNCTION_ID_MAX:
            raise errors.InvalidParameterValueLength(f"`{wire}.Function` names more than {FUNCTION_ID_MAX} characters.")
        ip, port = endpoint(services, item["function"], wire)
        weight = item.get("weight") if item.get("weight") is not None else 10
        targets.append(Target(listener_id=listener.id, ip=ip, port=port, lb_id=lb.id, weight=weight,
                              target_type="SCF", instance_id=key, location_id=location_id,
                              registered_at=sortable_now()))
    check_no_duplicates(targets)
    existing = {t.key: t for t in await services.read(services.store.targets_of, lb.id)}
    return lb, targets, existing


def _bound(targets: list[Target], existing: dict) -> list[Target]:
    found = [existing.get(t.key) for t in targets]
    if any(t is None or t.target_type != "SCF" for t in found):
        raise errors.InvalidParameter("A function of `FunctionTargets` is not bound to this forwarding rule.")
    return found


async def register_function_targets(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb, targets, existing = await _prepare(services, ctx, params)
    for target in targets:
        if target.key in existing and existing[target.key].target_type != "SCF":
            raise errors.InvalidParameterValueDuplicate(
                f"The endpoint {target.ip}:{target.port} of a function is already a real server of this rule.")
    await write_targets(services, ctx, lb.id, targets, [])
    return {}


async def deregister_function_targets(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb, targets, existing = await _prepare(services, ctx, params)
    await write_targets(services, ctx, lb.id, [], _bound(targets, existing))
    return {}


async def modify_function_targets(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """New weights of bound functions (the only thing of a function target that can change)."""
    lb, targets, existing = await _prepare(services, ctx, params)
    bound = _bound(targets, existing)
    await write_targets(services, ctx, lb.id, [Target(**{**old.__dict__, "weight": new.weight})
                                                for old, new in zip(bound, targets)], [])
    return {}
