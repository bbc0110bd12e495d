"""Layer-7 forwarding rules: CreateRule, DeleteRule, ModifyRule, ModifyDomain,
ModifyDomainAttributes.

A rule is (domain(s), URL) → real servers on an HTTP/HTTPS listener, with its own scheduler,
session persistence and health check. Domain attributes (certificate for SNI, Http2,
DefaultServer) belong to a domain and so apply to every rule of that domain. The first
domain of a listener is its default server, as on the real CLB; requests whose Host
matches no domain go there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openclb import errors
from openclb.domain.models import Listener, Rule, TaskKind
from openclb.resources.forwarding import checks as l7_rules, queries
from openclb.resources.forwarding.settings import REQUEST_MEMBERS, RuleSettings
from openclb.resources.listeners.settings import ListenerSettings
from openclb.resources.shared import ids
from openclb.resources.certificates.checks import CertificatePlan
from openclb.resources.shared.clock import sortable_now
from openclb.context import RequestContext
from openclb.resources.shared.services import Services
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.lookups import require_listener
from openclb.store.transitions import QuotaReached
from openclb.resources.target_groups.lookups import check_target_type_change



async def l7_listener(services: Services, ctx: RequestContext, params: dict[str, Any]) -> tuple[Listener, list[Rule]]:
    """The HTTP/HTTPS listener the call names, with its current rules."""
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    listener = await require_listener(services, ctx, lb.id, params["listener_id"])
    if listener.protocol not in ("HTTP", "HTTPS"):
        raise errors.InvalidParameterValue("This interface only support HTTP/HTTPS listener.")
    rules = [r for r in await services.read(services.store.rules_of, lb.id) if r.listener_id == listener.id]
    return listener, rules


async def write_rules(
    services: Services, ctx: RequestContext, listener: Listener, upserts: Sequence[Rule],
    removals: Sequence[str] = (), plan: CertificatePlan | None = None,
) -> None:
    limit = services.settings.quotas.rules_per_listener
    uploads = plan.uploads if plan else []
    try:
        await services.start_task(
            ctx, TaskKind.RECONCILE_RULES, [listener.lb_id],
            lambda task: queries.change_rules(services.store, ctx.scope, listener.lb_id, upserts, removals, task, uploads, limit),
        )
    except QuotaReached as exc:
        raise errors.LimitExceeded(f"A listener may have at most {limit} forwarding rules.") from exc


def _domain_certificate(plan: CertificatePlan, item: dict[str, Any], listener: Listener, wire: str) -> dict | None:
    """SNI listeners carry a certificate per domain; other listeners refuse one on a rule."""
    given = item.get("certificate") is not None or item.get("multi_cert_info") is not None
    sni = listener.protocol == "HTTPS" and ListenerSettings.of(listener).sni_switch == 1
    if given and not sni:
        raise errors.InvalidParameterValue(f"`{wire}Certificate` applies only to HTTPS listeners with SNI on.")
    if item.get("certificate") is not None and item.get("multi_cert_info") is not None:
        raise errors.InvalidParameterCombination(f"`{wire}Certificate` and `{wire}MultiCertInfo` cannot both be given.")
    if item.get("multi_cert_info") is not None:
        return plan.from_multi_cert_info(item["multi_cert_info"])
    if item.get("certificate") is not None:
        return plan.from_certificate_input(item["certificate"])
    return None


def _new_rules(plan: CertificatePlan, ctx: RequestContext, listener: Listener, existing: list[Rule], items) -> list[Rule]:
    made: list[Rule] = []
    has_default = any(r.settings.get("default_server") for r in existing)
    for index, item in enumerate(items):
        wire = f"Rules.{index}."
        domains = l7_rules.check_rule_input(item, listener.protocol, wire)
        settings = RuleSettings.from_request(item).to_stored()
        domain_rule = next((r for r in [*existing, *made] if set(r.domains) & set(domains)), None)
        certificate = _domain_certificate(plan, item, listener, wire)
        if certificate is None and domain_rule is not None:
            certificate = domain_rule.settings.get("certificate")
        if certificate is None and listener.protocol == "HTTPS" and ListenerSettings.of(listener).sni_switch == 1:
            raise errors.MissingParameter(f"An SNI listener needs a certificate for the domain of `{wire}`.")
        if certificate is not None:
            settings["certificate"] = certificate
        wants_default = bool(item.get("default_server")) or (not has_default and not made)
        settings["default_server"] = wants_default or bool(domain_rule and domain_rule.settings.get("default_server"))
        made.append(Rule(ids.location_id(), ctx.app_id, ctx.region, listener.lb_id, listener.id,
                         tuple(domains), item["url"], sortable_now(), settings))
    l7_rules.check_unique_rules([*existing, *made])
    return made


async def create_rule(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    listener, existing = await l7_listener(services, ctx, params)
    items = params["rules"]
    if not items:
        raise errors.InvalidParameterValue("`Rules` must contain at least one rule.")
    plan = CertificatePlan(ctx.app_id, services.store.get_certificate, services.keys)
    made = await services.db(_new_rules, plan, ctx, listener, existing, items)
    upserts = [*existing, *made]
    defaults = {d for r in made if r.settings["default_server"] for d in r.domains}
    if defaults:
        upserts = l7_rules.with_default_domains(upserts, defaults)
    await write_rules(services, ctx, listener, upserts, plan=plan)
    return {"LocationIds": [r.id for r in made]}


def _select_rules(rules: list[Rule], params: dict[str, Any]) -> list[Rule]:
    """Rules named by LocationIds, or by Domain + Url (as DeleteRule allows)."""
    location_ids = params.get("location_ids") or []
    if location_ids:
        by_id = {r.id: r for r in rules}
        missing = [i for i in location_ids if i not in by_id]
        if missing:
            raise errors.InvalidParameterLocationNotFound(f"The forwarding rules {missing} were not found.")
        return [by_id[i] for i in dict.fromkeys(location_ids)]
    if params.get("domain") is not None and params.get("url") is not None:
        found = [r for r in rules if params["domain"] in r.domains and r.url == params["url"]]
        if not found:
            raise errors.InvalidParameterLocationNotFound("No forwarding rule has that Domain and Url.")
        return found
    raise errors.MissingParameter("Give `LocationIds`, or `Domain` and `Url`.")


async def delete_rule(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    listener, rules = await l7_listener(services, ctx, params)
    doomed = _select_rules(rules, params)
    doomed_ids = {r.id for r in doomed}
    remaining = [r for r in rules if r.id not in doomed_ids]
    upserts = remaining
    if any(r.settings.get("default_server") for r in doomed):
        upserts = l7_rules.with_default_domains(
            remaining, l7_rules.replacement_default(remaining, doomed, params.get("new_default_server_domain")))
    await write_rules(services, ctx, listener, upserts, sorted(doomed_ids))
    return {}


def _find_rule(rules: list[Rule], location_id: str) -> Rule:
    for rule in rules:
        if rule.id == location_id:
            return rule
    raise errors.InvalidParameterLocationNotFound(f"The forwarding rule {location_id} was not found.")


async def modify_rule(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    listener, rules = await l7_listener(services, ctx, params)
    rule = _find_rule(rules, params["location_id"])
    settings = RuleSettings.of(rule).merged({k: params[k] for k in REQUEST_MEMBERS if params.get(k) is not None})
    await check_target_type_change(services, rule.lb_id, rule.listener_id, rule.id, RuleSettings.of(rule).target_type,
                                   settings.target_type)
    url = params.get("url") or rule.url
    l7_rules.check_rule_input({**settings.to_stored(), "url": url, "domains": list(rule.domains)}, listener.protocol, "")
    updated = Rule(**{**rule.__dict__, "url": url, "settings": settings.to_stored()})
    l7_rules.check_unique_rules([updated, *(r for r in rules if r.id != rule.id)])
    await write_rules(services, ctx, listener, [updated])
    return {}


async def modify_domain(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    listener, rules = await l7_listener(services, ctx, params)
    changed = l7_rules.renamed(rules, params["domain"], [params["new_domain"]])
    await write_rules(services, ctx, listener, changed)
    return {}


async def modify_domain_attributes(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    listener, rules = await l7_listener(services, ctx, params)
    domain = params["domain"]
    new_domains = params.get("new_domains") or ([params["new_domain"]] if params.get("new_domain") else None)
    changed = l7_rules.renamed(rules, domain, new_domains) if new_domains else [r for r in rules if domain in r.domains]
    if not changed:
        raise errors.InvalidParameterLocationNotFound(f"The domain {domain} has no forwarding rule on this listener.")
    plan = CertificatePlan(ctx.app_id, services.store.get_certificate, services.keys)
    certificate = await services.db(_domain_certificate, plan, params, listener, "")
    attributes = {k: params[k] for k in ("http2", "quic") if params.get(k) is not None}
    if certificate is not None:
        attributes["certificate"] = certificate
    changed = [Rule(**{**r.__dict__, "settings": {**r.settings, **attributes}}) for r in changed]
    merged = list({r.id: r for r in [*rules, *changed]}.values())
    if params.get("default_server") is True:
        merged = l7_rules.with_default_domains(merged, set(changed[0].domains))
    elif params.get("default_server") is False:
        merged = l7_rules.with_default_domains(
            merged, l7_rules.replacement_default(merged, changed, params.get("new_default_server_domain")))
    l7_rules.check_unique_rules(merged)
    await write_rules(services, ctx, listener, merged, plan=plan)
    return {}
