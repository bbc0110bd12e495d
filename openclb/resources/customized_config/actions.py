"""Customized configurations: the eight actions, over one store of configurations.

A CLB-type configuration bound to a CLB is applied to each of its HTTP/HTTPS listeners, a SERVER
one to the rules of a domain, a LOCATION one to a rule (see ``directives`` for what each directive
does); the CLB's or rules' settings carry the content they serve, so binding, unbinding and
changing a bound one's content are tasks over the CLBs they touch, and the data plane follows like
any other write.
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
from openclb.resources.forwarding.settings import RuleSettings
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared import checks as rules, ids
from openclb.resources.shared.account_objects import insert_object, list_objects
from openclb.resources.shared.clock import sortable_now
from openclb.resources.shared.lookups import require_listener, require_load_balancer
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
                  or set(filters["loadbalancer-id"]) & {*c.settings.get("load_balancer_ids", []),
                                                         *(b["load_balancer_id"] for b in c.settings.get("bindings", []))})]
    return {"ConfigList": [views.config_item(c) for c in found[offset: offset + (limit or 20)]],
            "TotalCount": len(found)}


async def describe_customized_config_associate_list(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    configs = await _configs(services, ctx)
    chosen = [checks.require_config(configs, params["uconfig_id"])] if params.get("uconfig_id") else configs.values()
    binds = [views.bind_item(c, lb_id) for c in chosen for lb_id in c.settings.get("load_balancer_ids", [])]
    for config in chosen:
        for binding in config.settings.get("bindings", []):
            binds.append(await _rule_bind_item(services, ctx, config, binding))
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


async def _rule_bind_item(services: Services, ctx: RequestContext, config: AccountObject,
                          binding: dict[str, str]) -> dict[str, Any]:
    listeners = await services.read(services.store.list_listeners, ctx.scope, binding["load_balancer_id"])
    listener = next((l for l in listeners if l.id == binding["listener_id"]), None)
    url = ""
    if binding["location_id"]:
        rules = await services.read(services.store.rules_of, binding["load_balancer_id"])
        url = next((r.url for r in rules if r.id == binding["location_id"]), "")
    return views.rule_bind_item(config, binding, listener, url)


async def _configs(services: Services, ctx: RequestContext) -> dict[str, AccountObject]:
    return {c.id: c for c in await services.read(list_objects, services.store, ctx.scope, queries.KIND)}


async def _add(services: Services, ctx: RequestContext, name: str, config_type: str, content: str) -> str:
    checks.check_config_type(config_type)
    rules.check_name("ConfigName", name)
    checks.check_level(config_type, parse(content))
    config = AccountObject(ids.customized_config_id(), ctx.app_id, ctx.region, queries.KIND, name, sortable_now(),
                           {"config_type": config_type, "content": content, "load_balancer_ids": []})
    await services.db(insert_object, services.store, config)
    return config.id


async def _update(services: Services, ctx: RequestContext, config: AccountObject, name: str, content: str) -> None:
    """New name and content; the CLBs it is bound to serve the new content (a task), others at once."""
    rules.check_name("ConfigName", name)
    checks.check_level(config.settings["config_type"], parse(content))
    changed = replace(config, name=name, settings={**config.settings, "content": content, "updated_at": sortable_now()})
    bound = config.settings.get("load_balancer_ids", [])
    lbs = [await require_load_balancer(services, ctx, lb_id) for lb_id in bound]
    settings = {lb.id: LoadBalancerSettings.of(lb).merged({"customized_config": content}).to_stored() for lb in lbs}
    rule_settings = {}
    for lb_id in dict.fromkeys(b["load_balancer_id"] for b in config.settings.get("bindings", [])):
        for rule in await services.read(services.store.rules_of, lb_id):
            current = RuleSettings.of(rule)
            if current.customized_config_id == config.id:
                rule_settings[rule.id] = (lb_id, replace(current, customized_config=content).to_stored())
    if not settings and not rule_settings:
        await services.db(queries.update_config, services.store, changed)
        return
    await _write(services, ctx, changed, settings, rule_settings)


async def _bind_list(services: Services, ctx: RequestContext, params: dict[str, Any], bound: bool) -> dict[str, Any]:
    config = checks.require_config(await _configs(services, ctx), params["uconfig_id"])
    if config.settings["config_type"] == "CLB":
        await _bind(services, ctx, config, checks.check_binds_by_load_balancer(config, params["bind_list"]), bound)
    else:
        await _bind_rules(services, ctx, config, params["bind_list"], bound)
    return {}


async def _bind_rules(services: Services, ctx: RequestContext, config: AccountObject, items: list[dict],
                      bound: bool) -> None:
    """A SERVER or LOCATION configuration onto (or off) the rules its bindings name."""
    bindings = list(config.settings.get("bindings", []))
    changes: dict[str, tuple[str, dict]] = {}
    for item in items:
        lb = await require_load_balancer(services, ctx, item["load_balancer_id"])
        checks.require_given("BindList.ListenerId", item.get("listener_id"))
        listener = await require_listener(services, ctx, lb.id, item["listener_id"])
        rules = [r for r in await services.read(services.store.rules_of, lb.id) if r.listener_id == listener.id]
        for rule in checks.rules_bound_by(config, item, rules):
            current = RuleSettings.of(rule)
            if bound:
                checks.check_bindable(lb, current.customized_config_id, config.id)
            elif current.customized_config_id != config.id:
                continue
            content = config.settings["content"] if bound else ""
            changes[rule.id] = (lb.id, replace(current, customized_config_id=config.id if bound else "",
                                               customized_config=content).to_stored())
        key = {"load_balancer_id": lb.id, "listener_id": listener.id, "domain": item.get("domain") or "",
               "location_id": item.get("location_id") or ""}
        bindings = [b for b in bindings if b != key] + ([key] if bound else [])
    changed = replace(config, settings={**config.settings, "bindings": bindings})
    if not changes:
        await services.db(queries.update_config, services.store, changed)
        return
    await _write(services, ctx, changed, {}, changes)


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


async def _write(services: Services, ctx: RequestContext, config: AccountObject, settings: dict[str, dict],
                 rule_settings: dict[str, tuple[str, dict]] | None = None) -> None:
    lb_ids = list(dict.fromkeys([*settings, *(lb_id for lb_id, _ in (rule_settings or {}).values())]))
    await services.start_task(ctx, TaskKind.MODIFY_LOAD_BALANCER, lb_ids,
                              lambda task: queries.write_bound(services.store, ctx.scope, config, settings, task,
                                                               rule_settings))
