"""The vpc security-group actions openclb serves (``VPC_SECURITY_GROUP_ACTIONS``).

CreateSecurityGroup, DescribeSecurityGroups, DeleteSecurityGroup and the policy actions
(Create/Describe/Delete/Replace/ModifySecurityGroupPolicies). Groups are regional, like the
CLBs that bind them (``binding.py``). A policy change reaches every bound CLB's data plane as a
task (``queries.change_group_with_task``), which the call waits for like any write; the vpc API
itself is synchronous and returns no task id. What the policies mean: ``policies.py``.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import ProvisioningState, TaskKind
from openclb.domain.security_groups import SecurityGroup
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.security_groups import checks, policies, queries, views
from openclb.resources.shared import ids
from openclb.resources.shared.clock import api_time, sortable_now
from openclb.resources.shared.services import Services
from openclb.store import security_groups as reads

DIRECTIONS = ("ingress", "egress")


async def require_group(services: Services, ctx: RequestContext, group_id: str) -> SecurityGroup:
    checks.check_group_id(group_id)
    for group in await services.read(reads.in_scope, services.store, ctx.app_id, ctx.region):
        if group.id == group_id:
            return group
    raise errors.InvalidSecurityGroupIDNotFound(f"The security group {group_id} does not exist.")


async def bound_load_balancers(services: Services, ctx: RequestContext, group_id: str) -> list[str]:
    return [lb.id for lb in await services.read(services.store.list_load_balancers, ctx.scope)
            if lb.state is not ProvisioningState.PENDING_DELETE
            and group_id in LoadBalancerSettings.of(lb).security_groups]


async def create_security_group(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    checks.check_text("GroupName", params["group_name"], 60)
    checks.check_text("GroupDescription", params["group_description"], 100)
    project = params.get("project_id") or "0"
    if not str(project).isdigit():
        raise errors.InvalidParameterValueMalformed(f"`ProjectId` {project!r} is not a number.")
    tags = [{"key": t["key"], "value": t.get("value") or ""} for t in params.get("tags") or []]
    now = sortable_now()
    group = SecurityGroup(ids.security_group_id(), ctx.app_id, ctx.region, params["group_name"],
                          params["group_description"], str(project), now, now, tags=tags)
    await services.db(queries.insert_group, services.store, group)
    return {"SecurityGroup": views.security_group(group)}


def _filtered(group: SecurityGroup, filters: list[dict[str, Any]]) -> bool:
    fields = {"security-group-id": group.id, "security-group-name": group.name, "project-id": group.project_id}
    return all(fields[f["name"]] in f["values"] for f in filters)


async def describe_security_groups(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    checks.check_describe(params)
    offset, limit = checks.check_page(params.get("offset"), params.get("limit"))
    groups = await services.read(reads.in_scope, services.store, ctx.app_id, ctx.region)
    wanted = params.get("security_group_ids") or []
    if wanted:
        known = {g.id for g in groups}
        missing = [g for g in wanted if g not in known]
        if missing:
            raise errors.InvalidSecurityGroupIDNotFound(f"The security groups {missing} do not exist.")
        groups = [g for g in groups if g.id in wanted]
    groups = [g for g in groups if _filtered(g, params.get("filters") or [])]
    if params.get("order_direction") == "DESC":
        groups.reverse()
    return {"SecurityGroupSet": [views.security_group(g) for g in groups[offset:offset + limit]],
            "TotalCount": len(groups)}


async def delete_security_group(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    group = await require_group(services, ctx, params["security_group_id"])
    bound = await bound_load_balancers(services, ctx, group.id)
    if bound:
        raise errors.ResourceInUse(f"The security group {group.id} is bound to {', '.join(bound)}.")
    await services.db(queries.delete_group, services.store, group.id)
    return {}


async def _save(services: Services, ctx: RequestContext, group: SecurityGroup,
                changed: dict[str, list[dict[str, Any]]]) -> None:
    """Store the group's new policies (version + 1) and have every bound CLB enforce them."""
    for direction in DIRECTIONS:
        checks.check_room(changed[direction], direction)
    values = {"policies": changed, "version": group.version + 1, "updated_at": sortable_now()}
    lb_ids = await bound_load_balancers(services, ctx, group.id)
    if not lb_ids:
        await services.db(queries.change_group, services.store, group.id, values)
        return
    await services.start_task(
        ctx, TaskKind.SET_SECURITY_GROUPS, lb_ids,
        lambda task: queries.change_group_with_task(services.store, ctx.scope, group.id, values, lb_ids, task))


async def _versioned_policy_set(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> tuple[SecurityGroup, dict[str, Any]]:
    """The group a policy write names and its SecurityGroupPolicySet, whose Version (when given)
    must be the group's current one: a write based on an older read is refused."""
    group = await require_group(services, ctx, params["security_group_id"])
    policy_set = params["security_group_policy_set"]
    checks.check_version(policy_set.get("version"), group.version)
    return group, policy_set


def _given(policy_set: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {direction: policy_set.get(direction) or [] for direction in DIRECTIONS}


async def create_security_group_policies(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    group, policy_set = await _versioned_policy_set(services, ctx, params)
    now = api_time()
    changed = {d: list(group.policies.get(d, [])) for d in DIRECTIONS}
    for direction, given in _given(policy_set).items():
        for item in given:
            stored = policies.stored_policy(item, now)
            if any(policies.same_rule(stored, p) for p in changed[direction]):
                raise errors.UnsupportedOperationDuplicatePolicy("The policy already exists in the group.")
            index = item.get("policy_index")
            if index is None:
                changed[direction].append(stored)
            else:
                checks.check_index(index, changed[direction] + [stored], direction)
                changed[direction].insert(index, stored)
    await _save(services, ctx, group, changed)
    return {}


async def describe_security_group_policies(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    group = await require_group(services, ctx, params["security_group_id"])
    return {"SecurityGroupPolicySet": views.policy_set(group)}


async def delete_security_group_policies(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """By PolicyIndex, or by content (the policy's protocol, port, address and action)."""
    group, policy_set = await _versioned_policy_set(services, ctx, params)
    changed = {d: list(group.policies.get(d, [])) for d in DIRECTIONS}
    for direction, given in _given(policy_set).items():
        doomed: set[int] = set()
        for item in given:
            if item.get("policy_index") is not None:
                doomed.add(checks.check_index(item["policy_index"], changed[direction], direction))
                continue
            stored = policies.stored_policy(item, "")
            matches = [i for i, p in enumerate(changed[direction]) if policies.same_rule(stored, p)]
            if not matches:
                raise errors.InvalidParameterValue("A policy to delete is not in the group.")
            doomed.update(matches)
        changed[direction] = [p for i, p in enumerate(changed[direction]) if i not in doomed]
    await _save(services, ctx, group, changed)
    return {}


async def replace_security_group_policies(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """Each given policy replaces the one at its PolicyIndex (required) in its direction."""
    group, policy_set = await _versioned_policy_set(services, ctx, params)
    now = api_time()
    changed = {d: list(group.policies.get(d, [])) for d in DIRECTIONS}
    for direction, given in _given(policy_set).items():
        for item in given:
            index = checks.check_index(item.get("policy_index"), changed[direction], direction)
            changed[direction][index] = policies.stored_policy(item, now)
    await _save(services, ctx, group, changed)
    return {}


async def modify_security_group_policies(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """The whole set replaced: both directions as given (a direction not given becomes empty)."""
    group, policy_set = await _versioned_policy_set(services, ctx, params)
    now = api_time()
    changed = {d: [policies.stored_policy(item, now) for item in given] for d, given in _given(policy_set).items()}
    await _save(services, ctx, group, changed)
    return {}


VPC_SECURITY_GROUP_ACTIONS = {
    "CreateSecurityGroup": create_security_group,
    "DescribeSecurityGroups": describe_security_groups,
    "DeleteSecurityGroup": delete_security_group,
    "CreateSecurityGroupPolicies": create_security_group_policies,
    "DescribeSecurityGroupPolicies": describe_security_group_policies,
    "DeleteSecurityGroupPolicies": delete_security_group_policies,
    "ReplaceSecurityGroupPolicies": replace_security_group_policies,
    "ModifySecurityGroupPolicies": modify_security_group_policies,
}
