"""BatchModifyTargetTag: the Tag of targets already bound to listeners (L4) or rules (L7).

A tag is the operator's label of a real server; DescribeTargets shows it (``Tag``) and filters
on it (``tag``). The rows change in a task like every target write, so a CLB busy with another
task answers FailedOperation.ResourceInOperating. A target's own ``Tag`` wins over its rule
entry's ``Tag``; with neither the tag is cleared. Every entry is checked before anything is
written: one unknown listener, rule or target refuses the whole call.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import Listener, Target
from openclb.resources.shared import checks as rules
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services
from openclb.resources.targets.actions import L7, TAG_MAX_LENGTH, build_target, check_no_duplicates, write_targets

MAX_MODIFY_ENTRIES = 100
MAX_TARGETS_PER_ENTRY = 50
MAX_TARGETS_PER_CALL = 500


def check_modify_list(modify_list: list[dict[str, Any]]) -> None:
    """Documented like BatchModifyTargetWeight: 1-100 entries, ≤50 targets each, ≤500 in all."""
    if not 1 <= len(modify_list) <= MAX_MODIFY_ENTRIES:
        raise errors.InvalidParameterValueLength(f"Between 1 and {MAX_MODIFY_ENTRIES} `ModifyList` entries must be given.")
    for index, entry in enumerate(modify_list):
        if not 1 <= len(entry["targets"]) <= MAX_TARGETS_PER_ENTRY:
            raise errors.InvalidParameterValueLength(
                f"`ModifyList.{index}.Targets` must hold between 1 and {MAX_TARGETS_PER_ENTRY} targets.")
        rules.check_free_text(f"ModifyList.{index}.Tag", entry.get("tag"), TAG_MAX_LENGTH)
    if sum(len(entry["targets"]) for entry in modify_list) > MAX_TARGETS_PER_CALL:
        raise errors.InvalidParameterValueLength(f"At most {MAX_TARGETS_PER_CALL} targets may be changed in one call.")


def entry_location(listener: Listener, location_id: str | None, rule_listener: dict[str, str], where: str) -> str:
    """L7 targets are named with the rule they hang on (LocationId); L4 targets without one."""
    if listener.protocol not in L7:
        if location_id:
            raise errors.InvalidParameter(f"`{where}.LocationId` applies to HTTP/HTTPS listeners only.")
        return ""
    if not location_id:
        raise errors.MissingParameter(f"The request is missing a required parameter `{where}.LocationId`.")
    if rule_listener.get(location_id) != listener.id:
        raise errors.InvalidParameterLocationNotFound(
            f"The forwarding rule {location_id} was not found on listener {listener.id}.")
    return location_id


async def batch_modify_target_tag(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    check_modify_list(params["modify_list"])
    listeners = {l.id: l for l in await services.read(services.store.list_listeners, ctx.scope, lb.id)}
    rule_listener = {r.id: r.listener_id for r in await services.read(services.store.rules_of, lb.id)}
    existing = {t.key: t for t in await services.read(services.store.targets_of, lb.id)}
    updated: list[Target] = []
    for index, entry in enumerate(params["modify_list"]):
        where = f"ModifyList.{index}"
        listener = listeners.get(entry["listener_id"])
        if listener is None:
            raise errors.InvalidParameterListenerIdNotFound(f"some ListenerId ['{entry['listener_id']}'] not found.")
        location_id = entry_location(listener, entry.get("location_id"), rule_listener, where)
        for t_index, item in enumerate(entry["targets"]):
            target = build_target(services, listener, item, f"{where}.Targets.{t_index}", location_id)
            old = existing.get(target.key)
            if old is None:
                raise errors.InvalidParameter(f"The target {target.ip}:{target.port} is not registered (not found).")
            tag = item.get("tag") if item.get("tag") is not None else entry.get("tag") or ""
            updated.append(Target(**{**old.__dict__, "tag": tag}))
    check_no_duplicates(updated)
    await write_targets(services, ctx, lb.id, updated, [])
    return {}
