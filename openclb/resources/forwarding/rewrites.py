"""Redirects between listeners: ManualRewrite, AutoRewrite, DeleteRewrite, DescribeRewrite.

A rewrite makes a source rule (usually on HTTP) answer with a redirect to a target rule
(usually on HTTPS), as the real service does for HTTP→HTTPS. It is stored on the source
rule; the engine answers matching requests with the code and a Location on the target
listener's port. AutoRewrite creates the HTTP:80 listener and its rules when missing.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.domain.models import Listener, ProvisioningState, Rule, TaskKind
from openclb.resources.shared import checks as value_rules, ids
from openclb.resources.shared.clock import sortable_now
from openclb.context import RequestContext
from openclb.resources.shared.services import Services
from openclb.resources.forwarding.actions import write_rules
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.lookups import require_listener
from openclb.resources.forwarding.views import rule_output
from openclb.resources.listeners.queries import add_listeners
from openclb.store.transitions import PortTaken

REWRITE_CODES = (301, 302, 307)


def _with_rewrite(rule: Rule, target: dict[str, Any] | None) -> Rule:
    settings = {k: v for k, v in rule.settings.items() if k != "rewrite_target"}
    if target is not None:
        settings["rewrite_target"] = target
    return Rule(**{**rule.__dict__, "settings": settings})


async def _pair(services: Services, ctx: RequestContext, params: dict[str, Any]):
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    source = await require_listener(services, ctx, lb.id, params["source_listener_id"])
    target = await require_listener(services, ctx, lb.id, params["target_listener_id"])
    if source.protocol not in ("HTTP", "HTTPS") or target.protocol not in ("HTTP", "HTTPS"):
        raise errors.InvalidParameterValue("Rewrites apply only to HTTP/HTTPS listeners.")
    all_rules = {r.id: r for r in await services.read(services.store.rules_of, lb.id)}
    return source, target, all_rules


def _rule_of(all_rules: dict[str, Rule], location_id: str, listener: Listener, wire: str) -> Rule:
    rule = all_rules.get(location_id)
    if rule is None or rule.listener_id != listener.id:
        raise errors.InvalidParameterLocationNotFound(f"`{wire}` {location_id} is not a rule of listener {listener.id}.")
    return rule


async def manual_rewrite(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    source, target, all_rules = await _pair(services, ctx, params)
    changed = []
    for index, info in enumerate(params["rewrite_infos"]):
        wire = f"RewriteInfos.{index}."
        source_rule = _rule_of(all_rules, info["source_location_id"], source, f"{wire}SourceLocationId")
        _rule_of(all_rules, info["target_location_id"], target, f"{wire}TargetLocationId")
        code = info.get("rewrite_code") or 301
        value_rules.check_enum(f"{wire}RewriteCode", str(code), tuple(map(str, REWRITE_CODES)))
        if source_rule.settings.get("rewrite_target"):
            raise errors.InvalidParameterRewriteAlreadyExist(f"The rule {source_rule.id} already has a rewrite.")
        changed.append(_with_rewrite(source_rule, {
            "target_listener_id": target.id, "target_location_id": info["target_location_id"],
            "rewrite_code": code, "take_url": bool(info.get("take_url", False)), "rewrite_type": "Manual",
        }))
    await write_rules(services, ctx, source, changed)
    return {}


async def delete_rewrite(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    source, target, all_rules = await _pair(services, ctx, params)
    changed = []
    for index, info in enumerate(params["rewrite_infos"]):
        rule = _rule_of(all_rules, info["source_location_id"], source, f"RewriteInfos.{index}.SourceLocationId")
        current = rule.settings.get("rewrite_target") or {}
        if current.get("target_location_id") != info["target_location_id"]:
            raise errors.InvalidParameterSomeRewriteNotFound(f"The rule {rule.id} has no such rewrite.")
        changed.append(_with_rewrite(rule, None))
    await write_rules(services, ctx, source, changed)
    return {}


async def describe_rewrite(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    listener_ids = params.get("source_listener_ids") or []
    location_ids = params.get("source_location_ids") or []
    found = [
        r for r in await services.read(services.store.rules_of, lb.id)
        if r.settings.get("rewrite_target")
        and (not listener_ids or r.listener_id in listener_ids)
        and (not location_ids or r.id in location_ids)
    ]
    return {"RewriteSet": [rule_output(r) for r in found]}


def _auto_targets(https_rules: list[Rule], domain: str) -> list[Rule]:
    """AutoRewrite covers every URL of the domain on the HTTPS:443 listener, each with its own HTTP:80
    rule (the Terraform provider finds the source rule by the target rule's Domain and Url, and its
    delete_all_auto_rewrite removes every redirection of the domain)."""
    targets = [r for r in https_rules if domain in r.domains]
    if not targets:
        raise errors.InvalidParameterLocationNotFound(f"The HTTPS listener has no rule for domain {domain}.")
    return targets


async def auto_rewrite(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Redirect HTTP:80 to an HTTPS listener, per domain and URL, creating the HTTP:80 listener if needed."""
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    https = await require_listener(services, ctx, lb.id, params["listener_id"])
    if https.protocol != "HTTPS":
        raise errors.InvalidParameterValue("AutoRewrite needs an HTTPS listener.")
    all_rules = await services.read(services.store.rules_of, lb.id)
    https_rules = [r for r in all_rules if r.listener_id == https.id]
    domains = params.get("domains") or list(dict.fromkeys(d for r in https_rules for d in r.domains))
    codes, take_urls = params.get("rewrite_codes") or [], params.get("take_urls") or []
    listeners = await services.read(services.store.list_listeners, ctx.scope, lb.id)
    http = next((l for l in listeners if l.protocol == "HTTP" and l.port == 80), None)
    existing_http = [r for r in all_rules if http and r.listener_id == http.id]
    created = sortable_now()
    http_id = http.id if http else ids.listener_id()
    new_rules = []
    for index, domain in enumerate(domains):
        code = codes[index] if index < len(codes) else 301
        value_rules.check_enum(f"RewriteCodes.{index}", str(code), tuple(map(str, REWRITE_CODES)))
        for target in _auto_targets(https_rules, domain):
            source = next((r for r in existing_http if domain in r.domains and r.url == target.url), None)
            rewrite = {"target_listener_id": https.id, "target_location_id": target.id, "rewrite_code": code,
                       "take_url": bool(take_urls[index]) if index < len(take_urls) else True, "rewrite_type": "Auto"}
            base = source or Rule(ids.location_id(), ctx.app_id, ctx.region, lb.id, http_id, (domain,), target.url,
                                  created, {"be_auto_created": True,
                                            "default_server": not existing_http and not new_rules})
            new_rules.append(_with_rewrite(base, rewrite))
    if http is not None:
        await write_rules(services, ctx, http, new_rules)
        return {}
    listener = Listener(http_id, ctx.app_id, ctx.region, lb.id, "HTTP", 80, 0, "", ProvisioningState.PENDING_CREATE,
                        created, {}, ctx.request_id)
    try:
        await services.start_task(
            ctx, TaskKind.RECONCILE_LISTENERS, [lb.id],
            lambda task: add_listeners(services.store, ctx.scope, lb.id, [listener], task,
                                                      services.settings.quotas.listeners_per_clb, (), new_rules),
        )
    except PortTaken as exc:
        raise errors.InvalidParameterPortCheckFailed("Port 80 is taken by a non-HTTP listener of this CLB.") from exc
    return {}
