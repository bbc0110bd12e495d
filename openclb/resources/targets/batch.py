"""BatchRegisterTargets, BatchDeregisterTargets, BatchModifyTargetWeight.

The batch actions touch many listeners of one CLB in one call. As documented, a target whose
listener cannot take it does not fail the call: its listener id is reported in
``FailListenerIdSet`` and the rest is applied.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.domain.models import Listener, Target
from openclb.resources.shared import checks as rules
from openclb.context import RequestContext
from openclb.resources.shared.services import Services
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.targets.actions import build_target, check_no_duplicates, forwarding_to_groups, write_targets

MAX_BATCH_TARGETS = 500


async def _batch(services: Services, ctx: RequestContext, params: dict[str, Any]):
    """Targets grouped by listener: the usable ones, and the listener ids that failed."""
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    items = params["targets"]
    if not 1 <= len(items) <= MAX_BATCH_TARGETS:
        raise errors.InvalidParameterValueLength(f"Between 1 and {MAX_BATCH_TARGETS} `Targets` must be given.")
    listeners: dict[str, Listener] = {
        l.id: l for l in await services.read(services.store.list_listeners, ctx.scope, lb.id)
    }
    rule_listener = {r.id: r.listener_id for r in await services.read(services.store.rules_of, lb.id)}
    good: list[Target] = []
    failed: list[str] = []
    for index, item in enumerate(items):
        listener = listeners.get(item["listener_id"])
        location_id = item.get("location_id") or ""
        l7 = listener is not None and listener.protocol in ("HTTP", "HTTPS")
        if listener is None or l7 != bool(location_id) or (l7 and rule_listener.get(location_id) != listener.id):
            failed.append(item["listener_id"])
            continue
        good.append(build_target(services, listener, item, f"Targets.{index}", location_id))
    check_no_duplicates(good)
    existing = {t.key: t for t in await services.read(services.store.targets_of, lb.id)}
    return lb, good, list(dict.fromkeys(failed)), existing


def _fail_message(failed: list[str]) -> str:
    return (f"These listeners could not take the targets (not found, need a rule, or forward to a target group): "
            f"{', '.join(failed)}.") if failed else ""


async def batch_register_targets(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb, good, failed, _ = await _batch(services, ctx, params)
    to_groups = await forwarding_to_groups(services, ctx, lb.id)
    failed = list(dict.fromkeys([*failed, *(t.listener_id for t in good if (t.location_id or t.listener_id) in to_groups)]))
    good = [t for t in good if (t.location_id or t.listener_id) not in to_groups]
    if good:
        await write_targets(services, ctx, lb.id, good, [])
    return {"FailListenerIdSet": failed, "Message": _fail_message(failed)}


async def batch_deregister_targets(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb, good, failed, existing = await _batch(services, ctx, params)
    registered = [existing[t.key] for t in good if t.key in existing]
    failed += [t.listener_id for t in good if t.key not in existing and t.listener_id not in failed]
    if registered:
        await write_targets(services, ctx, lb.id, [], registered)
    return {"FailListenerIdSet": list(dict.fromkeys(failed)), "Message": _fail_message(failed)}


async def batch_modify_target_weight(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """ModifyList: ≤100 rules, ≤50 targets each, ≤500 in all; a target's Weight wins over the rule's."""
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    modify_list = params["modify_list"]
    if not 1 <= len(modify_list) <= 100:
        raise errors.InvalidParameterValueLength("Between 1 and 100 `ModifyList` entries must be given.")
    if sum(len(rule["targets"]) for rule in modify_list) > MAX_BATCH_TARGETS:
        raise errors.InvalidParameterValueLength(f"At most {MAX_BATCH_TARGETS} targets may be changed in one call.")
    listeners = {l.id: l for l in await services.read(services.store.list_listeners, ctx.scope, lb.id)}
    existing = {t.key: t for t in await services.read(services.store.targets_of, lb.id)}
    updated: list[Target] = []
    for r_index, rule in enumerate(modify_list):
        listener = listeners.get(rule["listener_id"])
        if listener is None:
            raise errors.InvalidParameterListenerIdNotFound(f"some ListenerId ['{rule['listener_id']}'] not found.")
        if len(rule["targets"]) > 50:
            raise errors.InvalidParameterValueLength(f"`ModifyList.{r_index}.Targets` may hold at most 50 targets.")
        rules.check_range(f"ModifyList.{r_index}.Weight", rule.get("weight"), 0, 100)
        default = rule.get("weight") if rule.get("weight") is not None else 10
        for t_index, item in enumerate(rule["targets"]):
            target = build_target(services, listener, item, f"ModifyList.{r_index}.Targets.{t_index}")
            old = existing.get(target.key)
            if old is None:
                raise errors.InvalidParameter(f"The target {target.ip}:{target.port} is not registered (not found).")
            weight = item.get("weight") if item.get("weight") is not None else default
            updated.append(Target(**{**old.__dict__, "weight": weight}))
    check_no_duplicates(updated)
    await write_targets(services, ctx, lb.id, updated, [])
    return {}
