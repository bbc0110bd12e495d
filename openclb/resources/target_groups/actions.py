"""The target-group actions: create, modify, delete, describe, and change a group's instances.

A group is a set of instances (BindIP, Port, Weight) in one VPC. Creating, renaming and
deleting one change no data plane and answer at once. A change of its instances is a task
(TaskId = RequestId) over every CLB whose listeners or rules forward to the group: each of
those CLBs is busy until the engine routes new connections by the new instance set, and
DescribeTaskStatus reports 0 then. Binding groups to listeners is ``associations.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import TaskKind
from openclb.domain.target_groups import TargetGroup, TargetGroupInstance
from openclb.resources.load_balancers.settings import DEFAULT_VPC_ID
from openclb.resources.shared import ids
from openclb.resources.shared.clock import sortable_now
from openclb.resources.shared.services import Services
from openclb.resources.target_groups import checks, queries, views
from openclb.resources.target_groups.lookups import association_views, scope_groups
from openclb.resources.target_groups.settings import TargetGroupSettings
from openclb.store.transitions import QuotaReached

MAX_LIMIT = 100


async def create_target_group(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    checks.check_name(params.get("target_group_name"))
    checks.check_settings(params)
    vpc_id = params.get("vpc_id") or DEFAULT_VPC_ID
    checks.check_vpc_id(vpc_id)
    group_id = ids.target_group_id()
    settings = TargetGroupSettings.from_request(params)
    port = checks.default_port(params.get("port"))
    instances = checks.instances(group_id, settings, port, params.get("target_group_instances") or ())
    quotas = services.settings.quotas
    if len(instances) > quotas.instances_per_target_group:
        raise errors.LimitExceeded(f"A target group may have at most {quotas.instances_per_target_group} instances.")
    now = sortable_now()
    group = TargetGroup(group_id, ctx.app_id, ctx.region, params.get("target_group_name") or group_id, vpc_id,
                        port, now, now, settings.to_stored())
    try:
        await services.db(queries.insert_group, services.store, group, instances, quotas.target_groups_per_region)
    except QuotaReached:
        raise errors.LimitExceeded(
            f"A region may hold at most {quotas.target_groups_per_region} target groups.") from None
    return {"TargetGroupId": group_id}


async def modify_target_group_attribute(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = checks.require_group(await scope_groups(services, ctx), params["target_group_id"])
    checks.check_name(params.get("target_group_name"))
    checks.check_settings(params)
    values: dict[str, Any] = {"settings": TargetGroupSettings.of(group).merged(params).to_stored()}
    if params.get("target_group_name") is not None:
        values["name"] = params["target_group_name"]
    if params.get("port") is not None:
        values["port"] = checks.default_port(params["port"])
    try:
        await services.db(queries.update_group, services.store, ctx.scope, group.id, values)
    except queries.GroupGone:
        raise errors.InvalidParameter(f"The target group {group.id} does not exist.") from None
    return {}


async def delete_target_groups(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group_ids = list(dict.fromkeys(params["target_group_ids"]))
    checks.check_ids("TargetGroupIds", group_ids)
    groups = await scope_groups(services, ctx)
    for group_id in group_ids:
        checks.require_group(groups, group_id)
    _, associations = await services.read(queries.members_of, services.store, group_ids)
    checks.check_not_associated(group_ids, {x.target_group_id for x in associations})
    try:
        await services.db(queries.delete_groups, services.store, ctx.scope, group_ids)
    except queries.GroupInUse as exc:
        checks.check_not_associated(group_ids, set(exc.args[0]))
    return {}


def _page(items: list, params: dict[str, Any]) -> list:
    limit = params.get("limit") if params.get("limit") is not None else 20
    checks.check_number("Limit", limit, 0, MAX_LIMIT)
    offset = params.get("offset") or 0
    return items[offset:offset + limit]


def _filtered(groups: list[TargetGroup], params: dict[str, Any]) -> list[TargetGroup]:
    """TargetGroupIds first; else Filters TargetGroupVpcId, TargetGroupName, tag:<key> (and Tag, ``key:value``)."""
    if params.get("target_group_ids"):
        wanted = set(params["target_group_ids"])
        return [group for group in groups if group.id in wanted]
    for item in params.get("filters") or ():
        name, values = item["name"], set(item["values"])
        if name == "TargetGroupVpcId":
            groups = [group for group in groups if group.vpc_id in values]
        elif name == "TargetGroupName":
            groups = [group for group in groups if group.name in values]
        elif name.startswith("tag:") or name == "Tag":
            groups = [group for group in groups if _tagged(group, name, values)]
        else:
            raise errors.InvalidParameterValue(
                f"The filter {name!r} is not supported: TargetGroupVpcId, TargetGroupName, tag:<key>.")
    return groups


def _tagged(group: TargetGroup, name: str, values: set[str]) -> bool:
    tags = TargetGroupSettings.of(group).tags or ()
    if name == "Tag":
        return any(f"{t['tag_key']}:{t['tag_value']}" in values or t["tag_key"] in values for t in tags)
    return any(t["tag_key"] == name[4:] and t["tag_value"] in values for t in tags)


async def _describe(services: Services, ctx: RequestContext, params: dict[str, Any], with_rules: bool) -> dict[str, Any]:
    groups = _filtered(list((await scope_groups(services, ctx)).values()), params)
    shown = _page(groups, params)
    instances, associations = await services.read(queries.members_of, services.store, [g.id for g in shown])
    views_of = await association_views(services, ctx, associations) if with_rules else {}
    return {"TotalCount": len(groups), "TargetGroupSet": [
        views.target_group(
            group, sum(1 for x in instances if x.target_group_id == group.id),
            views_of.get(group.id, []) if with_rules else None,
            sum(1 for x in associations if x.target_group_id == group.id))
        for group in shown]}


async def describe_target_groups(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return await _describe(services, ctx, params, with_rules=True)


async def describe_target_group_list(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """As DescribeTargetGroups, without AssociatedRule ("cannot be obtained in the DescribeTargetGroupList call")."""
    return await _describe(services, ctx, params, with_rules=False)


async def describe_target_group_instances(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = {item["name"]: set(item["values"]) for item in params["filters"]}
    unknown = set(filters) - {"TargetGroupId", "BindIP", "InstanceId"}
    if unknown:
        raise errors.InvalidParameterValue(f"The filters {sorted(unknown)} are not supported: TargetGroupId, BindIP, "
                                           "InstanceId.")
    groups = [gid for gid in await scope_groups(services, ctx) if gid in filters.get("TargetGroupId", {gid})]
    instances, _ = await services.read(queries.members_of, services.store, groups)
    found = [x for x in instances if x.ip in filters.get("BindIP", {x.ip}) and "" in filters.get("InstanceId", {""})]
    return {"TotalCount": len(found), "RealCount": len(found),
            "TargetGroupInstanceSet": [views.backend(x) for x in _page(found, params)]}


async def describe_target_group_instance_status(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """Each instance's health as the engine probes it, through the listeners and rules the group serves."""
    group = checks.require_group(await scope_groups(services, ctx), params["target_group_id"])
    instances, associations = await services.read(queries.members_of, services.store, [group.id])
    ips = set(params.get("target_group_instance_ips") or ())
    details: dict[tuple[str, int], list[str]] = {x.key: [] for x in instances}
    for lb_id in sorted({x.lb_id for x in associations}):
        places = {x.location_id or x.listener_id for x in associations if x.lb_id == lb_id}
        for health in await services.worker.health(lb_id):
            if health.listener_id in places and (health.ip, health.port) in details:
                details[(health.ip, health.port)].append(health.detail)
    return {"TargetGroupInstanceSet": [
        views.instance_status(x, details[x.key]) for x in instances if not ips or x.ip in ips]}


async def _change_instances(
    services: Services, ctx: RequestContext, group: TargetGroup, upserts: list[TargetGroupInstance],
    removals: list[TargetGroupInstance],
) -> None:
    """One task over every CLB the group serves; the group's instance quota holds."""
    limit = services.settings.quotas.instances_per_target_group
    lb_ids = await services.read(queries.serving_load_balancers, services.store, group.id)
    try:
        await services.start_task(
            ctx, TaskKind.RECONCILE_TARGETS, lb_ids,
            lambda task: queries.change_instances(services.store, ctx.scope, group.id, upserts, removals, task, limit))
    except QuotaReached:
        raise errors.LimitExceeded(f"A target group may have at most {limit} instances.") from None
    except queries.AssociationsChanged:
        raise errors.FailedOperationResourceInOperating(
            f"The target group {group.id} was bound or unbound meanwhile. Please try again.") from None
    except queries.GroupGone:
        raise errors.InvalidParameter(f"The target group {group.id} does not exist.") from None


async def _group_and_instances(services: Services, ctx: RequestContext, params: dict[str, Any]):
    group = checks.require_group(await scope_groups(services, ctx), params["target_group_id"])
    checks.check_ids("TargetGroupInstances", params["target_group_instances"])
    instances, _ = await services.read(queries.members_of, services.store, [group.id])
    return group, {x.key: x for x in instances}


async def register_target_group_instances(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = checks.require_group(await scope_groups(services, ctx), params["target_group_id"])
    new = checks.instances(group.id, TargetGroupSettings.of(group), group.port, params["target_group_instances"])
    instances, _ = await services.read(queries.members_of, services.store, [group.id])
    checks.check_not_registered(new, {x.key: x for x in instances})
    await _change_instances(services, ctx, group, new, [])
    return {}


async def deregister_target_group_instances(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group, existing = await _group_and_instances(services, ctx, params)
    gone = checks.registered(params["target_group_instances"], existing, "TargetGroupInstances")
    await _change_instances(services, ctx, group, [], gone)
    return {}


async def modify_target_group_instances_port(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group, existing = await _group_and_instances(services, ctx, params)
    items = params["target_group_instances"]
    old = checks.registered(items, existing, "TargetGroupInstances")
    checks.required_numbers(items, "new_port", "TargetGroupInstances", "NewPort", 1, 65535)
    moved = [replace(x, port=item["new_port"]) for x, item in zip(old, items)]
    checks.check_no_duplicates(moved)
    staying = {key for key in existing if key not in {x.key for x in old}}
    if any(x.key in staying for x in moved):
        raise errors.InvalidParameterValue("An instance with that BindIP and NewPort is already in the target group.")
    await _change_instances(services, ctx, group, moved, old)
    return {}


async def modify_target_group_instances_weight(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    group, existing = await _group_and_instances(services, ctx, params)
    items = params["target_group_instances"]
    old = checks.registered(items, existing, "TargetGroupInstances")
    checks.required_numbers(items, "weight", "TargetGroupInstances", "Weight", 0, 100)
    await _change_instances(services, ctx, group, [replace(x, weight=item["weight"]) for x, item in zip(old, items)], [])
    return {}
