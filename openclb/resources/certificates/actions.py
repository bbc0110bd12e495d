"""ReplaceCertForLoadBalancers and DescribeLoadBalancerListByCertId.

A certificate is referenced by listeners (TCP_SSL, HTTPS) and by the domains of SNI
listeners. Replacing one swaps it everywhere it is used, in one task over every CLB
involved; the engine loads the new certificate into the live TLS contexts, so connections
keep flowing (new handshakes get the new certificate).
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.resources.load_balancers import views
from openclb.resources.certificates import queries
from openclb.resources.certificates.checks import CertificatePlan
from openclb.context import RequestContext
from openclb.resources.shared.services import Services
from openclb.domain.models import Listener, Rule, Scope, TaskKind


def _uses(certificate: dict | None, cert_id: str) -> bool:
    if not certificate:
        return False
    return cert_id in (certificate.get("cert_id"), certificate.get("cert_ca_id"), *certificate.get("ext_cert_ids", []))


def certificate_in_use(users: list[tuple[Listener, list[Rule]]], cert_id: str) -> bool:
    """Whether a listener or an SNI domain (``Store.certificate_users``) uses the certificate."""
    return any(_uses(listener.settings.get("certificate"), cert_id)
               or any(_uses(rule.settings.get("certificate"), cert_id) for rule in rules)
               for listener, rules in users)


def _swapped(certificate: dict, old_id: str, new: dict) -> dict:
    """The certificate settings with ``old_id`` replaced by the new server (or CA) certificate."""
    result = dict(certificate)
    if result.get("cert_ca_id") == old_id:
        result["cert_ca_id"] = new.get("cert_ca_id") or new["cert_id"]
        return result
    if result.get("cert_id") == old_id:
        result["cert_id"] = new["cert_id"]
    result["ext_cert_ids"] = [new["cert_id"] if c == old_id else c for c in result.get("ext_cert_ids", [])]
    return result


async def replace_cert_for_load_balancers(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    old_id = params["old_certificate_id"]
    old = await services.read(services.store.get_certificate, ctx.app_id, old_id)
    if old is None:
        raise errors.InvalidParameter(f"The certificate {old_id} was not found.")
    plan = CertificatePlan(ctx.app_id, services.store.get_certificate, services.keys)
    replacement = params["certificate"]
    if old.cert_type == "CA":
        new = {"cert_ca_id": await services.db(plan.ca, replacement, "Certificate.")}
        new["cert_id"] = new["cert_ca_id"]
    else:
        new = {"cert_id": (await services.db(plan.server, replacement, "Certificate."))[0]}
    listener_settings, rule_settings, lb_scopes = {}, {}, {}
    for listener, rules in await services.read(services.store.certificate_users, ctx.app_id):
        touched = False
        if _uses(listener.settings.get("certificate"), old_id):
            listener_settings[listener.id] = {**listener.settings,
                                              "certificate": _swapped(listener.settings["certificate"], old_id, new)}
            touched = True
        for rule in rules:
            if _uses(rule.settings.get("certificate"), old_id):
                rule_settings[rule.id] = {**rule.settings, "certificate": _swapped(rule.settings["certificate"], old_id, new)}
                touched = True
        if touched:
            lb_scopes.setdefault(listener.lb_id, Scope(listener.app_id, listener.region))
    await services.start_task(
        ctx, TaskKind.RECONCILE_LISTENERS, list(lb_scopes),
        lambda task: queries.replace_certificate(services.store, ctx.app_id, listener_settings, rule_settings, lb_scopes, task,
                                                        plan.uploads),
    )
    return {}


async def describe_load_balancer_list_by_cert_id(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    cert_ids = params["cert_ids"]
    if not 1 <= len(cert_ids) <= 20:
        raise errors.InvalidParameterValueLength("Between 1 and 20 `CertIds` must be given.")
    users = await services.read(services.store.certificate_users, ctx.app_id)
    load_balancers = {lb.id: lb for lb in await services.read(services.store.list_load_balancers, ctx.scope)}
    cert_set = []
    for cert_id in cert_ids:
        lb_ids = dict.fromkeys(
            listener.lb_id for listener, rules in users
            if _uses(listener.settings.get("certificate"), cert_id)
            or any(_uses(r.settings.get("certificate"), cert_id) for r in rules)
        )
        cert_set.append({"CertId": cert_id,
                         "LoadBalancers": [views.load_balancer(load_balancers[i]) for i in lb_ids if i in load_balancers]})
    return {"CertSet": cert_set}
