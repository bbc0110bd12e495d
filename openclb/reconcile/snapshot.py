"""Store rows → the frozen desired state an engine reconciles towards.

Pure: a CLB with its listener, rule, target and certificate rows in, a
``LoadBalancerState`` out. Listeners being deleted are left out; listeners being created or
changed are in, with their new settings, so the engine is asked for exactly what the store
will hold once the task succeeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from openclb.domain.models import Certificate, Listener, LoadBalancer, ProvisioningState, Rule, Target
from openclb.protocols import ListenerProtocol
from openclb.engine.spec import CertificateSpec, HealthCheckSpec, ListenerSpec, LoadBalancerState, RedirectSpec, RuleSpec, Scheduler, TargetSpec, TlsSpec

_HEALTH_FIELDS = {
    "health_switch": ("enabled", bool),
    "check_type": ("check_type", str),
    "time_out": ("timeout", int),
    "interval_time": ("interval", int),
    "health_num": ("healthy_threshold", int),
    "un_health_num": ("unhealthy_threshold", int),
    "check_port": ("check_port", int),
    "http_code": ("http_code_mask", int),
    "http_check_path": ("http_path", str),
    "http_check_domain": ("http_domain", str),
    "http_check_method": ("http_method", str),
    "http_version": ("http_version", str),
    "context_type": ("context_type", str),
    "send_context": ("send_context", str),
    "recv_context": ("recv_context", str),
}
L7 = ("HTTP", "HTTPS")


def health_check_spec(settings: dict | None, default_type: str) -> HealthCheckSpec:
    """HealthCheck settings with the documented default type (PING for UDP, TCP for TCP, HTTP on rules)."""
    values: dict = {"check_type": default_type}
    for key, value in (settings or {}).items():
        if key in _HEALTH_FIELDS and value is not None:
            name, kind = _HEALTH_FIELDS[key]
            values[name] = kind(value)
    if values.get("check_port") == -1:
        values["check_port"] = None
    return HealthCheckSpec(**values)


def tls_spec(certificate: dict | None, certificates: Mapping[str, Certificate]) -> TlsSpec | None:
    """A stored certificate setting → the PEMs the engine loads (server certs, and a CA for MUTUAL)."""
    if not certificate or not certificate.get("cert_id"):
        return None
    ids = [certificate["cert_id"], *certificate.get("ext_cert_ids", [])]
    servers = tuple(
        CertificateSpec(i, certificates[i].cert_pem, certificates[i].key_pem or "") for i in ids if i in certificates
    )
    mutual = certificate.get("ssl_mode") == "MUTUAL" and certificate.get("cert_ca_id") in certificates
    return TlsSpec(
        certificates=servers,
        ca_pem=certificates[certificate["cert_ca_id"]].cert_pem if mutual else None,
        verify_client=(certificate.get("ssl_verify_client") or "ON") if mutual else "",
    )


def certificate_ids(listeners: Iterable[Listener], rules: Iterable[Rule]) -> set[str]:
    """Every certificate id the listeners and rules of one CLB refer to."""
    found: set[str] = set()
    for settings in [*(l.settings for l in listeners), *(r.settings for r in rules)]:
        certificate = settings.get("certificate") or {}
        found.update(i for i in (certificate.get("cert_id"), certificate.get("cert_ca_id")) if i)
        found.update(certificate.get("ext_cert_ids", []))
    return found


def _targets(targets: Iterable[Target]) -> tuple[TargetSpec, ...]:
    return tuple(TargetSpec(t.ip, t.port, t.weight) for t in targets)


def redirect_spec(rule: Rule, listeners: Mapping[str, Listener], rules: Mapping[str, Rule]) -> RedirectSpec | None:
    """A rule's rewrite → where to redirect: the target listener's scheme and port, the target rule's host/URL."""
    rewrite = rule.settings.get("rewrite_target")
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


def rule_spec(rule: Rule, targets: Iterable[Target], certificates: Mapping[str, Certificate],
              redirect: RedirectSpec | None) -> RuleSpec:
    s = rule.settings
    return RuleSpec(
        location_id=rule.id,
        domains=rule.domains,
        url=rule.url,
        targets=_targets(targets),
        scheduler=Scheduler(s.get("scheduler") or "WRR"),
        health_check=health_check_spec(s.get("health_check"), "HTTP"),
        session_expire_time=int(s.get("session_expire_time") or 0),
        cookie_name=s.get("cookie_name") or "",
        forward_type=s.get("forward_type") or "HTTP",
        default_server=bool(s.get("default_server")),
        http2=bool(s.get("http2")),
        tls=tls_spec(s.get("certificate"), certificates),
        redirect=redirect,
    )


def listener_spec(
    listener: Listener, targets: Iterable[Target] = (), rules: Iterable[RuleSpec] = (),
    certificates: Mapping[str, Certificate] | None = None,
) -> ListenerSpec:
    settings = listener.settings
    datagram = listener.protocol in ("UDP", "QUIC")
    tls = None if settings.get("ssl_close_switch") else tls_spec(settings.get("certificate"), certificates or {})
    return ListenerSpec(
        listener_id=listener.id,
        protocol=ListenerProtocol(listener.protocol),
        port=listener.port,
        end_port=listener.end_port,
        scheduler=Scheduler(settings.get("scheduler") or "WRR"),
        targets=_targets(t for t in targets if not t.location_id),
        health_check=health_check_spec(settings.get("health_check"), "PING" if datagram else "TCP"),
        session_expire_time=int(settings.get("session_expire_time") or 0),
        session_type=settings.get("session_type") or "NORMAL",
        max_conn=int(settings["max_conn"]) if settings.get("max_conn") is not None else -1,
        max_cps=int(settings["max_cps"]) if settings.get("max_cps") is not None else -1,
        idle_timeout=int(settings.get("idle_connect_timeout") or (300 if datagram else 900)),
        deregister_target_rst=bool(settings.get("deregister_target_rst")),
        tls=tls,
        sni=bool(settings.get("sni_switch")),
        rules=tuple(rules),
        keepalive=bool(settings.get("keepalive_enable")),
        proxy_protocol=bool(settings.get("proxy_protocol")),
    )


def load_balancer_state(
    lb: LoadBalancer, listeners: Iterable[Listener], targets: Iterable[Target] = (),
    rules: Iterable[Rule] = (), certificates: Mapping[str, Certificate] | None = None,
) -> LoadBalancerState:
    listeners, targets, rules = list(listeners), list(targets), list(rules)
    certificates = certificates or {}
    by_listener: dict[str, list[Target]] = {}
    by_rule: dict[str, list[Target]] = {}
    for target in targets:
        (by_rule.setdefault(target.location_id, []) if target.location_id
         else by_listener.setdefault(target.listener_id, [])).append(target)
    listener_index = {l.id: l for l in listeners}
    rule_index = {r.id: r for r in rules}
    rule_specs: dict[str, list[RuleSpec]] = {}
    for rule in rules:
        spec = rule_spec(rule, by_rule.get(rule.id, ()), certificates, redirect_spec(rule, listener_index, rule_index))
        rule_specs.setdefault(rule.listener_id, []).append(spec)
    serving = (l for l in listeners if l.state is not ProvisioningState.PENDING_DELETE)
    return LoadBalancerState(lb.id, lb.vip, tuple(
        listener_spec(l, by_listener.get(l.id, ()), rule_specs.get(l.id, ()), certificates) for l in serving
    ))
