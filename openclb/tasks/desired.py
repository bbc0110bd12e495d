"""Store rows → the frozen desired state an engine reconciles towards.

Pure: a CLB and its listener rows in, a ``LoadBalancerState`` out. Listeners being deleted
are left out; listeners being created or changed are in, with their new settings, so the
engine is asked for exactly what the store will hold once the task succeeds.
"""

from __future__ import annotations

from collections.abc import Iterable

from openclb.domain.models import Listener, LoadBalancer, ProvisioningState, Target
from openclb.engine.desired import HealthCheckSpec, ListenerSpec, LoadBalancerState, Protocol, Scheduler, TargetSpec

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


def health_check_spec(settings: dict | None, protocol: str) -> HealthCheckSpec:
    """The listener's HealthCheck with the per-protocol default type: PING for UDP/QUIC, else TCP."""
    values: dict = {"check_type": "PING" if protocol in ("UDP", "QUIC") else "TCP"}
    for key, value in (settings or {}).items():
        if key in _HEALTH_FIELDS and value is not None:
            name, kind = _HEALTH_FIELDS[key]
            values[name] = kind(value)
    if values.get("check_port") == -1:
        values["check_port"] = None
    return HealthCheckSpec(**values)


def listener_spec(listener: Listener, targets: Iterable[Target] = ()) -> ListenerSpec:
    settings = listener.settings
    return ListenerSpec(
        listener_id=listener.id,
        protocol=Protocol(listener.protocol),
        port=listener.port,
        end_port=listener.end_port,
        scheduler=Scheduler(settings.get("scheduler") or "WRR"),
        targets=tuple(TargetSpec(t.ip, t.port, t.weight) for t in targets if not t.location_id),
        health_check=health_check_spec(settings.get("health_check"), listener.protocol),
        session_expire_time=int(settings.get("session_expire_time") or 0),
        session_type=settings.get("session_type") or "NORMAL",
        max_conn=int(settings.get("max_conn", -1) if settings.get("max_conn") is not None else -1),
        max_cps=int(settings.get("max_cps", -1) if settings.get("max_cps") is not None else -1),
        idle_timeout=int(settings.get("idle_connect_timeout") or (300 if listener.protocol in ("UDP", "QUIC") else 900)),
        deregister_target_rst=bool(settings.get("deregister_target_rst")),
    )


def load_balancer_state(
    lb: LoadBalancer, listeners: Iterable[Listener], targets: Iterable[Target] = ()
) -> LoadBalancerState:
    by_listener: dict[str, list[Target]] = {}
    for target in targets:
        by_listener.setdefault(target.listener_id, []).append(target)
    serving = (l for l in listeners if l.state is not ProvisioningState.PENDING_DELETE)
    return LoadBalancerState(lb.id, lb.vip, tuple(listener_spec(l, by_listener.get(l.id, ())) for l in serving))
