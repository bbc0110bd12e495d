"""Customized configurations: the eight actions, over one store of configurations.

A CLB-type configuration bound to a CLB is applied to each of its HTTP/HTTPS listeners (see
``directives`` for what each directive does); binding, unbinding and changing a bound one's
content are tasks over the CLBs it touches, so the data plane follows like any other write.
SetCustomizedConfigForLoadBalancer is the newer single entry (ADD/UPDATE/DELETE/BIND/UNBIND of
CLB configurations); the older actions do the same and take SERVER and LOCATION ones too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openclb.context import RequestContext
from openclb.domain.models import AccountObject, TaskKind
from openclb.resources.customized_config import checks, queries, views
from openclb.resources.customized_config.directives import parse
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared import checks as rules, ids
from openclb.resources.shared.account_objects import insert_object, list_objects
from openclb.resources.shared.clock import sortable_now
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services


async def add_customized_config(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"ConfigId": await _add(services, ctx, params["config_name"], params["config_type"],
                                   params["config_content"])}


async def modify_customized_config(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    config = checks.require_config(await _configs(services, ctx), params["uconfig_id"])
    await _update(services, ctx, config, params["config_name"], params["config_content"])
    return {}


async def delete_customized_config(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    configs = await _configs(services, ctx)
    found = [checks.require_config(configs, config_id) for config_id in params["uconfig_id_list"]]
    for config in found:
        checks.check_unbound(config)
    await services.db(queries.delete_configs, services.store, ctx.scope, [c.id for c in found])
    return {}


async def describe_customized_config_list(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    checks.check_config_type(params["config_type"])
    offset, limit = params.get("offset", 0), params.get("limit", 20)
    rules.check_range("Offset", offset, 0, 2**31)
    rules.check_range("Limit", limit, 0, 100)
    filters = {f["name"]: f["values"] for f in params.get("filters") or []}
    found = [c for c in (await _configs(services, ctx)).values()
             if c.settings["config_type"] == params["config_type"]
             and params.get("config_name", "") in c.name
             and (not params.get("uconfig_ids") or c.id in params["uconfig_ids"])
             and (not filters.get("loadbalancer-id")
                  or set(filters["loadbalancer-id"]) & set(c.settings.get("load_balancer_ids", [])))]
    return {"ConfigList": [views.config_item(c) for c in found[offset: offset + (limit or 20)]],
            "TotalCount": len(found)}


async def describe_customized_config_associate_list(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    configs = await _configs(services, ctx)
    chosen = [checks.require_config(configs, params["uconfig_id"])] if params.get("uconfig_id") else configs.values()
    binds = [views.bind_item(c, lb_id) for c in chosen for lb_id in c.settings.get("load_balancer_ids", [])]
    if params.get("domain"):
        binds = [b for b in binds if params["domain"] in b["Domain"]]
    offset, limit = params.get("offset", 0), params.get("limit", 20)
    return {"BindList": binds[offset: offset + (limit or 20)], "TotalCount": len(binds)}


async def associate_customized_config(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    return await _bind_list(services, ctx, params, bound=True)


async def disassociate_customized_config(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    return await _bind_list(services, ctx, params, bound=False)


async def set_customized_config_for_load_balancer(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    operation = params["operation_type"]
    rules.check_enum("OperationType", operation, checks.OPERATIONS)
    if operation == "ADD":
        checks.require_given("ConfigName", params.get("config_name"))
        checks.require_given("ConfigContent", params.get("config_content"))
        return {"ConfigId": await _add(services, ctx, params["config_name"], "CLB", params["config_content"])}
    configs = await _configs(services, ctx)
    config = checks.require_config(configs, params.get("uconfig_id"))
    if operation == "UPDATE":
        checks.require_given("ConfigContent", params.get("config_content"))
        await _update(services, ctx, config, params.get("config_name") or config.name, params["config_content"])
    elif operation == "DELETE":
        checks.check_unbound(config)
        await services.db(queries.delete_configs, services.store, ctx.scope, [config.id])
    else:
        checks.require_given("LoadBalancerIds", params.get("load_balancer_ids"))
        binds = [{"load_balancer_id": lb_id} for lb_id in params["load_balancer_ids"]]
        await _bind(services, ctx, config, checks.check_binds_by_load_balancer(config, binds),
                    bound=operation == "BIND")
    return {"ConfigId": config.id}


# -- the shared steps -------------------------------------------------------------------


async def _configs(services: Services, ctx: RequestContext) -> dict[str, AccountObject]:
    return {c.id: c for c in await services.read(list_objects, services.store, ctx.scope, queries.KIND)}


async def _add(services: Services, ctx: RequestContext, name: str, config_type: str, content: str) -> str:
    checks.check_config_type(config_type)
    rules.check_name("ConfigName", name)
    parse(content)
    config = AccountObject(ids.customized_config_id(), ctx.app_id, ctx.region, queries.KIND, name, sortable_now(),
                           {"config_type": config_type, "content": content, "load_balancer_ids": []})
    await services.db(insert_object, services.store, config)
    return config.id


async def _update(services: Services, ctx: RequestContext, config: AccountObject, name: str, content: str) -> None:
    """New name and content; the CLBs it is bound to serve the new content (a task), others at once."""
    rules.check_name("ConfigName", name)
    parse(content)
    changed = replace(config, name=name, settings={**config.settings, "content": content, "updated_at": sortable_now()})
    bound = config.settings.get("load_balancer_ids", [])
    if not bound:
        await services.db(queries.update_config, services.store, changed)
        return
    lbs = [await require_load_balancer(services, ctx, lb_id) for lb_id in bound]
    settings = {lb.id: LoadBalancerSettings.of(lb).merged({"customized_config": content}).to_stored() for lb in lbs}
    await _write(services, ctx, changed, settings)


async def _bind_list(services: Services, ctx: RequestContext, params: dict[str, Any], bound: bool) -> dict[str, Any]:
    config = checks.require_config(await _configs(services, ctx), params["uconfig_id"])
    await _bind(services, ctx, config, checks.check_binds_by_load_balancer(config, params["bind_list"]), bound)
    return {}


async def _bind(services: Services, ctx: RequestContext, config: AccountObject, lb_ids: list[str], bound: bool) -> None:
    settings = {}
    for lb_id in lb_ids:
        lb = await require_load_balancer(services, ctx, lb_id)
        current = LoadBalancerSettings.of(lb)
        if bound:
            checks.check_bindable(lb, current.customized_config_id, config.id)
        elif current.customized_config_id != config.id:
            continue
        values = {"customized_config_id": config.id if bound else "",
                  "customized_config": config.settings["content"] if bound else ""}
        settings[lb.id] = replace(current, **values).to_stored()
    held = [i for i in config.settings.get("load_balancer_ids", []) if i not in lb_ids]
    changed = replace(config, settings={**config.settings, "load_balancer_ids": held + lb_ids if bound else held})
    if not settings:
        await services.db(queries.update_config, services.store, changed)
        return
    await _write(services, ctx, changed, settings)


async def _write(services: Services, ctx: RequestContext, config: AccountObject, settings: dict[str, dict]) -> None:
    await services.start_task(ctx, TaskKind.MODIFY_LOAD_BALANCER, list(settings),
                              lambda task: queries.write_bound(services.store, ctx.scope, config, settings, task))
