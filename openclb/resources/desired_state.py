"""A CLB's rows → the frozen desired state its engine reconciles towards (pure).

Listeners being deleted, and stopped ones (SetLoadBalancerStartStatus), are left out; listeners being created or changed are in, with their
new settings, so the engine is asked for exactly what the store will hold once the task
succeeds. Every default comes from the resources' settings types; this module only joins
rows: targets (their own, or their target group's instances) to their listener or rule,
certificates to the TLS they serve, rewrites to the listener and rule they point at, the CLB's
security groups and block list to every listener's ``AdmissionSpec``. Stored private keys are
sealed; they are opened here, with the
sealer the composition root binds in, so the engine's frozen spec carries the clear PEM it
loads and the engine itself never holds the master key.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import replace

from openclb.domain.models import Certificate, Listener, ProvisioningState, Rule, Target
from openclb.engine.spec import (
    AdmissionSpec, CertificateSpec, ListenerSpec, LoadBalancerState, RedirectSpec, RuleSpec, TargetSpec, TlsSpec,
)
from openclb.protocols import L7
from openclb.reconcile.snapshot import Snapshot
from openclb.resources.block_ips.blocklist import engine_view as blocked_clients
from openclb.resources.certificates.sealing import PrivateKeySealer
from openclb.resources.customized_config.directives import Directives, parse
from openclb.resources.forwarding.settings import RuleSettings
from openclb.resources.listeners.settings import ListenerSettings
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.security_groups.policies import admission_rules


def tls_spec(
    certificate: dict | None, certificates: Mapping[str, Certificate], keys: PrivateKeySealer
) -> TlsSpec | None:
    """A stored certificate setting → the PEMs the engine loads (server certs, and a CA for MUTUAL)."""
    if not certificate or not certificate.get("cert_id"):
        return None
    ids = [certificate["cert_id"], *certificate.get("ext_cert_ids", [])]
    servers = tuple(
        CertificateSpec(i, certificates[i].cert_pem, _private_key(certificates[i], keys))
        for i in ids if i in certificates
    )
    mutual = certificate.get("ssl_mode") == "MUTUAL" and certificate.get("cert_ca_id") in certificates
    return TlsSpec(
        certificates=servers,
        ca_pem=certificates[certificate["cert_ca_id"]].cert_pem if mutual else None,
        verify_client=(certificate.get("ssl_verify_client") or "ON") if mutual else "",
    )


def _private_key(certificate: Certificate, keys: PrivateKeySealer) -> str:
    return keys.open(certificate.id, certificate.key_pem) if certificate.key_pem else ""


def redirect_spec(rule: Rule, listeners: Mapping[str, Listener], rules: Mapping[str, Rule]) -> RedirectSpec | None:
    """A rule's rewrite → where to redirect: the target listener's scheme and port, the target rule's host/URL."""
    rewrite = RuleSettings.of(rule).rewrite_target
    if not rewrite:
        return None
    listener = listeners.get(rewrite.get("target_listener_id"))
    target_rule = rules.get(rewrite.get("target_location_id"))
    if listener is None:
        return None
    host = ""
    if target_rule is not None and not any(ch in target_rule.domains[0] for ch in "*~"):
        host = target_rule.domains[0]
    path = target_rule.url if target_rule is not None and target_rule.url.startswith("/") else "/"
    return RedirectSpec(
        code=int(rewrite.get("rewrite_code") or 301), scheme=listener.protocol.lower(), port=listener.port,
        host=host, path=path, take_url=bool(rewrite.get("take_url", False)),
    )


def _targets(targets: Iterable[Target]) -> tuple[TargetSpec, ...]:
    return tuple(TargetSpec(t.ip, t.port, t.weight) for t in targets)


def group_targets(snapshot: Snapshot) -> dict[tuple[str, str], tuple[TargetSpec, ...]]:
    """(listener id, rule id or "") → the instances of the target group associated there, with their weights.

    A listener or rule with TargetType TARGETGROUP forwards to its group's instances with its own
    scheduler, persistence and health check: the instances simply become its targets.
    """
    by_group: dict[str, list[TargetSpec]] = {}
    for instance in snapshot.group_instances:
        by_group.setdefault(instance.target_group_id, []).append(TargetSpec(instance.ip, instance.port, instance.weight))
    return {a.bound_to: tuple(by_group.get(a.target_group_id, ())) for a in snapshot.associations}


def admission_spec(snapshot: Snapshot, settings: LoadBalancerSettings, now: float) -> AdmissionSpec:
    """Who the CLB's listeners admit: its security groups' ingress policies and its block list."""
    return AdmissionSpec(rules=admission_rules(settings.security_groups, snapshot.security_groups),
                         blocked=blocked_clients(settings.blocked_ips, now),
                         client_ip_header=settings.client_ip_field)


def customized(spec: ListenerSpec, directives: Directives) -> ListenerSpec:
    """An HTTP/HTTPS listener's spec with what its CLB's customized configuration sets."""
    changes = {
        "max_body_size": directives.max_body_size, "target_response_timeout": directives.target_response_timeout,
        "client_head_timeout": directives.client_head_timeout, "idle_timeout": directives.idle_timeout,
        "tls_protocols": directives.tls_protocols, "tls_ciphers": directives.tls_ciphers,
    }
    return replace(spec, added_headers=directives.added_headers,
                   **{name: value for name, value in changes.items() if value is not None})


def desired_state(snapshot: Snapshot, keys: PrivateKeySealer) -> LoadBalancerState:
    """The CLB's state; ``keys`` opens its sealed private keys (bind it: the worker passes a snapshot)."""
    lb, certificates = snapshot.load_balancer, snapshot.certificates
    by_listener: dict[str, list[Target]] = {}
    by_rule: dict[str, list[Target]] = {}
    for target in snapshot.targets:
        (by_rule.setdefault(target.location_id, []) if target.location_id
         else by_listener.setdefault(target.listener_id, [])).append(target)
    listener_index = {l.id: l for l in snapshot.listeners}
    rule_index = {r.id: r for r in snapshot.rules}
    grouped = group_targets(snapshot)
    rule_specs: dict[str, list[RuleSpec]] = {}
    for rule in snapshot.rules:
        settings = RuleSettings.of(rule)
        spec = settings.to_spec(rule, _targets(by_rule.get(rule.id, ())) + grouped.get((rule.listener_id, rule.id), ()),
                                tls_spec(settings.certificate, certificates, keys),
                                redirect_spec(rule, listener_index, rule_index))
        if settings.customized_config:
            rule_directives = parse(settings.customized_config)
            spec = replace(spec, max_body_size=rule_directives.max_body_size or 0,
                           added_headers=rule_directives.added_headers)
        rule_specs.setdefault(rule.listener_id, []).append(spec)
    lb_settings = LoadBalancerSettings.of(lb)
    access_log, source_ips = lb_settings.access_log_spec(), lb_settings.source_ips()
    directives = parse(lb_settings.customized_config) if lb_settings.customized_config else None
    listeners = []
    admission = admission_spec(snapshot, lb_settings, time.time())
    stopped = lb_settings.stopped
    for listener in snapshot.listeners:
        settings = ListenerSettings.of(listener)
        if listener.state is ProvisioningState.PENDING_DELETE or settings.stopped or stopped:
            continue
        spec = settings.to_spec(
            listener, _targets(by_listener.get(listener.id, ())) + grouped.get((listener.id, ""), ()),
            tuple(rule_specs.get(listener.id, ())),
            tls_spec(settings.certificate, certificates, keys))
        spec = replace(spec, admission=admission, access_log=access_log, source_ips=source_ips)
        listeners.append(customized(spec, directives) if directives and listener.protocol in L7 else spec)
    return LoadBalancerState(lb.id, lb.vip, tuple(listeners))
