"""The tag service's actions over CLB tags: three writes (TagResources, UnTagResources, ModifyResourceTags)
and five reads. The Terraform provider reads a CLB's tags with DescribeResourceTagsByResourceIds and
changes them with ModifyResourceTags."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import LoadBalancer
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared.services import Services
from openclb.resources.tags import checks, names, queries, views
from openclb.resources.tags.names import ResourceName

BUSY_RETRY_SECONDS = 0.05
BUSY_WAIT_SECONDS = 5.0
DEFAULT_ROWS = 15  # DescribeResourcesByTags: "Page size. The default value is 15."
DEFAULT_RESULTS = 50  # GetResources/GetTagKeys/GetTagValues: "Default value: 50."
MAX_RESOURCES_RESULTS = 200
MAX_KEYS_RESULTS = 1000
NOT_FOUND = "InvalidParameterValue.ResourceIdInvalid"


async def tag_resources(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Bind each tag to each resource; a key a resource already has takes the new value."""
    checks.check_resource_count(params["resource_list"])
    checks.check_tag_count(len(params["tags"]))
    tags = checks.check_tags(params["tags"])
    parsed = _parsed(params["resource_list"], ctx)

    def edit(lb_id: str, current: dict[str, str]) -> dict[str, str]:
        return _within_limit(lb_id, {**current, **tags})

    return {"FailedResources": await _rewrite(services, ctx, parsed, edit)}


async def un_tag_resources(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Unbind the keys from each resource; a key a resource does not carry is no error."""
    checks.check_resource_count(params["resource_list"])
    checks.check_tag_count(len(params["tag_keys"]))
    removed = set(params["tag_keys"])
    parsed = _parsed(params["resource_list"], ctx)

    def edit(lb_id: str, current: dict[str, str]) -> dict[str, str]:
        return {key: value for key, value in current.items() if key not in removed}

    return {"FailedResources": await _rewrite(services, ctx, parsed, edit)}


async def modify_resource_tags(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Set ReplaceTags and remove DeleteTags on one resource, in one change."""
    replace_tags = params.get("replace_tags")
    delete_keys = [item["tag_key"] for item in params["delete_tags"]] if "delete_tags" in params else None
    checks.check_modification(replace_tags, delete_keys)
    replaced = checks.check_tags(replace_tags or [])
    parsed = names.parse_resource_name(params["resource"], ctx.owner_uin,
                                       (names.RESOURCE_PREFIX, names.TARGET_GROUP_PREFIX))

    def edit(lb_id: str, current: dict[str, str]) -> dict[str, str]:
        kept = {key: value for key, value in current.items() if key not in set(delete_keys or ())}
        return _within_limit(lb_id, {**kept, **replaced})

    if parsed.prefix == names.TARGET_GROUP_PREFIX:
        if not await services.db(queries.rewrite_group_tags, services.store, ctx.app_id, parsed.region,
                                 parsed.resource_id, edit):
            raise errors.InvalidParameterValueResourceIdInvalid(f"The resource {parsed.text} does not exist.")
        return {}
    failed = await _rewrite(services, ctx, [parsed], edit)
    if failed:
        raise errors.InvalidParameterValueResourceIdInvalid(failed[0]["Message"])
    return {}


async def describe_resource_tags_by_resource_ids(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    """One row per (resource, tag) of the CLBs named, in the order named."""
    resource_ids = params["resource_ids"]
    checks.check_resource_count(resource_ids, checks.MAX_RESOURCE_IDS)
    names.check_resource_region(params["resource_region"])
    checks.check_category(params.get("category"))
    offset, limit = params.get("offset", 0), params.get("limit", 0)
    checks.check_offset(offset, limit)
    rows = []
    wanted = (params["service_type"], params["resource_prefix"]) == (names.SERVICE_TYPE, names.RESOURCE_PREFIX)
    if wanted and checks.shows_custom_tags(params.get("category")):
        by_id = {lb.id: lb for lb in await _account_load_balancers(services, ctx)
                 if lb.region == params["resource_region"]}
        rows = [views.tag_resource(lb_id, key, value)
                for lb_id in dict.fromkeys(resource_ids) if lb_id in by_id
                for key, value in _tags(by_id[lb_id]).items()]
    page = rows[offset:offset + limit] if limit else rows[offset:]
    return {"TotalCount": len(rows), "Offset": offset, "Limit": limit, "Tags": page}


async def describe_resources_by_tags(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The CLBs carrying every filter's key (with one of its values, when values are given)."""
    filters = params["tag_filters"]
    checks.check_tag_filters(filters)
    offset, limit = params.get("offset", 0), params.get("limit") or DEFAULT_ROWS
    checks.check_offset(offset, limit)
    wanted = {"service_type": names.SERVICE_TYPE, "resource_prefix": names.RESOURCE_PREFIX}
    if any(params.get(key) not in (None, value) for key, value in wanted.items()):
        return {"TotalCount": 0, "Offset": offset, "Limit": limit, "Rows": []}
    found = [lb for lb in await _account_load_balancers(services, ctx)
             if _matches(_tags(lb), filters)
             and params.get("resource_id") in (None, lb.id) and params.get("resource_region") in (None, lb.region)]
    rows = [views.resource_tag(lb.region, lb.id, _tags(lb)) for lb in found[offset:offset + limit]]
    return {"TotalCount": len(found), "Offset": offset, "Limit": limit, "Rows": rows}


async def get_resources(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The named resources with their tags, or every tagged CLB the filters match, a page at a time."""
    filters = params.get("tag_filters", [])
    checks.check_tag_filters(filters)
    checks.check_page_size("MaxResults", params.get("max_results"), MAX_RESOURCES_RESULTS)
    start = checks.pagination_start(params.get("pagination_token"))
    lbs = await _account_load_balancers(services, ctx)
    if params.get("resource_list"):
        checks.check_resource_count(params["resource_list"])
        wanted = {(name.region, name.resource_id) for name in _parsed(params["resource_list"], ctx)}
        found = [lb for lb in lbs if (lb.region, lb.id) in wanted]
        size = max(len(found), 1)
    else:
        found = [lb for lb in lbs if _tags(lb) and _matches(_tags(lb), filters)]
        size = params.get("max_results") or DEFAULT_RESULTS
    page = found[start:start + size]
    mappings = [views.resource_mapping(names.clb_resource_name(lb.region, ctx.owner_uin, lb.id), _tags(lb))
                for lb in page]
    return {"PaginationToken": _next_token(start, len(page), len(found)), "ResourceTagMappingList": mappings}


async def get_tag_keys(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Every key some CLB of the account carries, sorted."""
    checks.check_category(params.get("category"))
    checks.check_page_size("MaxResults", params.get("max_results"), MAX_KEYS_RESULTS)
    start = checks.pagination_start(params.get("pagination_token"))
    keys = sorted({key for lb in await _account_load_balancers(services, ctx) for key in _tags(lb)
                   if checks.shows_custom_tags(params.get("category"))})
    page = keys[start:start + (params.get("max_results") or DEFAULT_RESULTS)]
    return {"PaginationToken": _next_token(start, len(page), len(keys)), "TagKeys": page}


async def get_tag_values(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Every (key, value) pair of the keys asked that some CLB of the account carries, sorted."""
    keys = set(params["tag_keys"])
    checks.check_tag_count(len(keys), checks.MAX_TAG_KEYS_ASKED)
    checks.check_category(params.get("category"))
    checks.check_page_size("MaxResults", params.get("max_results"), MAX_KEYS_RESULTS)
    start = checks.pagination_start(params.get("pagination_token"))
    pairs = sorted({(key, value) for lb in await _account_load_balancers(services, ctx)
                    for key, value in _tags(lb).items()
                    if key in keys and checks.shows_custom_tags(params.get("category"))})
    page = pairs[start:start + (params.get("max_results") or DEFAULT_RESULTS)]
    return {"PaginationToken": _next_token(start, len(page), len(pairs)),
            "Tags": [views.tag(key, value) for key, value in page]}


def _parsed(texts: Sequence[str], ctx: RequestContext) -> list[ResourceName]:
    return [names.parse_resource_name(text, ctx.owner_uin) for text in texts]


def _within_limit(lb_id: str, tags: dict[str, str]) -> dict[str, str]:
    checks.check_attached_count(lb_id, tags)
    return tags


def _tags(lb: LoadBalancer) -> dict[str, str]:
    return LoadBalancerSettings.of(lb).tag_map()


def _matches(tags: dict[str, str], filters: Sequence[dict[str, Any]]) -> bool:
    """Every filter's key is carried; with values, the carried value is one of them (OR)."""
    return all(f["tag_key"] in tags and (not f.get("tag_value") or tags[f["tag_key"]] in f["tag_value"])
               for f in filters)


def _next_token(start: int, shown: int, total: int) -> str:
    return str(start + shown) if start + shown < total else ""


async def _account_load_balancers(services: Services, ctx: RequestContext) -> list[LoadBalancer]:
    return await services.db(queries.account_load_balancers, services.store, ctx.app_id)


async def _rewrite(services: Services, ctx: RequestContext, parsed: list[ResourceName],
                   edit: queries.TagEdit) -> list[dict[str, Any]]:
    """Apply ``edit`` to every named CLB at once, waiting out a task that holds one; the CLBs
    that do not exist come back as FailedResources."""
    targets = [(name.region, name.resource_id) for name in parsed]
    waited = 0.0
    while True:
        try:
            missing = await services.db(queries.rewrite_tags, services.store, ctx.app_id, targets, edit)
            break
        except queries.TagsBusy as busy:
            if waited >= BUSY_WAIT_SECONDS:
                raise errors.FailedOperationResourceTagProcessing(
                    f"The LoadBalancer {busy.args[0]} is being operated on by a task; retry later.") from busy
            await asyncio.sleep(BUSY_RETRY_SECONDS)
            waited += BUSY_RETRY_SECONDS
    return [views.failed_resource(parsed[i].text, NOT_FOUND, f"The resource {parsed[i].text} does not exist.")
            for i in missing]
